/**
 * The service's job kinds: what each job carries and returns (the contract between the API,
 * which produces jobs, and src/jobs/, which processes them), how its id is made, and its
 * policy. The queue backends are generic; this table is what makes them ours.
 *
 *   kind     id                               lane       runs
 *   trim     sha256(objects hash, kernel,     trim       src/jobs/trim.ts: the kernel BTF trimmed for some objects
 *            kernel file sha256)
 *   compat   compat-sha256(objects, filter,   coverage   src/jobs/compat.ts: a report of every relocation on
 *            kernels matched)                           every matching kernel
 *   bundle   bundle-sha256(same)              coverage   src/jobs/bundle.ts: the trimmed BTFs of every matching
 *                                                       kernel as one .tar.gz
 *   sync     sync-<ms>-<random>, or the       sync       src/jobs/sync.ts: the archive source scanned again,
 *            scheduler's repeat:archive-sync:...         new kernels registered
 *   generate generate-sha256(kernel, package  generate   src/jobs/generate.ts: a kernel's BTF made with pahole from
 *            sha256 or "repository")                     an uploaded debug package or one found in the configured
 *                                                        repositories, stored and registered (then a trim, on a miss)
 *
 * Uploaded objects are in the object store before a job is enqueued (`objects/<sha256>.o`),
 * so a job carries hashes, names, a kernel identity or filter, and any worker can run it.
 * Equal requests make equal ids, so a queue turns concurrent identical requests into one job;
 * compat and bundle ids also hash the kernels matched, so a new kernel makes a new job.
 *
 * A new kind: its data, result and policy here, a processor file in src/jobs/, and its line in
 * the processor table (src/jobs/index.ts).
 */
import { createHash } from 'node:crypto';
import type { KernelFilter, KernelRef } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { normalizeKernelRef } from '../identity/kernel-identity.js';
import { freshJobId, type JobPolicies, type JobPolicy } from './job.js';

// ---------------------------------------------------------------------------------------
// trim

export interface TrimJobData {
  /** sha256 (hex) of each uploaded object, in upload order. */
  objectHashes: string[];
  /** sha256 over the sorted object hashes (hex). */
  objectsHash: string;
  kernel: KernelRef;
  /**
   * sha256 (hex) of the kernel file to trim: the catalog's when the job was enqueued. A job
   * whose kernel was replaced meanwhile still trims this content and records the trim under
   * it, never under the new one. Absent in jobs enqueued before it existed: the catalog's now.
   */
  kernelSha256?: string;
  /**
   * A rebuild, after the API found the stored result damaged or missing: the job writes its
   * result whatever its process remembers of the key (content-addressed writes trust a copy
   * their process wrote lately; a worker elsewhere has not seen the API's read).
   */
  rewrite?: boolean;
}

export interface TrimJobResult {
  /** Object-store key of the trimmed BTF. */
  resultKey: string;
  /** sha256 (hex) of the trimmed BTF; also the ETag. */
  resultSha256: string;
  size: number;
  durationMs: number;
  /** Relocations checked against the trimmed BTF. */
  relocationsVerified: number;
  /** sha256 (hex) of the kernel file trimmed (absent from results of older workers). */
  kernelSha256?: string;
  /** Where the run's time went (absent from results of older workers): the API's Server-Timing. */
  stages?: TrimJobStages;
}

/** Milliseconds per stage of a trim job's run; docs/API.md (Server-Timing) says what each covers. */
export interface TrimJobStages {
  load: number;
  codec: number;
  decode: number;
  trim: number;
  verify: number;
  store: number;
  fsync: number;
  catalog: number;
}

// ---------------------------------------------------------------------------------------
// compat, bundle

export interface UploadedObjectRef {
  /** sha256 (hex) of the object; stored as `objects/<sha256>.o`. */
  sha256: string;
  /** The client's file name: reports name objects by it. */
  name: string;
}

