/**
 * The coverage queue: long jobs over many kernels, beside the trim queue (which stays as it
 * is). Three kinds:
 *
 *   compat   a compatibility report of uploaded objects over the registered kernels
 *   bundle   the trimmed BTF of uploaded objects for every matching kernel, as a .tar.gz
 *   sync     the configured archive source scanned again, new kernels registered
 *
 * As with trims, uploaded objects are in the object store first (`objects/<sha256>.o`), so
 * a job carries hashes, names and a kernel filter, and any worker can run it. Results are
 * written to the store (`reports/compat/<id>.json`, `bundles/<id>.tar.gz`); the job itself
 * keeps a small summary, which is what `GET /api/v1/jobs/{id}` and `GET /api/v1/sync` show.
 *
 * Job ids say their kind (`compat-<sha256>`, `bundle-<sha256>`, `sync-...`); compat and
 * bundle ids hash the objects, the filter and the set of kernels it matched, so the same
 * request over the same kernels is one job, and a new kernel makes a new one.
 *
 * Backends: BullMQ (REDIS_URL; queues `coverage` and `sync`, run by `btfhub worker`) or
 * in-process (the embedded default). Both run a sync on a schedule when asked to.
 */
import { createHash } from 'node:crypto';
import type { KernelFilter } from '../catalog/catalog.js';
import type { TrimJobState } from './trim-queue.js';

export type CoverageJobKind = 'compat' | 'bundle' | 'sync';
export const COVERAGE_JOB_KINDS: readonly CoverageJobKind[] = ['compat', 'bundle', 'sync'];

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
}

export type SyncTrigger = 'schedule' | 'admin';

/** Scan `source` (a directory or s3://bucket/prefix in BTFHub layout) and register what is new. */
export interface SyncJobData {
  kind: 'sync';
  source: string;
  trigger: SyncTrigger;
}

export type CoverageJobData = ObjectsJobData | SyncJobData;

export interface JobProgress {
  done: number;
  total?: number;
  failed: number;
}

/** Per distro / release / arch, as the report's summary has it (snake_case, as served). */
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

export type CoverageJobResult = CompatJobResult | BundleJobResult | SyncJobResult;

/** At most this many failures are kept in a job's summary. */
export const MAX_LISTED = 50;

export interface CoverageJobStatus {
  id: string;
  state: TrimJobState;
  data?: CoverageJobData;
  progress?: JobProgress;
  result?: CoverageJobResult;
  error?: { message: string; clientError: boolean };
  createdAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts?: number;
}

export interface CoverageJobContext {
  id: string;
  /** Reports progress (backends may drop updates that come too fast). */
  progress(progress: JobProgress): void;
}

export type CoverageProcessor = (data: CoverageJobData, context: CoverageJobContext) => Promise<CoverageJobResult>;

export interface SyncSchedule {
  /** What is scanned; null when nothing is configured. */
  source: string | null;
  /** 0 when off. */
  intervalMs: number;
  /** When the next scheduled run is due, when known. */
  nextRunAt: Date | null;
}

export interface CoverageQueue {
  /** Adds the job unless one with this id exists (a server failure runs again); returns the id. */
  enqueue(id: string, data: CoverageJobData): Promise<string>;
  /** Waits up to `timeoutMs` for the job to finish; its status then. */
  waitFor(id: string, timeoutMs: number): Promise<CoverageJobStatus>;
  status(id: string): Promise<CoverageJobStatus>;
  /** The latest jobs of a kind still remembered, newest first. */
  recent(kind: CoverageJobKind, limit: number): Promise<CoverageJobStatus[]>;
  /** Runs a sync of `source` every `intervalMs` (0, or no source: no schedule). Replaces an earlier schedule. */
  scheduleSync(source: string | null, intervalMs: number): Promise<void>;
  syncSchedule(): Promise<SyncSchedule>;
  /** Jobs waiting + active. */
  depth(): Promise<number>;
  check(): Promise<void>;
  close(): Promise<void>;
}

const KIND_OF_ID = /^(compat|bundle|sync)-/;

/** The kind a coverage job id names, or null for other ids (trim jobs). */
export function coverageJobKind(id: string): CoverageJobKind | null {
  const match = KIND_OF_ID.exec(id);
  return match === null ? null : (match[1] as CoverageJobKind);
}

/**
 * The id of a compat or bundle job: the kind, then sha256 over the objects (hash and
 * names: reports show the names), the filter and a fingerprint of the kernels it matched.
 */
export function objectsJobId(kind: 'compat' | 'bundle', objects: readonly UploadedObjectRef[], filter: KernelFilter, kernelsFingerprint: string): string {
  const hash = createHash('sha256');
  hash.update(`btfhub-${kind}-v1\n`);
  const lines = objects.map((o) => `${o.sha256} ${o.name}\n`).sort();
  for (const line of lines) hash.update(line);
  hash.update(JSON.stringify([filter.distro ?? null, filter.distroVersion ?? null, filter.arch ?? null, filter.kernelPrefix ?? null]));
  hash.update(`\n${kernelsFingerprint}`);
  return `${kind}-${hash.digest('hex')}`;
}

/** A fresh id for a sync run asked for by an admin. */
export function syncJobId(now = Date.now()): string {
  return `sync-${now}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Result store keys of a job. */
export function compatReportKey(id: string): string {
  return `reports/compat/${id}.json`;
}

export function bundleKey(id: string): string {
  return `bundles/${id}.tar.gz`;
}

/** Calls `report` at most every `intervalMs`, and always for the last step (done === total). */
export function throttleProgress(report: (p: JobProgress) => void, intervalMs = 250): (p: JobProgress) => void {
  let last = -Infinity;
  return (p) => {
    const now = performance.now();
    if (now - last < intervalMs && !(p.total !== undefined && p.done >= p.total)) return;
    last = now;
    report(p);
  };
}
