/**
 * The archive identity of the host an agent runs on, read from a filesystem root and
 * resolved with the rules of os-release.ts, with overrides for every input.
 *
 * Where the facts come from, under `root` ('/' by default; `--root /host` when the host's
 * filesystem is mounted into a container there):
 *
 *   os-release      the first of <root>/host/etc/os-release, <root>/host/usr/lib/os-release,
 *                   <root>/etc/os-release, <root>/usr/lib/os-release. The /host pair comes
 *                   first: a container that mounts the host's root at /host (the usual
 *                   convention of eBPF agents' DaemonSets) sees its own image's os-release at
 *                   /etc, and the image is not the kernel's distribution. A symlink with an
 *                   absolute target is followed under `root`, not in this process's view
 *   kernel release  <root>/proc/sys/kernel/osrelease (what `uname -r` prints), else uname -r
 *   machine         uname -m (a container shares its host's kernel and machine)
 *
 * `resolveHostIdentity` is also what POST /api/v1/identity runs, so an agent written in
 * another language gets the same answer by sending its os-release text and uname.
 */
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { machine, release } from 'node:os';
import { join } from 'node:path';
import type { KernelRef } from '../catalog/catalog.js';
import {
  type Distro,
  IdentityError,
  normalizeArch,
  normalizeDistro,
  normalizeDistroVersion,
  normalizeKernelRef,
  normalizeKernelRelease,
} from './kernel-identity.js';
import { kernelReleaseHint } from './kernel-release.js';
import { hostIdentityFromOsRelease, parseOsRelease, type HostFacts } from './os-release.js';

/** os-release locations relative to the root, in the order they are tried. */
export const OS_RELEASE_PATHS = ['host/etc/os-release', 'host/usr/lib/os-release', 'etc/os-release', 'usr/lib/os-release'] as const;

/** Where the kernel publishes its release (the same string as `uname -r`). */
export const KERNEL_RELEASE_PATH = 'proc/sys/kernel/osrelease';

/** os-release is a few hundred bytes; anything far larger is not one. */
const MAX_OS_RELEASE_BYTES = 64 * 1024;
const MAX_SYMLINKS = 8;

export interface HostProbeOptions {
  /** The host's filesystem root: '/' (default), or where it is mounted (`/host`), or a test's fake root. */
  root?: string;
  /** `uname -r` when <root>/proc/sys/kernel/osrelease is not readable; os.release() by default. */
  unameRelease?: () => string;
  /** `uname -m`; os.machine() by default. */
  unameMachine?: () => string;
}

/** HostFacts plus where each came from, for notes and reports. */
export interface HostFactsFound extends HostFacts {
  /** The os-release file read (as a path under the root, e.g. `/host/etc/os-release`), or null. */
  osReleasePath: string | null;
  /** Where the kernel release came from: `/proc/sys/kernel/osrelease` (under the root) or `uname`. */
  kernelReleaseSource: string;
}

/** Values that replace what the host says: CLI flags, or the fields of POST /api/v1/identity. */
export interface HostOverrides {
  distro?: string | undefined;
  distroVersion?: string | undefined;
  arch?: string | undefined;
  kernel?: string | undefined;
}

export interface ResolvedHostIdentity {
  ref: KernelRef;
  /**
   * What named the distro and release: os-release, the kernel release (os-release missing,
   * unknown or contradicted), or the overrides (both distro and release given).
   */
  source: 'os-release' | 'kernel-release' | 'override';
  /** Every guess, fallback and override, in the order they were made. */
  notes: string[];
  /** The os-release file that was read (null when none was found or none was needed). */
  osReleasePath: string | null;
}