/** A compat report or a bundle of some objects over the kernels matching `filter`. */
export interface ObjectsJobData {
  kind: 'compat' | 'bundle';
  objects: UploadedObjectRef[];
  /** sha256 over the sorted object hashes (as for trims). */
  objectsHash: string;
  /** Normalized. */
  filter: KernelFilter;
  /**
   * Set on a rebuild: the id of the job whose stored report or bundle was found damaged or
   * missing. The rebuild stores its file under its own id and records it for that job too, so
   * the job's URL serves it again (the queue remembers that job as done and would not rerun it).
   */
  resultFor?: string;
}

/** Per distro / release / arch, as the report's summary has it. */
export interface CompatJobResult {
  kind: 'compat';
  /** Store key of the full report (JSON, as `GET /api/v1/compat/{id}` serves it). */
  reportKey: string;
  kernels: number;
  unreadable: number;
  /** Kernels where every object loads. */
  loadable: number;
  /** Kernels where every relocation resolves. */
  allResolved: number;
  relocations: number;
  durationMs: number;
}

export interface BundleJobResult {
  kind: 'bundle';
  /** Store key of the .tar.gz. */
  bundleKey: string;
  sha256: string;
  size: number;
  /** Kernels in the bundle. */
  kernels: number;
  /** Distinct trimmed BTFs among them (each stored once as trimmed/<sha256>.btf). */
  distinct: number;
  /** Kernels left out, with why (at most MAX_LISTED). */
  failures: { kernel: string; stage: string; message: string }[];
  failed: number;
  bytes: { trimmed: number; distinct: number };
  durationMs: number;
}

/** The metadata a bundle job writes beside the archive (`bundleMetaKey`): what its download headers say. */
export interface BundleMeta {
  sha256: string;
  size: number;
  kernels: number;
  distinct: number;
  failed: number;
}

// ---------------------------------------------------------------------------------------
// sync

export type SyncTrigger = 'schedule' | 'admin';

/** Scan `source` (a directory or s3://bucket/prefix in BTFHub layout) and register what is new. */
export interface SyncJobData {
  kind: 'sync';
  source: string;
  trigger: SyncTrigger;
}

export interface SyncJobResult {
  kind: 'sync';
  /** The source as its store describes it. */
  source: string;
  added: number;
  updated: number;
  unchanged: number;
  /** Kernel files not registered (count), and the first MAX_LISTED with their reason. */
  invalid: number;
  invalidFiles: { key: string; reason: string }[];
  markers: number;
  aliases: number;
  ignored: number;
  unread: number;
  copied: number;
  durationMs: number;
}

// ---------------------------------------------------------------------------------------
// generate

/** A debug package uploaded for the job, kept in the store until the job has run. */
export interface UploadedPackageRef {
  /** Object-store key (`packageKey(sha256)`). */
  key: string;
  sha256: string;
  /** The client's file name (what provenance records). */
  fileName: string;
  size: number;
}

/** Make `kernel`'s BTF from `package`, or from the configured repositories when there is none. */
export interface GenerateJobData {
  kind: 'generate';
  kernel: KernelRef;
  package?: UploadedPackageRef;
  /** Objects to trim for once the kernel is registered (an unknown kernel on POST /api/v1/btf). */
  trimAfter?: { objectHashes: string[]; objectsHash: string };
}

export interface GenerateJobResult {
  kind: 'generate';
  kernel: KernelRef;
  /** Store key and sha256 of the registered `.btf.tar.xz`. */
  storageKey: string;
  sha256: string;
  size: number;
  /** False when the kernel was registered by another job meanwhile (a miss): nothing was generated. */
  generated: boolean;
  /** Types in the BTF (0 when not generated). */
  typeCount: number;
  /** What the BTF was made from; null when not generated and no provenance is recorded. */
  package: { file: string; name: string | null; version: string | null; sha256: string; url: string | null } | null;
  pahole: { version: string; flags: string[]; durationMs: number; peakRssBytes: number | null } | null;
  durationMs: number;
  /** The trim asked for by `trimAfter`. */
  trim?: TrimJobResult;
}

/** The job scheduler of the periodic archive sync. */
export const SYNC_SCHEDULER_ID = 'archive-sync';

// ---------------------------------------------------------------------------------------
// The table

