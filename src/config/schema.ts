/**
 * The service's whole configuration: environment variables, validated once at start by one
 * zod schema and turned into a typed, frozen `Config`. A bad value stops the process with a
 * message naming every offending variable, instead of surfacing later as a confusing runtime
 * failure. docs/CONFIGURATION.md documents each variable; keep the two in step.
 *
 * CLI flags are twins of variables: the CLI passes them as `overrides`, env-style strings
 * merged over the environment, so flags and variables share one set of rules.
 */
import { defaultCodecThreads } from './default-threads.js';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { type CodecLimits, DEFAULT_CODEC_LIMITS } from '../btf/limits.js';

/** Every variable the schema reads. docker-compose.yml and the docs may only use these. */
export const CONFIG_ENV_VARS = [
  'BTFHUB_HOST',
  'BTFHUB_PORT',
  'BTFHUB_DATA_DIR',
  'BTFHUB_ARCHIVE_DIR',
  'DATABASE_URL',
  'REDIS_URL',
  'BTFHUB_QUEUE_PREFIX',
  'S3_BUCKET',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_PREFIX',
  'S3_FORCE_PATH_STYLE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'BTFHUB_REQUEST_WAIT_MS',
  'BTFHUB_WORKER_CONCURRENCY',
  'BTFHUB_KERNEL_CACHE_BYTES',
  'BTFHUB_MAX_FILE_BYTES',
  'BTFHUB_MAX_FILES',
  'BTFHUB_JOB_TIMEOUT_MS',
  'BTFHUB_ADMIN_TOKEN',
  'BTFHUB_REGISTER_HOST_KERNEL',
  'BTFHUB_UNPACK_AT_IMPORT',
  'LOG_LEVEL',
  'BTFHUB_MAX_REQUEST_BYTES',
  'BTFHUB_MAX_FIELD_BYTES',
  'BTFHUB_MAX_DECOMPRESSED_BYTES',
  'BTFHUB_MAX_UPLOAD_BYTES_IN_FLIGHT',
  'BTFHUB_REQUEST_TIMEOUT_MS',
  'BTFHUB_SHUTDOWN_GRACE_MS',
  'BTFHUB_RATE_LIMIT_MAX',
  'BTFHUB_RATE_LIMIT_WINDOW_MS',
  'BTFHUB_TRUST_PROXY',
  'BTFHUB_TRIM_CACHE_BYTES',
  'BTFHUB_SYNC_SOURCE',
  'BTFHUB_SYNC_INTERVAL_MS',
  'BTFHUB_GENERATE',
  'BTFHUB_GENERATE_REPOSITORIES',
  'BTFHUB_GENERATE_RETRY_MS',
  'BTFHUB_GENERATE_TIMEOUT_MS',
  'BTFHUB_GENERATE_CONCURRENCY',
  'BTFHUB_GENERATE_MEMORY_BYTES',
  'BTFHUB_MAX_PACKAGE_BYTES',
  'BTFHUB_COMPAT_WAIT_MS',
  'BTFHUB_CODEC_THREADS',
  'BTFHUB_CODEC_THREAD_HEAP_MB',
  'BTFHUB_CODEC_TASK_TIMEOUT_MS',
  'BTFHUB_MAX_SECTIONS',
  'BTFHUB_MAX_TYPES',
  'BTFHUB_MAX_STRING_BYTES',
  'BTFHUB_MAX_RELOCATIONS',
  'BTFHUB_MAX_EXT_BLOCKS',
  'BTFHUB_MAX_CORE_STEPS_PER_BYTE',
  'BTFHUB_REFUSED_OBJECTS_TTL_MS',
  'BTFHUB_ALLOWED_ORIGINS',
] as const;

export type ConfigEnvVar = (typeof CONFIG_ENV_VARS)[number];

/**
 * Variables read for a setting when its own variable is unset. PORT is what platforms
 * (Heroku, Cloud Run, Knative) and the original BTFHub Online's deployment set for the port
 * to listen on; BTFHUB_PORT, when set, wins.
 */
export const CONFIG_ENV_FALLBACKS: Readonly<Partial<Record<ConfigEnvVar, string>>> = { BTFHUB_PORT: 'PORT' };

