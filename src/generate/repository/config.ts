/**
 * Configuration of on-demand generation: the debug package repositories to look kernels up
 * in (none by default: generation from repositories is off until some are configured), and
 * the bounds on downloads and on retrying kernels that failed. The service's configuration
 * embeds this schema; it is defined here so the library validates what it is given.
 *
 * Example (YAML):
 *
 *   repositories:
 *     - name: ubuntu-ddebs
 *       kind: deb
 *       baseUrl: http://ddebs.ubuntu.com
 *       suites: [jammy, jammy-updates, jammy-security]
 *     - name: centos8-debuginfo
 *       kind: rpm
 *       baseUrl: http://debuginfo.centos.org/8/x86_64
 */
import { z } from 'zod';
import { normalizeDistro } from '../../identity/kernel-identity.js';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

const name = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a name of letters, digits, . _ - (at most 64)');
const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const pathSegment = z
  .string()
  .regex(/^[A-Za-z0-9._+~-]+$/, 'a path segment of letters, digits, . _ + ~ -')
  .refine((s) => s !== '.' && s !== '..', 'not . or ..');

/** A Debian/Ubuntu archive: `BASE/dists/SUITE/COMPONENT/binary-ARCH/Packages{.xz,.gz}`, packages at `BASE/Filename`. */
export const debRepositorySchema = z.object({
  name,
  kind: z.literal('deb'),
  baseUrl: httpUrl,
  suites: z.array(pathSegment).min(1),
  components: z.array(pathSegment).min(1).default(['main']),
  architectures: z.array(pathSegment).min(1).default(['amd64']),
});

/** An RPM repository: `BASE/repodata/repomd.xml`, packages at `BASE/<location href>`. */
export const rpmRepositorySchema = z.object({
  name,
  kind: z.literal('rpm'),
  baseUrl: httpUrl,
});

export const debugRepositorySchema = z.discriminatedUnion('kind', [debRepositorySchema, rpmRepositorySchema]);

export const generateConfigSchema = z
  .object({
    repositories: z
      .array(debugRepositorySchema)
      .default([])
      .refine((repos) => new Set(repos.map((r) => r.name)).size === repos.length, 'repository names must be unique'),
    /** A debug package download: Ubuntu's dbgsym .ddebs reach ~1.2 GB. */
    maxDownloadBytes: z
      .number()
      .int()
      .positive()
      .default(4 * GiB),
    downloadTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(60 * 60_000),
    /** A repository index (Packages, primary.xml), decompressed: tens of MB for a large suite. */
    maxIndexBytes: z
      .number()
      .int()
      .positive()
      .default(512 * MiB),
    indexTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5 * 60_000),
    /** How long a kernel that failed is answered from the negative cache before it is tried again. */
    failureRetryMs: z
      .number()
      .int()
      .nonnegative()
      .default(6 * 60 * 60_000),
  })
  .strict();

export type DebRepository = z.infer<typeof debRepositorySchema>;
export type RpmRepository = z.infer<typeof rpmRepositorySchema>;
export type DebugRepository = z.infer<typeof debugRepositorySchema>;
export type GenerateConfig = z.infer<typeof generateConfigSchema>;
/** What callers write: every field with a default may be left out. */
export type GenerateConfigInput = z.input<typeof generateConfigSchema>;

/** Validates `input`; a bad value throws a ZodError naming each offending field. */
export function parseGenerateConfig(input: unknown): GenerateConfig {
  return generateConfigSchema.parse(input);
}

/**
 * The service's repositories are configured per distro (BTFHUB_GENERATE_REPOSITORIES: distro
 * name -> repositories). Each distro's list becomes one GenerateConfig; distro names are
 * normalized as kernel identities are (`Ubuntu` is `ubuntu`). A bad entry throws an Error
 * naming the variable, the distro, the entry and the field.
 */
export function parseRepositoriesByDistro(
  byDistro: Readonly<Record<string, readonly unknown[]>>,
  settings: Omit<GenerateConfigInput, 'repositories'> = {},
  variable = 'BTFHUB_GENERATE_REPOSITORIES',
): Map<string, GenerateConfig> {
  const configs = new Map<string, GenerateConfig>();
  for (const [name, repositories] of Object.entries(byDistro)) {
    let distro: string;
    try {
      distro = normalizeDistro(name);
    } catch (err) {
      throw new Error(`${variable}: ${(err as Error).message}`, { cause: err });
    }
    const parsed = generateConfigSchema.safeParse({ ...settings, repositories });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      throw new Error(`${variable}: ${name}${path.replace(/^\.repositories/, '')}: ${issue.message}`, { cause: parsed.error });
    }
    configs.set(distro, parsed.data);
  }
  return configs;
}
