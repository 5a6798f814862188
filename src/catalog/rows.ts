/**
 * Row shapes shared by both SQL backends and their conversion to catalog records. Columns are
 * snake_case; PostgreSQL returns BIGINT as a string and SQLite returns a number, so every
 * numeric column goes through `toNumber`. Timestamps are integer epoch milliseconds.
 */
import type {
  AppliedMigration,
  DerivedFileRecord,
  JobFileRecord,
  JobFileRole,
  ImportedFileRecord,
  ImportedFileStatus,
  KernelMarker,
  KernelMarkerRecord,
  KernelProvenance,
  KernelRecord,
  KernelRef,
  ObjectRecord,
  TrimRecord,
} from './catalog.js';

type Numeric = number | string | bigint;

export interface KernelRow {
  distro: string;
  distro_version: string;
  arch: string;
  kernel: string;
  storage_key: string;
  size: Numeric;
  sha256: string;
  added_at: Numeric;
}

export interface TrimRow {
  objects_hash: string;
  distro: string;
  distro_version: string;
  arch: string;
  kernel: string;
  kernel_sha256: string;
  result_key: string;
  result_sha256: string;
  size: Numeric;
  duration_ms: Numeric;
  hits: Numeric;
  created_at: Numeric;
}

export interface DerivedFileRow {
  source_sha256: string;
  format: string;
  storage_key: string;
  sha256: string;
  size: Numeric;
  created_at: Numeric;
}

export interface JobFileRow {
  job_id: string;
  role: string;
  storage_key: string;
  sha256: string;
  size: Numeric;
  created_at: Numeric;
}

export interface ObjectRow {
  sha256: string;
  size: Numeric;
  first_seen: Numeric;
  last_seen: Numeric;
}

export interface KernelMarkerRow {
  distro: string;
  distro_version: string;
  arch: string;
  kernel: string;
  marker: string;
  storage_key: string;
  recorded_at: Numeric;
}

export interface KernelProvenanceRow {
  distro: string;
  distro_version: string;
  arch: string;
  kernel: string;
  kernel_sha256: string;
  package_file: string;
  package_name: string | null;
  package_version: string | null;
  package_sha256: string;
  package_url: string | null;
  pahole_version: string;
  pahole_flags: string;
  generated_at: Numeric;
}

/** The columns of kernel_provenance in insert order, and their values for `p`. */
export const KERNEL_PROVENANCE_COLUMNS = [
  'distro',
  'distro_version',
  'arch',
  'kernel',
  'kernel_sha256',
  'package_file',
  'package_name',
  'package_version',
  'package_sha256',
  'package_url',
  'pahole_version',
  'pahole_flags',
  'generated_at',
] as const;

export function kernelProvenanceParams(p: KernelProvenance): (string | number | null)[] {
  return [
    ...kernelRefParams(p),
    p.kernelSha256,
    p.package.file,
    p.package.name,
    p.package.version,
    p.package.sha256,
    p.package.url,
    p.pahole.version,
    p.pahole.flags.join(' '),
    p.generatedAt.getTime(),
  ];
}

export function kernelProvenanceFromRow(row: KernelProvenanceRow): KernelProvenance {
  return {
    distro: row.distro,
    distroVersion: row.distro_version,
    arch: row.arch,
    kernel: row.kernel,
    kernelSha256: row.kernel_sha256,
    package: {
      file: row.package_file,
      name: row.package_name,
      version: row.package_version,
      sha256: row.package_sha256,
      url: row.package_url,
    },
    pahole: { version: row.pahole_version, flags: row.pahole_flags === '' ? [] : row.pahole_flags.split(' ') },
    generatedAt: new Date(toNumber(row.generated_at)),
  };
}

export interface ImportedFileRow {
  source: string;
  key: string;
  size: Numeric;
  modified_at: Numeric | null;
  sha256: string | null;
  status: string;
  reason: string | null;
  checked_at: Numeric;
}

export interface MigrationRow {
  version: Numeric;
  name: string;
  applied_at: Numeric;
}

/** Columns of a KernelRef, in the order of the primary keys and of listings. */
export function kernelRefParams(ref: KernelRef): [string, string, string, string] {
  return [ref.distro, ref.distroVersion, ref.arch, ref.kernel];
}

export function toNumber(value: Numeric): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new Error(`catalog: ${String(value)} is not a safe integer`);
  return number;
}

export function kernelFromRow(row: KernelRow): KernelRecord {
  return {
    distro: row.distro,
    distroVersion: row.distro_version,
    arch: row.arch,
    kernel: row.kernel,
    storageKey: row.storage_key,
    size: toNumber(row.size),
    sha256: row.sha256,
    addedAt: new Date(toNumber(row.added_at)),
  };
}

export function trimFromRow(row: TrimRow): TrimRecord {
  return {
    objectsHash: row.objects_hash,
    kernel: { distro: row.distro, distroVersion: row.distro_version, arch: row.arch, kernel: row.kernel },
    kernelSha256: row.kernel_sha256,
    resultKey: row.result_key,
    resultSha256: row.result_sha256,
    size: toNumber(row.size),
    durationMs: toNumber(row.duration_ms),
    hits: toNumber(row.hits),
    createdAt: new Date(toNumber(row.created_at)),
  };
}

export function objectFromRow(row: ObjectRow): ObjectRecord {
  return {
    sha256: row.sha256,
    size: toNumber(row.size),
    firstSeen: new Date(toNumber(row.first_seen)),
    lastSeen: new Date(toNumber(row.last_seen)),
  };
}

export function migrationFromRow(row: MigrationRow): AppliedMigration {
  return { version: toNumber(row.version), name: row.name, appliedAt: new Date(toNumber(row.applied_at)) };
}

/** Rejects a page that SQL would misread (negative or fractional LIMIT/OFFSET). */
export function assertValidPage(page: { limit: number; offset: number }): void {
  for (const [name, value] of Object.entries(page)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`catalog: page ${name} must be a non-negative integer, got ${String(value)}`);
    }
  }
}

/** The clock the catalog stamps rows with: epoch milliseconds. Injectable for tests. */
export type Clock = () => number;

export function kernelMarkerFromRow(row: KernelMarkerRow): KernelMarkerRecord {
  return {
    distro: row.distro,
    distroVersion: row.distro_version,
    arch: row.arch,
    kernel: row.kernel,
    marker: row.marker as KernelMarker,
    storageKey: row.storage_key,
    recordedAt: new Date(toNumber(row.recorded_at)),
  };
}

export function importedFileFromRow(row: ImportedFileRow): ImportedFileRecord {
  return {
    source: row.source,
    key: row.key,
    size: toNumber(row.size),
    modified: row.modified_at === null ? null : new Date(toNumber(row.modified_at)),
    sha256: row.sha256,
    status: row.status as ImportedFileStatus,
    reason: row.reason,
    checkedAt: new Date(toNumber(row.checked_at)),
  };
}

export function jobFileFromRow(row: JobFileRow): JobFileRecord {
  return {
    jobId: row.job_id,
    role: row.role as JobFileRole,
    storageKey: row.storage_key,
    sha256: row.sha256,
    size: toNumber(row.size),
    createdAt: new Date(toNumber(row.created_at)),
  };
}

export function derivedFileFromRow(row: DerivedFileRow): DerivedFileRecord {
  return {
    sourceSha256: row.source_sha256,
    format: row.format as DerivedFileRecord['format'],
    storageKey: row.storage_key,
    sha256: row.sha256,
    size: toNumber(row.size),
    createdAt: new Date(toNumber(row.created_at)),
  };
}
