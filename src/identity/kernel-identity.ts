/**
 * Normalizes a kernel identity (distro, distro version, arch, kernel release) to the names the
 * BTFHub archive uses in its `<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz` layout.
 * Every API route and the CLI go through here, so the same request always means the same
 * storage key, and nothing from a request reaches a key or a query without passing the strict
 * checks below.
 *
 * Two steps per field:
 *   1. strict validation: a trimmed, non-empty string of at most 64 characters (128 for the
 *      kernel release) drawn from [A-Za-z0-9._+~-], with no '..' and not starting with '.' or
 *      '-'. This alone makes every field safe as a path segment;
 *   2. aliasing to the archive's names, from the tables exported below (docs/IDENTITY.md
 *      renders them; /api/v1/identity serves them).
 */
import type { KernelRef } from '../catalog/catalog.js';

/** Request field names, as the HTTP API spells them. */
export type IdentityField = 'distro' | 'distro_version' | 'arch' | 'kernel_version';

/** A rejected identity: `field` says which input, the message says what is wrong with it. */
export class IdentityError extends Error {
  /** Always a client error: Fastify's error handler answers with this status. */
  readonly statusCode = 400;

  constructor(
    readonly field: IdentityField,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'IdentityError';
  }
}

/** Architectures the archive has, by their archive names. */
export const ARCHES = ['x86_64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

/** Accepted spellings of each architecture (lowercase), canonical names included. */
export const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  'x86-64': 'x86_64',
  x64: 'x86_64',
  arm64: 'arm64',
  aarch64: 'arm64',
  arm64v8: 'arm64',
};

export interface DistroInfo {
  /** Human name, for docs and messages. */
  name: string;
  /** Other accepted spellings (lowercase); the id itself is always accepted. */
  aliases: readonly string[];
}

/** Distributions by their archive id (the first path segment), which is also their os-release ID. */
export const DISTROS = {
  amzn: { name: 'Amazon Linux', aliases: ['amazon', 'amazonlinux'] },
  centos: { name: 'CentOS', aliases: [] },
  debian: { name: 'Debian', aliases: [] },
  fedora: { name: 'Fedora', aliases: [] },
  ol: { name: 'Oracle Linux', aliases: ['oracle', 'oraclelinux'] },
  rhel: { name: 'Red Hat Enterprise Linux', aliases: ['redhat'] },
  sles: { name: 'SUSE Linux Enterprise Server', aliases: ['suse'] },
  ubuntu: { name: 'Ubuntu', aliases: [] },
} as const satisfies Record<string, DistroInfo>;
export type Distro = keyof typeof DISTROS;

const DISTRO_BY_ALIAS: ReadonlyMap<string, Distro> = new Map(
  (Object.entries(DISTROS) as [Distro, DistroInfo][]).flatMap(([id, info]) => [
    [id, id] as const,
    ...info.aliases.map((alias) => [alias, id] as const),
  ]),
);

/**
 * Release names that stand for an archive version, per distro (keys lowercase). The archive
 * names releases by number: ubuntu/20.04, debian/11, centos/8, amzn/2, sles/15.3.
 */
export const RELEASE_ALIASES: Readonly<Record<Distro, Readonly<Record<string, string>>>> = {
  ubuntu: {
    trusty: '14.04',
    xenial: '16.04',
    yakkety: '16.10',
    zesty: '17.04',
    artful: '17.10',
    bionic: '18.04',
    cosmic: '18.10',
    disco: '19.04',
    eoan: '19.10',
    focal: '20.04',
    groovy: '20.10',
    hirsute: '21.04',
    impish: '21.10',
    jammy: '22.04',
    kinetic: '22.10',
    lunar: '23.04',
    mantic: '23.10',
    noble: '24.04',
    oracular: '24.10',
    plucky: '25.04',
    questing: '25.10',
  },
  debian: {
    jessie: '8',
    stretch: '9',
    buster: '10',
    bullseye: '11',
    bookworm: '12',
    trixie: '13',
  },
  amzn: {
    // The Amazon Linux AMI (2011.09 to 2018.03, see RELEASE_RULES) is "1" in the archive.
    al1: '1',
    al2: '2',
    amzn2: '2',
    al2023: '2023',
  },
  centos: {},
  fedora: {},
  ol: {},
  rhel: {},
  sles: {},
};

export interface ReleaseRule {
  distros: readonly Distro[];
  pattern: RegExp;
  /** `String.replace` replacement for the whole match. */
  replacement: string;
  /** One line for docs, with an example. */
  description: string;
}

