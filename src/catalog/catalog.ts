/**
 * The kernel/trim catalog: one interface, two SQL backends (SQLite file by default,
 * PostgreSQL when DATABASE_URL is postgres://...). Schema lives in /migrations as
 * versioned SQL files, applied in order by `migrate()`.
 */

/** A kernel's identity, already normalized (see src/identity). */
export interface KernelRef {
  distro: string;
  distroVersion: string;
  arch: string;
  kernel: string;
}

export interface KernelRecord extends KernelRef {
  /** Object-store key of the full BTF (`.btf.tar.xz` or `.btf`). */
  storageKey: string;
  /** Size in bytes of the stored object. */
  size: number;
  /** sha256 (hex) of the stored object. */
  sha256: string;
  addedAt: Date;
}

/** Hits counted for one trim, written together (Catalog.recordTrimHits). */
export interface TrimHits {
  objectsHash: string;
  kernel: KernelRef;
  kernelSha256: string;
  count: number;
}

export interface TrimRecord {
  /** sha256 over the sorted sha256s of the objects (hex). */
  objectsHash: string;
  kernel: KernelRef;
  /**
   * sha256 (hex) of the kernel file the trim was made from (migration 003): trims are keyed by
   * the kernel's content, so a replaced kernel never answers with a trim of its old content.
   */
  kernelSha256: string;
  /** Object-store key of the trimmed BTF (`trimmed/<sha256>.btf`). */
  resultKey: string;
  /** sha256 (hex) of the trimmed BTF: the ETag. */
  resultSha256: string;
  size: number;
  durationMs: number;
  hits: number;
  createdAt: Date;
}

/** A kernel file converted to its other format, stored under a `derived/` key (migration 003). */
export interface DerivedFileRecord {
  /** sha256 (hex) of the kernel file it was made from. */
  sourceSha256: string;
  format: 'btf' | 'btf.tar.xz';
  storageKey: string;
  /** sha256 (hex) of the derived copy: every read of it is checked against this. */
  sha256: string;
  size: number;
  createdAt: Date;
}

/** What a stored file of a compat or bundle job is (migration 005). */
export type JobFileRole = 'report' | 'bundle' | 'bundle_meta';

/** A file a compat or bundle job stored, served by job id and checked against `sha256` on every read (migration 005). */
export interface JobFileRecord {
  jobId: string;
  role: JobFileRole;
  /** Where it is stored: the job's own key, or a rebuild's (a job of a fresh id made it again). */
  storageKey: string;
  sha256: string;
  size: number;
  createdAt: Date;
}

export interface KernelFilter {
  distro?: string;
  distroVersion?: string;
  arch?: string;
  /** Matches kernels whose release starts with this string. */
  kernelPrefix?: string;
}

export interface Page {
  limit: number;
  offset: number;
}

export type UpsertOutcome = 'added' | 'unchanged' | 'updated';

/** BTFHub marker files: `.failed` (no BTF could be made for the kernel), `.hasbtf` (it ships its own). */
export type KernelMarker = 'failed' | 'hasbtf';

export interface KernelMarkerRecord extends KernelRef {
  marker: KernelMarker;
  /** Key of the marker file in the source it was imported from. */
  storageKey: string;
  recordedAt: Date;
}

export type ImportedFileStatus = 'kernel' | 'marker' | 'invalid';

/** What `btfhub import` last found at one key of a source (migration 002). */
export interface ImportedFileRecord {
  /** The source's ObjectStore description (`fs:/path`, `s3://bucket/prefix`). */
  source: string;
  key: string;
  size: number;
  /** The source's modification time, when it reports one. */
  modified: Date | null;
  /** sha256 (hex) of the file; null for markers. */
  sha256: string | null;
  status: ImportedFileStatus;
  /** Why an invalid file was not registered. */
  reason: string | null;
  checkedAt: Date;
}

/** Where a generated kernel's BTF came from (migration 003): what GET /api/v1/kernels/... shows. */
export interface KernelProvenance extends KernelRef {
  /** sha256 of the stored kernel file it describes (the kernel record's `sha256`). */
  kernelSha256: string;
  package: {
    /** The uploaded or downloaded file's name. */
    file: string;
    /** The package's own name and version (none for a bare vmlinux). */
    name: string | null;
    version: string | null;
    sha256: string;
    /** The repository URL it was downloaded from; null for an upload. */
    url: string | null;
  };
  pahole: { version: string; flags: string[] };
  generatedAt: Date;
}