/** Variables whose values never appear in errors or logs. */
const SECRET_VARS: ReadonlySet<ConfigEnvVar> = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'BTFHUB_ADMIN_TOKEN']);
/** Variables holding URLs that may embed a password: shown with the password masked. */
const URL_VARS: ReadonlySet<ConfigEnvVar> = new Set(['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT']);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where objects (kernel BTFs, trimmed results) live. */
export type StorageConfig =
  | { kind: 'fs'; root: string }
  | {
      kind: 's3';
      bucket: string;
      endpoint?: string;
      region: string;
      /** '' or a '/'-separated prefix without leading or trailing '/'. */
      prefix: string;
      forcePathStyle: boolean;
      accessKeyId?: string;
      secretAccessKey?: string;
    };

/** The catalog database: a SQLite file (or ':memory:'), or PostgreSQL. */
export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Trim jobs run in-process, or through BullMQ on Redis so several workers can share them. */
export type QueueConfig = { kind: 'inline' } | { kind: 'redis'; url: string; prefix: string };

/**
 * Requests per client (IP address) per window on each trim and bundle route; `max` 0 turns
 * the limit off. With Redis (REDIS_URL) the counters live there, so every replica counts
 * against the same budget.
 */
export interface RateLimitConfig {
  max: number;
  windowMs: number;
}

/**
 * Which proxies in front of the service are trusted to say who the client is
 * (X-Forwarded-For): none, all, the nearest N hops, or these addresses/CIDRs.
 * Fastify's `trustProxy` option.
 */
export type TrustProxy = boolean | number | string[];

/**
 * Defaults of the limits, shared with callers that build the API without a full `Config`
 * (tests, embedding): one place says what "unset" means.
 */
export const LIMIT_DEFAULTS = {
  maxFileBytes: 67_108_864,
  maxFiles: 16,
  maxRequestBytes: 134_217_728,
  maxFieldBytes: 1024,
  maxDecompressedBytes: 268_435_456,
  maxUploadBytesInFlight: 536_870_912,
  requestTimeoutMs: 60_000,
  shutdownGraceMs: 25_000,
  rateLimit: { max: 600, windowMs: 60_000 },
  trimCacheBytes: 67_108_864,
  codecThreadHeapMb: 1024,
  codecTaskTimeoutMs: 30_000,
  refusedObjectsTtlMs: 3_600_000,
} as const;

/** The shortest admin token accepted: a guessable token is worse than none. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

export interface Config {
  host: string;
  port: number;
  /** Absolute. Holds catalog.sqlite and, with fs storage, the object store under objects/. */
  dataDir: string;
  /** Absolute path of a btfhub-archive checkout, read as is. */
  archiveDir?: string;
  storage: StorageConfig;
  database: DatabaseConfig;
  queue: QueueConfig;
  /** How long POST /api/v1/btf waits for its job before answering 202. */
  requestWaitMs: number;
  workerConcurrency: number;
  /** Budget of the LRU cache of decoded kernel BTFs. */
  kernelCacheBytes: number;
  maxFileBytes: number;
  maxFiles: number;
  jobTimeoutMs: number;
  /** Bearer token of the admin endpoints; they are disabled when unset. */
  adminToken?: string;
  registerHostKernel: boolean;
  /** Import and sync keep each `.btf.tar.xz` kernel's unpacked copy (else it is made on first use). */
  unpackAtImport: boolean;
  logLevel: LogLevel;
  /** Bytes one multipart request may carry, all parts together. */
  maxRequestBytes: number;
  /** Bytes of one text field of a multipart request. */
  maxFieldBytes: number;
  /** Bound on the output of any decompression (xz, gzip): archives, compressed uploads. */
  maxDecompressedBytes: number;
  /** Upload bytes held in memory by all requests at once; past it, 503. 0: no bound. */
  maxUploadBytesInFlight: number;
  /** A request must be received whole within this time (slow clients are cut off with 408). */
  requestTimeoutMs: number;
  /** After SIGTERM, in-flight requests and jobs get this long; then the process exits anyway. */
  shutdownGraceMs: number;
  rateLimit: RateLimitConfig;
  trustProxy: TrustProxy;
  /** Budget of the API's in-memory LRU of trimmed results (cache hits without a store read). 0: off. */
  trimCacheBytes: number;
  /** What the archive sync scans: an absolute directory or s3://bucket/prefix; default `archiveDir`. */
  syncSource?: string;
  /** Between scheduled syncs; 0: no schedule (the default without REDIS_URL). */
  syncIntervalMs: number;
  generate: GenerateSettings;
  /**
   * How long the BTFHub Online routes (/api/v1/customize, /api/v1/download) wait for a trim
   * or a generation before answering 503 with Retry-After: their clients never follow a 202.
   */
  compatWaitMs: number;
  /** Worker threads running the codec's work (parsing uploads, trims, compat); 0: on the event loop (tests, debugging). */
  codecThreads: number;
  /** Heap cap of each codec thread (MiB): an input needing more fails alone (422). */
  codecThreadHeapMb: number;
  /** Time budget of one codec task (ms): past it the thread is stopped and the request answered 503. */
  codecTaskTimeoutMs: number;
  /** Bounds on what the codec accepts in an object or kernel (docs/CODEC.md §11). */
  codecLimits: CodecLimits;
  /** How long an objects hash whose job killed or stalled its workers is refused (422 at once); 0: never remembered. */
  refusedObjectsTtlMs: number;
  /** Origins (scheme://host[:port]) whose browser requests may do work; the service's own is always allowed. */
  allowedOrigins: string[];
}