/** Pattern rules, tried after RELEASE_ALIASES; the first matching rule applies. */
export const RELEASE_RULES: readonly ReleaseRule[] = [
  {
    distros: ['centos', 'rhel', 'ol'],
    pattern: /^(\d+)(?:\.\d+)+$/,
    replacement: '$1',
    description: 'the archive keeps one directory per major release: 8.6 → 8, 7.9.2009 → 7',
  },
  {
    distros: ['debian'],
    pattern: /^(\d+)\.\d+$/,
    replacement: '$1',
    description: 'point releases are the major release: 11.7 → 11',
  },
  {
    distros: ['ubuntu'],
    pattern: /^(\d\d\.\d\d)\.\d+$/,
    replacement: '$1',
    description: 'point releases are the release: 22.04.3 → 22.04',
  },
  {
    distros: ['amzn'],
    pattern: /^20(?:1[1-8])(?:\.\d\d)?$/,
    replacement: '1',
    description: 'Amazon Linux AMI versions are release 1: 2018.03 → 1, 2018 → 1',
  },
  {
    distros: ['sles'],
    pattern: /^(\d+)-sp(\d+)$/,
    replacement: '$1.$2',
    description: 'service packs are minor versions: 15-SP4 → 15.4',
  },
];

/** Anything outside [A-Za-z0-9._+~-]: the one character set every field is drawn from. */
const UNSAFE_CHARACTER = /[^A-Za-z0-9._+~-]/u;
const MAX_LENGTH: Readonly<Record<IdentityField, number>> = {
  distro: 64,
  distro_version: 64,
  arch: 64,
  kernel_version: 128,
};

/** Step 1: the checks that make any value safe as a path segment and a query parameter. */
export function validateIdentityValue(field: IdentityField, value: unknown): string {
  if (typeof value !== 'string') throw new IdentityError(field, `must be a string, got ${describe(value)}`);
  const trimmed = value.trim();
  if (trimmed === '') throw new IdentityError(field, 'must not be empty');
  const max = MAX_LENGTH[field];
  if (trimmed.length > max) {
    throw new IdentityError(field, `must be at most ${max} characters, got ${trimmed.length}`);
  }
  const unsafe = UNSAFE_CHARACTER.exec(trimmed);
  if (unsafe) {
    throw new IdentityError(
      field,
      `may only contain letters, digits and . _ + ~ - (found ${JSON.stringify(unsafe[0])} at ${unsafe.index})`,
    );
  }
  if (trimmed.includes('..')) throw new IdentityError(field, "must not contain '..'");
  if (trimmed.startsWith('.') || trimmed.startsWith('-')) {
    throw new IdentityError(field, "must not start with '.' or '-'");
  }
  return trimmed;
}

export function normalizeArch(value: unknown): Arch {
  const given = validateIdentityValue('arch', value);
  // Own properties only: "constructor" or "__proto__" must not find Object.prototype members.
  const key = given.toLowerCase();
  const arch = Object.hasOwn(ARCH_ALIASES, key) ? ARCH_ALIASES[key] : undefined;
  if (arch === undefined) {
    throw new IdentityError(
      'arch',
      `${JSON.stringify(given)} is not supported; accepted: ${ARCHES.join(', ')} ` +
        `(also ${Object.keys(ARCH_ALIASES)
          .filter((alias) => !(ARCHES as readonly string[]).includes(alias))
          .join(', ')})`,
    );
  }
  return arch;
}

export function normalizeDistro(value: unknown): Distro {
  const given = validateIdentityValue('distro', value);
  const distro = DISTRO_BY_ALIAS.get(given.toLowerCase());
  if (distro === undefined) {
    const aliases = (Object.values(DISTROS) as DistroInfo[]).flatMap((info) => info.aliases);
    throw new IdentityError(
      'distro',
      `${JSON.stringify(given)} is not supported; accepted: ${Object.keys(DISTROS).join(', ')} ` + `(also ${aliases.join(', ')})`,
    );
  }
  return distro;
}

/**
 * The archive's name for a release of `distro`: an alias or rule result, or the validated
 * input itself (new releases need no table change to be looked up).
 */
export function normalizeDistroVersion(distro: Distro, value: unknown): string {
  const version = validateIdentityValue('distro_version', value);
  const lower = version.toLowerCase();
  const aliases = RELEASE_ALIASES[distro];
  const alias = Object.hasOwn(aliases, lower) ? aliases[lower] : undefined;
  if (alias !== undefined) return alias;
  for (const rule of RELEASE_RULES) {
    if (rule.distros.includes(distro) && rule.pattern.test(lower)) return lower.replace(rule.pattern, rule.replacement);
  }
  return version;
}

/** A kernel release (`uname -r`) is kept as given, case included: it is part of the file name. */
export function normalizeKernelRelease(value: unknown): string {
  return validateIdentityValue('kernel_version', value);
}

export interface KernelRefInput {
  distro: unknown;
  distroVersion: unknown;
  arch: unknown;
  kernel: unknown;
}

/** The archive identity of a kernel, or an IdentityError naming the first bad field. */
export function normalizeKernelRef(input: KernelRefInput): KernelRef {
  const distro = normalizeDistro(input.distro);
  return {
    distro,
    distroVersion: normalizeDistroVersion(distro, input.distroVersion),
    arch: normalizeArch(input.arch),
    kernel: normalizeKernelRelease(input.kernel),
  };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