export interface Catalog {
  /** Applies pending migrations; safe to run concurrently from several processes. */
  migrate(): Promise<void>;
  upsertKernel(kernel: Omit<KernelRecord, 'addedAt'>): Promise<UpsertOutcome>;
  getKernel(ref: KernelRef): Promise<KernelRecord | null>;
  /** Ordered by distro, distro version, arch, kernel. */
  listKernels(filter: KernelFilter, page: Page): Promise<{ items: KernelRecord[]; total: number }>;
  /** Records an uploaded object (first seen / last seen). */
  recordObject(sha256: string, size: number): Promise<void>;
  /** An uploaded object's record, or null (the trim service writes an object it has none of without reading its key first). */
  getObject(sha256: string): Promise<ObjectRecord | null>;
  /** Every recorded object, by sha256 (for `btfhub verify`). */
  listObjects(page: Page): Promise<{ items: ObjectRecord[]; total: number }>;
  /** The trim of these objects for the kernel file `kernelSha256`, or null. */
  getTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<TrimRecord | null>;
  /** Inserts the trim, or leaves an existing one as is (a job may run twice). */
  recordTrim(trim: Omit<TrimRecord, 'hits' | 'createdAt'>): Promise<void>;
  /** Counts one cache hit. */
  recordTrimHit(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void>;
  /**
   * Adds each entry's `count` hits to its trim, all in one write (one transaction or one
   * statement): what the API's background recorder flushes. Entries naming no trim change nothing.
   */
  recordTrimHits(hits: readonly TrimHits[]): Promise<void>;
  /** Number of trims recorded (for tests and metrics). */
  countTrims(): Promise<number>;
  /** Every trim, ordered by objects hash, kernel identity and kernel sha256 (for `btfhub verify`). */
  listTrims(page: Page): Promise<{ items: TrimRecord[]; total: number }>;
  /** Forgets a trim (its result is gone or damaged for good); absent is no error. */
  deleteTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void>;
  /** The derived copy of the kernel file `sourceSha256` in `format`, or null. */
  getDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<DerivedFileRecord | null>;
  /** Records (or re-records, after a repair) a derived copy. */
  recordDerivedFile(file: Omit<DerivedFileRecord, 'createdAt'>): Promise<void>;
  /** Every derived copy, ordered by source sha256 and format. */
  listDerivedFiles(page: Page): Promise<{ items: DerivedFileRecord[]; total: number }>;
  deleteDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<void>;
  /** The file of job `jobId` in `role`, or null (never stored, removed, or stored before migration 005). */
  getJobFile(jobId: string, role: JobFileRole): Promise<JobFileRecord | null>;
  /** Records (or re-records, after a rebuild) a job's stored file. */
  recordJobFile(file: Omit<JobFileRecord, 'createdAt'>): Promise<void>;
  /** Every job file, ordered by job id and role (for `btfhub verify`). */
  listJobFiles(page: Page): Promise<{ items: JobFileRecord[]; total: number }>;
  /** Forgets the file of `jobId` in `role` while the row still names `storageKey` (a rebuild recorded meanwhile stays). */
  deleteJobFile(jobId: string, role: JobFileRole, storageKey: string): Promise<void>;
  /** Remembers that the API handed out job `id` now (again: the time moves); prunes rows issued before `pruneBefore`. */
  recordIssuedJob(id: string, kind: string, pruneBefore?: Date): Promise<void>;
  /** When job `id` was last handed out, or null. */
  getIssuedJob(id: string): Promise<{ kind: string; issuedAt: Date } | null>;
  /** Records a BTFHub marker file for a kernel (a new storage key for the same marker is 'updated'). */
  recordKernelMarker(marker: Omit<KernelMarkerRecord, 'recordedAt'>): Promise<UpsertOutcome>;
  /** Removes a marker (a kernel generated after all is no longer `.failed`); no error when absent. */
  deleteKernelMarker(ref: KernelRef, marker: KernelMarker): Promise<void>;
  /** Inserts or replaces the provenance of a generated kernel. */
  recordKernelProvenance(provenance: KernelProvenance): Promise<void>;
  /** The kernel's provenance when the service generated it, else null. */
  getKernelProvenance(ref: KernelRef): Promise<KernelProvenance | null>;
  /** Provenance of every generated kernel matching `filter`, ordered as kernels are. */
  listKernelProvenance(filter: KernelFilter): Promise<KernelProvenance[]>;
  /** Ordered by distro, distro version, arch, kernel, marker. */
  listKernelMarkers(filter: KernelFilter, page: Page): Promise<{ items: KernelMarkerRecord[]; total: number }>;
  /** Everything import recorded for `source`, in key order. */
  listImportedFiles(source: string): Promise<ImportedFileRecord[]>;
  /** Inserts or replaces what import found at (source, key). */
  recordImportedFile(file: Omit<ImportedFileRecord, 'checkedAt'>): Promise<void>;
  /** Cheap liveness probe for /readyz. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** An uploaded BPF object as the catalog remembers it. */
export interface ObjectRecord {
  sha256: string;
  size: number;
  firstSeen: Date;
  lastSeen: Date;
}

/** A row of `schema_migrations`. */
export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: Date;
}

/**
 * Read-only views both backends offer beyond `Catalog`: for tests, a `migrate --status`
 * command and diagnostics. Kept apart so that `Catalog` stays what the service needs.
 */
export interface CatalogInspection {
  /** Applied migrations in version order; empty before the first `migrate()`. */
  appliedMigrations(): Promise<AppliedMigration[]>;
}