/** Kernel BTF generation by the service (docs/GENERATE.md). */
export interface GenerateSettings {
  /** `off`: only POST /api/v1/kernels/generate; `on-miss`: an unknown kernel is generated from the repositories. */
  mode: 'off' | 'on-miss';
  /**
   * Debug package repositories per distro (none by default), as src/generate's repository
   * schema reads them; each entry is validated there when the service starts.
   */
  repositories: Readonly<Record<string, readonly Readonly<Record<string, unknown>>[]>>;
  /** How long a kernel whose generation failed is refused before it is tried again. */
  retryMs: number;
  /** A generate job's whole time bound (download, extraction, pahole). */
  timeoutMs: number;
  /** Generate jobs at once per worker process. */
  concurrency: number;
  /** pahole's address-space bound. */
  memoryBytes: number;
  /** An uploaded package's size bound. */
  maxPackageBytes: number;
}

export interface ConfigIssue {
  variable: string;
  message: string;
}

/** Every problem found in the configuration at once, one line per variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((issue) => `  ${issue.variable}: ${issue.message}`).join('\n')}`);
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A decimal integer in [min, max]; rejects the '1e3', '0x10' and '2.5' that Number() accepts. */
function integer(min: number, max: number) {
  const expected = max === MAX_SAFE ? `expected an integer of at least ${min}` : `expected an integer between ${min} and ${max}`;
  return z.string().transform((value, ctx) => {
    const parsed = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
    if (Number.isSafeInteger(parsed) && parsed >= min && parsed <= max) return parsed;
    ctx.addIssue({ code: 'custom', message: expected });
    return z.NEVER;
  });
}

function boolean() {
  return z.stringbool({
    truthy: ['true', '1', 'yes'],
    falsy: ['false', '0', 'no'],
    error: 'expected one of true, false, 1, 0, yes, no',
  });
}

function url(schemes: readonly string[], expected: string) {
  return z.string().refine((value) => {
    try {
      return schemes.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, expected);
}

/** `sqlite:PATH`, or a postgres:// / postgresql:// URL. */
const databaseUrl = z.string().transform((value, ctx): DatabaseConfig => {
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    if (path !== '') return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  } else if (/^postgres(ql)?:\/\//i.test(value) && URL.canParse(value)) {
    return { kind: 'postgres', url: value };
  }
  ctx.addIssue({ code: 'custom', message: 'expected a postgres:// or postgresql:// URL, or sqlite:PATH' });
  return z.NEVER;
});

/** A key prefix: '/'-separated, no '.', '..' or empty segments once outer slashes are stripped. */
const keyPrefix = z.string().transform((value, ctx) => {
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  const valid =
    trimmed === '' ||
    (!/[\0\\]/.test(trimmed) && trimmed.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'));
  if (!valid) {
    ctx.addIssue({ code: 'custom', message: "expected a '/'-separated prefix without empty, '.' or '..' segments" });
    return z.NEVER;
  }
  return trimmed;
});

const nonBlank = (expected: string) => z.string().regex(/^\S+$/, expected);

/** `true`/`false` (and the other boolean spellings), a hop count, or a comma-separated list of addresses/CIDRs. */
const trustProxy = z.string().transform((value, ctx): TrustProxy => {
  const lower = value.toLowerCase();
  if (['true', '1', 'yes'].includes(lower)) return true;
  if (['false', '0', 'no'].includes(lower)) return false;
  if (/^[0-9]{1,2}$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => /^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/.test(entry) && /[.:]/.test(entry))) return entries;
  ctx.addIssue({ code: 'custom', message: 'expected true, false, a hop count, or comma-separated IP addresses/CIDRs' });
  return z.NEVER;
});

const GiB = 1024 * 1024 * 1024;

/**
 * Generation defaults, sized for a distribution's debug vmlinux of 300-900 MB: pahole took
 * 45 s and peaked at 1.03 GiB resident for a 459 MiB vmlinux, so 30 minutes (download and
 * extraction of a ~1.2 GB package included) and 8 GiB of address space (resident memory is
 * about half of what pahole maps) leave room for the largest. See docs/GENERATE.md.
 */
export const GENERATE_DEFAULTS = {
  retryMs: 6 * 3_600_000,
  timeoutMs: 30 * 60_000,
  concurrency: 1,
  memoryBytes: 8 * GiB,
  maxPackageBytes: 4 * GiB,
} as const;

/**
 * BTFHUB_GENERATE_REPOSITORIES: JSON, an object from distro name to a list of repositories,
 * e.g. `{"ubuntu":[{"name":"ddebs","kind":"deb","baseUrl":"http://ddebs.ubuntu.com","suites":["jammy"]}]}`.
 * Only the shape is checked here (the repository schema lives with the generator, a layer up).
 */
const generateRepositories = z.string().transform((value, ctx): Record<string, Record<string, unknown>[]> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `expected JSON (${(error as Error).message})` });
    return z.NEVER;
  }
  const shape = z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a distro name'), z.array(z.record(z.string(), z.unknown())));
  const checked = shape.safeParse(parsed);
  if (!checked.success) {
    ctx.addIssue({ code: 'custom', message: 'expected a JSON object from distro name to a list of repository objects' });
    return z.NEVER;
  }
  return checked.data;
});