/** Every kind: the data its jobs carry and the result they return. */
export type JobKinds = {
  trim: { data: TrimJobData; result: TrimJobResult };
  compat: { data: ObjectsJobData; result: CompatJobResult };
  bundle: { data: ObjectsJobData; result: BundleJobResult };
  sync: { data: SyncJobData; result: SyncJobResult };
  generate: { data: GenerateJobData; result: GenerateJobResult };
};

export type JobKind = keyof JobKinds;

/** At most this many failures are kept in a job's summary. */
export const MAX_LISTED = 50;

/** The settings policies follow: trim concurrency and time budget. */
export type JobPolicySettings = Pick<Config, 'workerConcurrency' | 'jobTimeoutMs'> & {
  generate?: Pick<Config['generate'], 'concurrency' | 'timeoutMs'>;
};

const DAY_SECONDS = 86_400;

/**
 * How long a completed job of each kind is kept (at most: a count bound may drop it sooner).
 * An id the API handed out within this time that the queue does not know was lost, not
 * expired (GET /api/v1/jobs/{id} answers `job_lost`).
 */
export const KEEP_COMPLETED_SECONDS: Readonly<Record<JobKind, number>> = {
  trim: 3600,
  compat: DAY_SECONDS,
  bundle: DAY_SECONDS,
  sync: 30 * DAY_SECONDS,
  generate: DAY_SECONDS,
};

/**
 * How each kind runs. Trims: many at once (each is milliseconds of CPU once its kernel is
 * decoded), three attempts, the configured time budget, a lock well above the longest
 * synchronous trim. Compat and bundle share one lane, one at a time (each loads kernels
 * ahead on every core), two attempts, no time budget (hundreds of kernels take minutes),
 * results remembered a day. Syncs: one at a time, never retried (the schedule runs again),
 * the last hundred remembered for GET /api/v1/sync. Generations: a lane of their own, one at
 * a time per worker by default (pahole takes a core and ~1-2 GiB for a real vmlinux), never
 * retried by the queue (a failure is the package's or is remembered by the `.failed` marker;
 * asking again runs it again), bounded by BTFHUB_GENERATE_TIMEOUT_MS (the processor kills its
 * own work at that bound; the queue's bound, a little later, only backs it up).
 */

export function jobPolicies(settings: JobPolicySettings): JobPolicies<JobKinds> {
  const trim: JobPolicy = {
    lane: 'trim',
    concurrency: settings.workerConcurrency,
    attempts: 3,
    backoffMs: 2000,
    timeoutMs: settings.jobTimeoutMs,
    keepCompleted: { ageSeconds: KEEP_COMPLETED_SECONDS.trim, count: 10_000 },
    keepFailed: { ageSeconds: DAY_SECONDS, count: 10_000 },
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  };
  const coverage: JobPolicy = {
    lane: 'coverage',
    concurrency: 1,
    attempts: 2,
    backoffMs: 2000,
    keepCompleted: { ageSeconds: KEEP_COMPLETED_SECONDS.compat, count: 1000 },
    keepFailed: { ageSeconds: DAY_SECONDS, count: 1000 },
    lockDurationMs: 60_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  };
  const sync: JobPolicy = {
    lane: 'sync',
    concurrency: 1,
    attempts: 1,
    backoffMs: 2000,
    keepCompleted: { ageSeconds: KEEP_COMPLETED_SECONDS.sync, count: 100 },
    keepFailed: { ageSeconds: 30 * DAY_SECONDS, count: 100 },
    lockDurationMs: 60_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  };
  const generateSettings = settings.generate ?? { concurrency: 1, timeoutMs: 30 * 60_000 };
  const generate: JobPolicy = {
    lane: 'generate',
    concurrency: generateSettings.concurrency,
    attempts: 1,
    backoffMs: 2000,
    timeoutMs: generateSettings.timeoutMs + GENERATE_TIMEOUT_GRACE_MS,
    keepCompleted: { ageSeconds: KEEP_COMPLETED_SECONDS.generate, count: 1000 },
    keepFailed: { ageSeconds: DAY_SECONDS, count: 1000 },
    lockDurationMs: 60_000,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  };
  return { trim, compat: coverage, bundle: coverage, sync, generate };
}

// ---------------------------------------------------------------------------------------
// Ids

/** The queue's bound on a generate job comes this long after the processor's own. */
export const GENERATE_TIMEOUT_GRACE_MS = 30_000;

