/**
 * The archive identity of the machine an agent runs on, from /etc/os-release and uname.
 *
 * os-release is trusted first: its ID and VERSION_ID are the archive's distro and release once
 * aliased (rhel 8.6 → rhel/8, amzn 2018.03 → amzn/1). The kernel release is the fallback when
 * os-release is missing, names a distribution the archive lacks, or contradicts the kernel:
 * an agent in a Debian container on an Amazon Linux host reads Debian's os-release but runs
 * Amazon's kernel, and the kernel is what needs BTF. Every such decision is explained in
 * `notes`.
 */
import type { KernelRef } from '../catalog/catalog.js';
import {
  type Distro,
  DISTROS,
  IdentityError,
  normalizeArch,
  normalizeDistro,
  normalizeDistroVersion,
  normalizeKernelRelease,
  RELEASE_ALIASES,
} from './kernel-identity.js';
import { kernelReleaseHint, type KernelReleaseHint } from './kernel-release.js';

/**
 * Parses os-release(5): `KEY=value` lines, '#' comment lines and blank lines ignored, values
 * optionally in single or double quotes with shell-style backslash escapes. A later
 * assignment of a key wins. Lines that are not assignments are skipped, as the spec asks of
 * readers.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const fields = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!assignment) continue;
    fields.set(assignment[1] as string, shellWord(assignment[2] as string));
  }
  // fromEntries defines own properties, so even a key named __proto__ stays plain data.
  return Object.fromEntries(fields);
}

/** Characters a backslash escapes inside double quotes, as in POSIX sh. */
const DOUBLE_QUOTE_ESCAPABLE = '$`"\\';

/** The value of one shell word: quotes removed, escapes resolved, ended by unquoted blanks. */
function shellWord(raw: string): string {
  let value = '';
  let i = 0;
  while (i < raw.length) {
    const char = raw.charAt(i);
    if (char === "'") {
      // Single quotes: everything literal up to the next single quote.
      const end = raw.indexOf("'", i + 1);
      value += raw.slice(i + 1, end === -1 ? raw.length : end);
      i = end === -1 ? raw.length : end + 1;
    } else if (char === '"') {
      i++;
      while (i < raw.length && raw.charAt(i) !== '"') {
        const next = raw.charAt(i + 1);
        if (raw.charAt(i) === '\\' && next !== '' && DOUBLE_QUOTE_ESCAPABLE.includes(next)) {
          value += next;
          i += 2;
        } else {
          value += raw.charAt(i);
          i++;
        }
      }
      i++; // the closing quote (or past the end of an unterminated one)
    } else if (char === '\\') {
      value += raw.charAt(i + 1);
      i += 2;
    } else if (char === ' ' || char === '\t') {
      break; // an unquoted blank ends the word; what follows is not part of the value
    } else {
      value += char;
      i++;
    }
  }
  return value;
}

export interface HostFacts {
  /** Contents of /etc/os-release (or /usr/lib/os-release), or null when neither exists. */
  osRelease: string | null;
  /** `uname -r` */
  unameRelease: string;
  /** `uname -m` */
  unameMachine: string;
}

export interface HostIdentity {
  ref: KernelRef;
  /** Which source named the distro and release. */
  source: 'os-release' | 'kernel-release';
  /** Why, when anything was guessed, ignored or ambiguous. Empty when os-release simply applied. */
  notes: string[];
}

/**
 * The archive identity of a host, or an IdentityError when the distribution or its release
 * cannot be determined (the message says what was found and what to provide).
 */
export function hostIdentityFromOsRelease(facts: HostFacts): HostIdentity {
  const arch = normalizeArch(facts.unameMachine);
  const kernel = normalizeKernelRelease(facts.unameRelease);
  const hint = kernelReleaseHint(kernel);
  const notes: string[] = [];

  const os = facts.osRelease === null ? null : distroFromOsRelease(parseOsRelease(facts.osRelease), notes);
  if (facts.osRelease === null) notes.push('no os-release file');

  if (os?.version !== undefined) {
    if (hint === null || agrees(os.distro, os.version, hint)) {
      return { ref: { distro: os.distro, distroVersion: os.version, arch, kernel }, source: 'os-release', notes };
    }
    notes.push(
      `os-release says ${os.distro} ${os.version}, but ${kernel} is ${hint.description}: ` +
        'is the os-release a container’s rather than the host’s? Following the kernel release',
    );
  }

  if (hint === null) {
    throw new IdentityError(
      'distro',
      [...notes, `cannot determine the distribution: kernel release ${kernel} matches no known distribution kernel`].join('; '),
    );
  }
  if (hint.version === undefined) {
    throw new IdentityError(
      'distro_version',
      [
        ...notes,
        `${kernel} is ${hint.description}, but its release cannot be told from the kernel release: ` +
          'provide the host’s /etc/os-release or the distro version',
      ].join('; '),
    );
  }

  // Keep os-release's distro when this kernel is also published under it (rhel, ol for .el8).
  const distro = os !== null && hint.distros.includes(os.distro) ? os.distro : hint.distros[0];
  const version = normalizeDistroVersion(distro, hint.version);
  if (hint.distros.length > 1 && distro !== os?.distro) {
    notes.push(
      `${hint.description} is published in the archive under ` +
        `${hint.distros.map((d) => `${d}/${version}`).join(', ')}; chose ${distro} (give the distro explicitly to pick another)`,
    );
  }
  notes.push(
    `${distro} ${version} from the kernel release ${kernel}` + (hint.versionCertain ? '' : ' (release inferred from the kernel version)'),
  );
  return { ref: { distro, distroVersion: version, arch, kernel }, source: 'kernel-release', notes };
}

/** Whether os-release's identity fits the kernel: same distro family and, if certain, release. */
function agrees(distro: Distro, version: string, hint: KernelReleaseHint): boolean {
  if (!hint.distros.includes(distro)) return false;
  return !hint.versionCertain || hint.version === undefined || normalizeDistroVersion(distro, hint.version) === version;
}

/**
 * The archive distro and release os-release names; null (with a note) when ID is missing or
 * not a distro the archive has; version undefined (with a note) when os-release has no release.
 */
function distroFromOsRelease(fields: Record<string, string>, notes: string[]): { distro: Distro; version: string | undefined } | null {
  const id = fields.ID;
  let distro: Distro;
  try {
    distro = normalizeDistro(id);
  } catch {
    const like = fields.ID_LIKE ? ` (ID_LIKE ${JSON.stringify(fields.ID_LIKE)})` : '';
    notes.push(
      id === undefined
        ? 'os-release has no ID'
        : `os-release ID ${JSON.stringify(id)}${like} is not a distro the archive has (${Object.keys(DISTROS).join(', ')})`,
    );
    return null;
  }
  if (fields.VERSION_ID !== undefined && fields.VERSION_ID !== '') {
    return { distro, version: normalizeDistroVersion(distro, fields.VERSION_ID) };
  }
  // Rolling and testing releases (Debian testing/sid) have no VERSION_ID; a codename the
  // tables know still names the release.
  const codename = fields.VERSION_CODENAME?.toLowerCase();
  const byCodename =
    codename !== undefined && Object.hasOwn(RELEASE_ALIASES[distro], codename) ? RELEASE_ALIASES[distro][codename] : undefined;
  if (byCodename !== undefined) {
    notes.push(`os-release has no VERSION_ID; release ${byCodename} from VERSION_CODENAME ${codename}`);
    return { distro, version: byCodename };
  }
  notes.push(`os-release (${distro}) has no VERSION_ID${codename ? ` and VERSION_CODENAME ${codename} is not known` : ''}`);
  return { distro, version: undefined };
}