/** One entry per variable; defaults are the documented ones. Absent and empty values both mean "unset". */
const envSchema = z.object({
  BTFHUB_HOST: nonBlank('expected a host name or IP address').default('127.0.0.1'),
  BTFHUB_PORT: integer(1, 65535).default(8080),
  BTFHUB_DATA_DIR: z.string().default('./data'),
  BTFHUB_ARCHIVE_DIR: z.string().optional(),
  DATABASE_URL: databaseUrl.optional(),
  REDIS_URL: url(['redis:', 'rediss:'], 'expected a redis:// or rediss:// URL').optional(),
  BTFHUB_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "expected up to 64 letters, digits, '_', '.', ':' or '-'")
    .default('btfhub'),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected a bucket name: 3 to 63 lowercase letters, digits, '.' or '-'")
    .optional(),
  S3_ENDPOINT: url(['http:', 'https:'], 'expected an http:// or https:// URL').optional(),
  S3_REGION: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, "expected a region name such as us-east-1 (lowercase letters, digits, '-')")
    .default('us-east-1'),
  S3_PREFIX: keyPrefix.default(''),
  S3_FORCE_PATH_STYLE: boolean().default(false),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  BTFHUB_REQUEST_WAIT_MS: integer(0, 3_600_000).default(10_000),
  BTFHUB_WORKER_CONCURRENCY: integer(1, 256).default(2),
  BTFHUB_KERNEL_CACHE_BYTES: integer(0, MAX_SAFE).default(268_435_456),
  BTFHUB_MAX_FILE_BYTES: integer(1, MAX_SAFE).default(LIMIT_DEFAULTS.maxFileBytes),
  BTFHUB_MAX_FILES: integer(1, 1024).default(LIMIT_DEFAULTS.maxFiles),
  BTFHUB_JOB_TIMEOUT_MS: integer(1, 86_400_000).default(120_000),
  BTFHUB_ADMIN_TOKEN: z
    .string()
    .min(MIN_ADMIN_TOKEN_LENGTH, `expected at least ${MIN_ADMIN_TOKEN_LENGTH} characters (openssl rand -hex 32 makes one)`)
    .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces')
    .optional(),
  BTFHUB_REGISTER_HOST_KERNEL: boolean().default(true),
  BTFHUB_UNPACK_AT_IMPORT: boolean().default(true),
  LOG_LEVEL: z
    .string()
    .toLowerCase()
    .pipe(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }))
    .default('info'),
  BTFHUB_MAX_REQUEST_BYTES: integer(1, MAX_SAFE).default(LIMIT_DEFAULTS.maxRequestBytes),
  BTFHUB_MAX_FIELD_BYTES: integer(128, 65_536).default(LIMIT_DEFAULTS.maxFieldBytes),
  BTFHUB_MAX_DECOMPRESSED_BYTES: integer(1024, MAX_SAFE).default(LIMIT_DEFAULTS.maxDecompressedBytes),
  BTFHUB_MAX_UPLOAD_BYTES_IN_FLIGHT: integer(0, MAX_SAFE).default(LIMIT_DEFAULTS.maxUploadBytesInFlight),
  BTFHUB_REQUEST_TIMEOUT_MS: integer(1000, 3_600_000).default(LIMIT_DEFAULTS.requestTimeoutMs),
  BTFHUB_SHUTDOWN_GRACE_MS: integer(0, 3_600_000).default(LIMIT_DEFAULTS.shutdownGraceMs),
  BTFHUB_RATE_LIMIT_MAX: integer(0, 1_000_000_000).default(LIMIT_DEFAULTS.rateLimit.max),
  BTFHUB_RATE_LIMIT_WINDOW_MS: integer(1000, 86_400_000).default(LIMIT_DEFAULTS.rateLimit.windowMs),
  BTFHUB_TRUST_PROXY: trustProxy.default(false),
  BTFHUB_TRIM_CACHE_BYTES: integer(0, MAX_SAFE).default(LIMIT_DEFAULTS.trimCacheBytes),
  BTFHUB_SYNC_SOURCE: z
    .string()
    .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^s3:\/\/[^/]+/.test(value), 'expected a directory or s3://bucket/prefix')
    .optional(),
  BTFHUB_SYNC_INTERVAL_MS: integer(0, 2_592_000_000)
    .refine((value) => value === 0 || value >= 1000, 'expected 0 (off) or at least 1000')
    .optional(),
  BTFHUB_GENERATE: z.enum(['off', 'on-miss'], { error: 'expected off or on-miss' }).default('off'),
  BTFHUB_GENERATE_REPOSITORIES: generateRepositories.default({}),
  BTFHUB_GENERATE_RETRY_MS: integer(0, 2_592_000_000).default(GENERATE_DEFAULTS.retryMs),
  BTFHUB_GENERATE_TIMEOUT_MS: integer(1000, 86_400_000).default(GENERATE_DEFAULTS.timeoutMs),
  BTFHUB_GENERATE_CONCURRENCY: integer(1, 64).default(GENERATE_DEFAULTS.concurrency),
  BTFHUB_GENERATE_MEMORY_BYTES: integer(64 * 1024 * 1024, MAX_SAFE).default(GENERATE_DEFAULTS.memoryBytes),
  BTFHUB_MAX_PACKAGE_BYTES: integer(1, MAX_SAFE).default(GENERATE_DEFAULTS.maxPackageBytes),
  BTFHUB_COMPAT_WAIT_MS: integer(0, 3_600_000).default(60_000),
  BTFHUB_CODEC_THREADS: integer(0, 64).optional(),
  BTFHUB_CODEC_THREAD_HEAP_MB: integer(64, 65_536).default(LIMIT_DEFAULTS.codecThreadHeapMb),
  BTFHUB_CODEC_TASK_TIMEOUT_MS: integer(100, 3_600_000).default(LIMIT_DEFAULTS.codecTaskTimeoutMs),
  BTFHUB_MAX_SECTIONS: integer(16, 0xffffffff).default(DEFAULT_CODEC_LIMITS.maxSections),
  BTFHUB_MAX_TYPES: integer(16, 0xffffffff).default(DEFAULT_CODEC_LIMITS.maxTypes),
  BTFHUB_MAX_STRING_BYTES: integer(1024, 0xffffffff).default(DEFAULT_CODEC_LIMITS.maxStringBytes),
  BTFHUB_MAX_RELOCATIONS: integer(1, 0xffffffff).default(DEFAULT_CODEC_LIMITS.maxRelocations),
  BTFHUB_MAX_EXT_BLOCKS: integer(1, 0xffffffff).default(DEFAULT_CODEC_LIMITS.maxExtBlocks),
  BTFHUB_MAX_CORE_STEPS_PER_BYTE: integer(1, 1_000_000).default(DEFAULT_CODEC_LIMITS.maxCoreStepsPerByte),
  BTFHUB_REFUSED_OBJECTS_TTL_MS: integer(0, 2_592_000_000).default(LIMIT_DEFAULTS.refusedObjectsTtlMs),
  BTFHUB_ALLOWED_ORIGINS: z
    .string()
    .transform((value, ctx): string[] => {
      const origins: string[] = [];
      for (const entry of value
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== '')) {
        let origin: string | undefined;
        try {
          const url = new URL(entry);
          if ((url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && !url.search && !url.hash && !url.username)
            origin = url.origin;
        } catch {
          // reported below
        }
        if (origin === undefined || entry.replace(/\/$/, '') !== origin) {
          ctx.addIssue({
            code: 'custom',
            message: `expected comma-separated origins such as https://ci.example.com (scheme, host, port only), not ${JSON.stringify(entry)}`,
          });
          return z.NEVER;
        }
        origins.push(origin);
      }
      return origins;
    })
    .optional(),
});