/** Reads os-release and the kernel release under `root`. Missing files are facts, not errors. */
export async function readHostFacts(options: HostProbeOptions = {}): Promise<HostFactsFound> {
  const root = options.root ?? '/';
  let osRelease: string | null = null;
  let osReleasePath: string | null = null;
  for (const candidate of OS_RELEASE_PATHS) {
    const text = await readUnderRoot(root, candidate, MAX_OS_RELEASE_BYTES);
    if (text !== null) {
      osRelease = text;
      osReleasePath = `/${candidate}`;
      break;
    }
  }
  const proc = await readUnderRoot(root, KERNEL_RELEASE_PATH, 4096);
  const procRelease = proc?.trim();
  const unameRelease = procRelease ? procRelease : (options.unameRelease ?? release)();
  return {
    osRelease,
    osReleasePath,
    unameRelease,
    unameMachine: (options.unameMachine ?? machine)(),
    kernelReleaseSource: procRelease ? `/${KERNEL_RELEASE_PATH}` : 'uname',
  };
}

/**
 * The archive identity of a host from its facts and the overrides. Overrides win field by
 * field: `arch` and `kernel` replace uname's; `distro` and `distroVersion` together replace
 * detection; one of them alone keeps detection for the other where it can (a given distro
 * takes its release from os-release or the kernel release when either names it). Throws an
 * IdentityError naming the field that could not be determined, with every note so far.
 */
export function resolveHostIdentity(
  facts: HostFacts & { osReleasePath?: string | null },
  overrides: HostOverrides = {},
): ResolvedHostIdentity {
  const notes: string[] = [];
  const given = (value: string | undefined): value is string => value !== undefined && value !== '';
  if (given(overrides.arch)) notes.push(`arch ${overrides.arch} given (the host says ${facts.unameMachine})`);
  if (given(overrides.kernel)) notes.push(`kernel ${overrides.kernel} given (the host says ${facts.unameRelease})`);
  const arch = normalizeArch(given(overrides.arch) ? overrides.arch : facts.unameMachine);
  const kernel = normalizeKernelRelease(given(overrides.kernel) ? overrides.kernel : facts.unameRelease);
  const osReleasePath = facts.osRelease === null ? null : (facts.osReleasePath ?? null);

  if (given(overrides.distro) && given(overrides.distroVersion)) {
    const ref = normalizeKernelRef({ distro: overrides.distro, distroVersion: overrides.distroVersion, arch, kernel });
    notes.push(`distro ${ref.distro} and release ${ref.distroVersion} given`);
    return { ref, source: 'override', notes, osReleasePath: null };
  }
  if (osReleasePath?.startsWith('/host/')) notes.push(`os-release from ${osReleasePath} (the host's, mounted into this container)`);

  let detected: ReturnType<typeof hostIdentityFromOsRelease> | undefined;
  let failure: IdentityError | undefined;
  try {
    detected = hostIdentityFromOsRelease({ osRelease: facts.osRelease, unameRelease: kernel, unameMachine: arch });
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    failure = err;
  }

  if (given(overrides.distro)) {
    const distro = normalizeDistro(overrides.distro);
    const version = releaseFor(distro, detected, facts.osRelease, kernel, notes);
    if (version === undefined) {
      throw new IdentityError(
        'distro_version',
        [
          ...notes,
          `distro ${distro} given, but neither os-release nor the kernel release ${kernel} names its release: give the release too`,
        ].join('; '),
      );
    }
    notes.push(`distro ${distro} given`);
    return { ref: { distro, distroVersion: version, arch, kernel }, source: 'override', notes, osReleasePath };
  }

  if (given(overrides.distroVersion)) {
    const distro = detected !== undefined ? normalizeDistro(detected.ref.distro) : distroWithoutRelease(facts.osRelease, kernel);
    if (distro === undefined) {
      throw failure ?? new IdentityError('distro', `release ${overrides.distroVersion} given, but the distribution cannot be determined`);
    }
    const version = normalizeDistroVersion(distro, overrides.distroVersion);
    if (detected !== undefined) notes.push(...detected.notes);
    notes.push(
      `release ${version} given (distro ${distro} ${detected === undefined ? 'from os-release or the kernel release' : `from the ${detected.source}`})`,
    );
    return { ref: { distro, distroVersion: version, arch, kernel }, source: 'override', notes, osReleasePath };
  }

  if (detected === undefined) {
    if (notes.length > 0 && failure !== undefined)
      throw new IdentityError(failure.field, `${notes.join('; ')}; ${failure.message.replace(/^[a-z_]+: /, '')}`);
    throw failure as IdentityError;
  }
  return { ref: detected.ref, source: detected.source, notes: [...notes, ...detected.notes], osReleasePath };
}