const KIND_OF_ID = /^(compat|bundle|sync|generate)-/;

/** The kind a job id names: `compat-`, `bundle-`, `sync-` and `generate-` say theirs; any other id is a trim's. */
export function jobKindOf(id: string): JobKind {
  const match = KIND_OF_ID.exec(id);
  return match === null ? 'trim' : (match[1] as JobKind);
}

/**
 * `objectsHash` of a set of uploaded objects: sha256 over their sha256s (lowercase hex),
 * sorted and joined by '\n'. Sorting makes the upload order irrelevant.
 */
export function objectsHashOf(objectHashes: readonly string[]): string {
  return createHash('sha256')
    .update([...objectHashes].sort().join('\n'))
    .digest('hex');
}

/**
 * The job id of a trim: sha256 (hex) over the objects hash, the kernel's normalized identity
 * and the sha256 of its kernel file. Equal requests get equal ids, which is how a queue
 * deduplicates them, and a request made after a kernel was replaced never joins a job of the
 * old content. Hex also keeps ids free of ':', which BullMQ does not allow in custom ids.
 * Without `kernelSha256`, the id of jobs made before kernels were versioned by content.
 * Throws an IdentityError when `kernel` does not normalize.
 */
export function trimJobId(objectsHash: string, kernel: KernelRef, kernelSha256?: string): string {
  const ref = normalizeKernelRef(kernel);
  const identity = [objectsHash, ref.distro, ref.distroVersion, ref.arch, ref.kernel];
  const parts = kernelSha256 === undefined ? ['btfhub-trim-v1', ...identity] : ['btfhub-trim-v2', ...identity, kernelSha256];
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/**
 * A fresh id for running a trim again whose completed job's stored result turned out damaged
 * or gone: the queue keeps the completed job under its own id, so the same id would only
 * return it again. Hex, like every trim id.
 */
export function trimRebuildJobId(jobId: string): string {
  return createHash('sha256').update(`btfhub-trim-rebuild\n${jobId}\n${Date.now()}\n${Math.random()}`).digest('hex');
}

/**
 * The id of a compat or bundle job: the kind, then sha256 over the objects (hash and
 * names: reports show the names), the filter and a fingerprint of the kernels it matched.
 */
export function objectsJobId(
  kind: 'compat' | 'bundle',
  objects: readonly UploadedObjectRef[],
  filter: KernelFilter,
  kernelsFingerprint: string,
): string {
  const hash = createHash('sha256');
  hash.update(`btfhub-${kind}-v1\n`);
  const lines = objects.map((o) => `${o.sha256} ${o.name}\n`).sort();
  for (const line of lines) hash.update(line);
  hash.update(JSON.stringify([filter.distro ?? null, filter.distroVersion ?? null, filter.arch ?? null, filter.kernelPrefix ?? null]));
  hash.update(`\n${kernelsFingerprint}`);
  return `${kind}-${hash.digest('hex')}`;
}

/** A fresh id for a rebuild of compat or bundle job `jobId` (shaped like any job id of the kind). */
export function objectsRebuildJobId(kind: 'compat' | 'bundle', jobId: string): string {
  return `${kind}-${createHash('sha256').update(`btfhub-${kind}-rebuild\n${jobId}\n${Date.now()}\n${Math.random()}`).digest('hex')}`;
}

/**
 * The id of a generate job: sha256 over the kernel's identity and the package's sha256 (or
 * `repository`), so an upload of the same package for the same kernel, or concurrent misses
 * of one kernel, are one job.
 */
export function generateJobId(kernel: KernelRef, packageSha256: string | null, objectsHash?: string): string {
  const ref = normalizeKernelRef(kernel);
  const hash = createHash('sha256')
    .update(
      ['btfhub-generate-v1', ref.distro, ref.distroVersion, ref.arch, ref.kernel, packageSha256 ?? 'repository', objectsHash ?? ''].join(
        '\n',
      ),
    )
    .digest('hex');
  return `generate-${hash}`;
}

/** A fresh id for a sync run asked for by an admin. */
export function syncJobId(now = Date.now()): string {
  return freshJobId('sync', now);
}