// Compile-time proof that the schema reads exactly the variables of CONFIG_ENV_VARS.
const _everyVariableHasASchema: Record<ConfigEnvVar, z.ZodType> = envSchema.shape;
const _noSchemaWithoutAVariable: [Exclude<keyof typeof envSchema.shape, ConfigEnvVar>] extends [never] ? true : false = true;

type ParsedEnv = z.output<typeof envSchema>;

/** Values as read: only known variables, trimmed, empty treated as unset. */
type RawEnv = Partial<Record<ConfigEnvVar, string>>;

/**
 * Validates `env` (with `overrides` on top) and returns the frozen configuration. Throws
 * ConfigError listing every invalid variable. Relative paths resolve against the current
 * directory, once, here.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Readonly<Partial<Record<ConfigEnvVar, string | undefined>>> = {},
): Config {
  const issues: ConfigIssue[] = [];
  const known = new Set<string>(CONFIG_ENV_VARS);
  for (const name of Object.keys(overrides)) {
    if (!known.has(name)) issues.push({ variable: name, message: 'unknown configuration variable' });
  }

  const raw: RawEnv = {};
  /** Settings taken from their fallback variable (PORT), so messages name what was set. */
  const from: Partial<Record<ConfigEnvVar, string>> = {};
  for (const name of CONFIG_ENV_VARS) {
    let value = (overrides[name] ?? env[name])?.trim();
    const fallback = CONFIG_ENV_FALLBACKS[name];
    if ((value === undefined || value === '') && fallback !== undefined && env[fallback]?.trim()) {
      value = env[fallback].trim();
      from[name] = fallback;
    }
    if (value !== undefined && value !== '') raw[name] = value;
  }

  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const reported = new Set<string>();
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0]) as ConfigEnvVar;
      if (reported.has(variable)) continue; // the first reason is enough
      reported.add(variable);
      const named = from[variable] === undefined ? variable : `${from[variable]} (${variable} unset)`;
      issues.push({ variable: named, message: `${issue.message}, got ${display(variable, raw[variable])}` });
    }
  }
  issues.push(...crossVariableIssues(raw));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(sortIssues(issues));
  return deepFreeze(deriveConfig(parsed.data));
}