/** Reads the host's facts under `options.root`, then resolves them with `overrides`. */
export async function detectHostIdentity(options: HostProbeOptions & { overrides?: HostOverrides } = {}): Promise<ResolvedHostIdentity> {
  const overrides = options.overrides ?? {};
  const facts = await readHostFacts(options);
  const resolved = resolveHostIdentity(facts, overrides);
  if (facts.kernelReleaseSource !== 'uname' && (options.root ?? '/') !== '/' && !overrides.kernel) {
    resolved.notes.unshift(`kernel release from ${facts.kernelReleaseSource} under ${options.root}`);
  }
  return resolved;
}

/** `distro`'s release when the host names it: detection for that distro, the kernel release, or os-release. */
function releaseFor(
  distro: Distro,
  detected: ReturnType<typeof hostIdentityFromOsRelease> | undefined,
  osRelease: string | null,
  kernel: string,
  notes: string[],
): string | undefined {
  if (detected !== undefined && detected.ref.distro === distro) {
    notes.push(...detected.notes, `release ${detected.ref.distroVersion} from the ${detected.source}`);
    return detected.ref.distroVersion;
  }
  const hint = kernelReleaseHint(kernel);
  if (hint?.version !== undefined && hint.distros.includes(distro)) {
    const version = normalizeDistroVersion(distro, hint.version);
    notes.push(`release ${version} from the kernel release: ${kernel} is ${hint.description}`);
    return version;
  }
  const fields = osRelease === null ? {} : parseOsRelease(osRelease);
  if (sameDistro(fields.ID, distro) && fields.VERSION_ID) {
    const version = normalizeDistroVersion(distro, fields.VERSION_ID);
    notes.push(`release ${version} from os-release VERSION_ID`);
    return version;
  }
  return undefined;
}

/** The distro os-release or the kernel release names, even when neither names its release. */
function distroWithoutRelease(osRelease: string | null, kernel: string): Distro | undefined {
  const id = osRelease === null ? undefined : parseOsRelease(osRelease).ID;
  if (id !== undefined) {
    try {
      return normalizeDistro(id);
    } catch {
      // not an archive distro: try the kernel
    }
  }
  return kernelReleaseHint(kernel)?.distros[0];
}

function sameDistro(id: string | undefined, distro: Distro): boolean {
  if (id === undefined) return false;
  try {
    return normalizeDistro(id) === distro;
  } catch {
    return false;
  }
}

/**
 * The contents of `relative` under `root`, or null when it does not exist, is not a regular
 * file, cannot be read or is larger than `maxBytes`.
 */
async function readUnderRoot(root: string, relative: string, maxBytes: number): Promise<string | null> {
  const path = await resolveUnderRoot(root, relative);
  if (path === null) return null;
  try {
    const info = await stat(path);
    if (!info.isFile() || info.size > maxBytes) return null;
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * `relative` resolved component by component with `root` as `/`: a symlink's absolute
 * target (`/etc/os-release -> /usr/lib/os-release`) and any `..` stay inside `root`, as
 * they would for a process chrooted there, instead of escaping to this process's files.
 * Null when a component is missing or there are more than MAX_SYMLINKS links.
 */
async function resolveUnderRoot(root: string, relative: string): Promise<string | null> {
  let pending = relative.split('/').filter((part) => part !== '');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const onDisk = join(root, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(onDisk)).isSymbolicLink();
    } catch {
      return null;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) return null;
    let target: string;
    try {
      target = await readlink(onDisk);
    } catch {
      return null;
    }
    if (target.startsWith('/')) resolved = [];
    pending = [...target.split('/').filter((p) => p !== ''), ...pending];
  }
  return join(root, ...resolved);
}