/**
 * Rules that involve two variables. Checked on the raw values so they are reported together
 * with per-variable errors, not after those are fixed.
 */
function crossVariableIssues(raw: RawEnv): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (raw.S3_BUCKET === undefined) {
    for (const name of ['S3_ENDPOINT', 'S3_PREFIX'] as const) {
      if (raw[name] !== undefined) issues.push({ variable: 'S3_BUCKET', message: `required when ${name} is set` });
    }
  } else {
    // With S3 selected, half a key pair is a mistake the SDK would only report per request.
    if (raw.AWS_ACCESS_KEY_ID !== undefined && raw.AWS_SECRET_ACCESS_KEY === undefined) {
      issues.push({ variable: 'AWS_SECRET_ACCESS_KEY', message: 'required when AWS_ACCESS_KEY_ID is set' });
    }
    if (raw.AWS_SECRET_ACCESS_KEY !== undefined && raw.AWS_ACCESS_KEY_ID === undefined) {
      issues.push({ variable: 'AWS_ACCESS_KEY_ID', message: 'required when AWS_SECRET_ACCESS_KEY is set' });
    }
  }
  // One file over the whole request's budget could never be uploaded: a setting that contradicts itself.
  const fileBytes = decimal(raw.BTFHUB_MAX_FILE_BYTES) ?? LIMIT_DEFAULTS.maxFileBytes;
  const requestBytes = decimal(raw.BTFHUB_MAX_REQUEST_BYTES) ?? LIMIT_DEFAULTS.maxRequestBytes;
  if (fileBytes > requestBytes) {
    issues.push({ variable: 'BTFHUB_MAX_REQUEST_BYTES', message: `must be at least BTFHUB_MAX_FILE_BYTES (${fileBytes})` });
  }
  // A schedule asked for with nothing to scan.
  if ((decimal(raw.BTFHUB_SYNC_INTERVAL_MS) ?? 0) > 0 && raw.BTFHUB_SYNC_SOURCE === undefined && raw.BTFHUB_ARCHIVE_DIR === undefined) {
    issues.push({ variable: 'BTFHUB_SYNC_SOURCE', message: 'required when BTFHUB_SYNC_INTERVAL_MS is set (or set BTFHUB_ARCHIVE_DIR)' });
  }
  return issues;
}

/** A plain decimal value as a number; undefined when unset or not one (its own rule reports that). */
function decimal(value: string | undefined): number | undefined {
  const parsed = value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

/** The scheduled sync's default interval with REDIS_URL. */
export const DEFAULT_SYNC_INTERVAL_MS = 21_600_000;

function deriveConfig(env: ParsedEnv): Config {
  const dataDir = resolve(env.BTFHUB_DATA_DIR);
  const source = env.BTFHUB_SYNC_SOURCE ?? env.BTFHUB_ARCHIVE_DIR;
  const syncSource = source === undefined || source.startsWith('s3://') ? source : resolve(source);
  const storage: StorageConfig =
    env.S3_BUCKET === undefined
      ? { kind: 'fs', root: join(dataDir, 'objects') }
      : {
          kind: 's3',
          bucket: env.S3_BUCKET,
          region: env.S3_REGION,
          prefix: env.S3_PREFIX,
          forcePathStyle: env.S3_FORCE_PATH_STYLE,
          ...(env.S3_ENDPOINT !== undefined && { endpoint: env.S3_ENDPOINT }),
          ...(env.AWS_ACCESS_KEY_ID !== undefined && { accessKeyId: env.AWS_ACCESS_KEY_ID }),
          ...(env.AWS_SECRET_ACCESS_KEY !== undefined && { secretAccessKey: env.AWS_SECRET_ACCESS_KEY }),
        };
  return {
    host: env.BTFHUB_HOST,
    port: env.BTFHUB_PORT,
    dataDir,
    ...(env.BTFHUB_ARCHIVE_DIR !== undefined && { archiveDir: resolve(env.BTFHUB_ARCHIVE_DIR) }),
    storage,
    database: env.DATABASE_URL ?? { kind: 'sqlite', path: join(dataDir, 'catalog.sqlite') },
    queue: env.REDIS_URL === undefined ? { kind: 'inline' } : { kind: 'redis', url: env.REDIS_URL, prefix: env.BTFHUB_QUEUE_PREFIX },
    requestWaitMs: env.BTFHUB_REQUEST_WAIT_MS,
    workerConcurrency: env.BTFHUB_WORKER_CONCURRENCY,
    kernelCacheBytes: env.BTFHUB_KERNEL_CACHE_BYTES,
    maxFileBytes: env.BTFHUB_MAX_FILE_BYTES,
    maxFiles: env.BTFHUB_MAX_FILES,
    jobTimeoutMs: env.BTFHUB_JOB_TIMEOUT_MS,
    ...(env.BTFHUB_ADMIN_TOKEN !== undefined && { adminToken: env.BTFHUB_ADMIN_TOKEN }),
    registerHostKernel: env.BTFHUB_REGISTER_HOST_KERNEL,
    unpackAtImport: env.BTFHUB_UNPACK_AT_IMPORT,
    logLevel: env.LOG_LEVEL,
    maxRequestBytes: env.BTFHUB_MAX_REQUEST_BYTES,
    maxFieldBytes: env.BTFHUB_MAX_FIELD_BYTES,
    maxDecompressedBytes: env.BTFHUB_MAX_DECOMPRESSED_BYTES,
    maxUploadBytesInFlight: env.BTFHUB_MAX_UPLOAD_BYTES_IN_FLIGHT,
    requestTimeoutMs: env.BTFHUB_REQUEST_TIMEOUT_MS,
    shutdownGraceMs: env.BTFHUB_SHUTDOWN_GRACE_MS,
    rateLimit: { max: env.BTFHUB_RATE_LIMIT_MAX, windowMs: env.BTFHUB_RATE_LIMIT_WINDOW_MS },
    trustProxy: env.BTFHUB_TRUST_PROXY,
    trimCacheBytes: env.BTFHUB_TRIM_CACHE_BYTES,
    ...(syncSource !== undefined && { syncSource }),
    // Off by default in the embedded mode; every 6 hours with Redis (when there is a source).
    syncIntervalMs:
      syncSource === undefined ? 0 : (env.BTFHUB_SYNC_INTERVAL_MS ?? (env.REDIS_URL === undefined ? 0 : DEFAULT_SYNC_INTERVAL_MS)),
    generate: {
      mode: env.BTFHUB_GENERATE,
      repositories: env.BTFHUB_GENERATE_REPOSITORIES,
      retryMs: env.BTFHUB_GENERATE_RETRY_MS,
      timeoutMs: env.BTFHUB_GENERATE_TIMEOUT_MS,
      concurrency: env.BTFHUB_GENERATE_CONCURRENCY,
      memoryBytes: env.BTFHUB_GENERATE_MEMORY_BYTES,
      maxPackageBytes: env.BTFHUB_MAX_PACKAGE_BYTES,
    },
    compatWaitMs: env.BTFHUB_COMPAT_WAIT_MS,
    codecThreads: env.BTFHUB_CODEC_THREADS ?? defaultCodecThreads(),
    codecThreadHeapMb: env.BTFHUB_CODEC_THREAD_HEAP_MB,
    codecTaskTimeoutMs: env.BTFHUB_CODEC_TASK_TIMEOUT_MS,
    codecLimits: {
      maxSections: env.BTFHUB_MAX_SECTIONS,
      maxTypes: env.BTFHUB_MAX_TYPES,
      maxStringBytes: env.BTFHUB_MAX_STRING_BYTES,
      maxRelocations: env.BTFHUB_MAX_RELOCATIONS,
      maxExtBlocks: env.BTFHUB_MAX_EXT_BLOCKS,
      maxCoreStepsPerByte: env.BTFHUB_MAX_CORE_STEPS_PER_BYTE,
    },
    refusedObjectsTtlMs: env.BTFHUB_REFUSED_OBJECTS_TTL_MS,
    allowedOrigins: env.BTFHUB_ALLOWED_ORIGINS ?? [],
  };
}

/** Placeholder for secrets in logs and errors. */
const REDACTED = '***';

/**
 * A copy of `config` safe to log: tokens and keys become '***', and so do passwords inside
 * database and Redis URLs (user info and `password=` query parameters).
 */
export function redactConfig(config: Config): Config {
  const storage: StorageConfig =
    config.storage.kind === 's3'
      ? {
          ...config.storage,
          ...(config.storage.endpoint !== undefined && { endpoint: redactUrl(config.storage.endpoint) }),
          ...(config.storage.accessKeyId !== undefined && { accessKeyId: REDACTED }),
          ...(config.storage.secretAccessKey !== undefined && { secretAccessKey: REDACTED }),
        }
      : { ...config.storage };
  return deepFreeze({
    ...config,
    storage,
    database: config.database.kind === 'postgres' ? { ...config.database, url: redactUrl(config.database.url) } : { ...config.database },
    queue: config.queue.kind === 'redis' ? { ...config.queue, url: redactUrl(config.queue.url) } : { ...config.queue },
    ...(config.adminToken !== undefined && { adminToken: REDACTED }),
  });
}

/** Masks the password of `url` (user info, or a libpq-style `password` query parameter). */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDACTED; // unparseable: it could be anything, so show nothing
  }
  let changed = false;
  if (parsed.password !== '') {
    parsed.password = REDACTED;
    changed = true;
  }
  if (parsed.searchParams.has('password')) {
    parsed.searchParams.set('password', REDACTED);
    changed = true;
  }
  return changed ? parsed.toString() : url;
}

/**
 * BTFHUB_* variables in `env` the schema does not know: most likely typos (BTFHUB_PROT) that
 * would otherwise be silently ignored. For a start-up warning; not an error, since other
 * tools may share the prefix.
 */
export function unknownBtfhubVariables(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const known = new Set<string>(CONFIG_ENV_VARS);
  return Object.keys(env)
    .filter((name) => name.startsWith('BTFHUB_') && !known.has(name))
    .sort();
}

function display(variable: ConfigEnvVar, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (SECRET_VARS.has(variable)) return `a value of ${value.length} characters`;
  if (URL_VARS.has(variable)) return URL.canParse(value) ? JSON.stringify(redactUrl(value)) : 'a value that is not a URL';
  return JSON.stringify(value);
}

/** In the order of CONFIG_ENV_VARS (unknown override names last), so messages are stable. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (variable: string) => {
    const index = (CONFIG_ENV_VARS as readonly string[]).indexOf(variable);
    return index === -1 ? CONFIG_ENV_VARS.length : index;
  };
  return [...issues].sort((a, b) => rank(a.variable) - rank(b.variable));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
