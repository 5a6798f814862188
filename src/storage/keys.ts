/**
 * Object keys: validation shared by every backend, and every key the service reads or writes,
 * built here and nowhere else. Validating in one place means a key that is safe for S3 is
 * also safe as a relative filesystem path, so both backends accept exactly the same keys.
 *
 * The layout of a store:
 *
 *   <distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz   a kernel's full BTF, BTFHub archive layout  kernelKey
 *   <distro>/<distro_version>/<arch>/<kernel>.btf          the same, uncompressed                      kernelKey
 *   kernel-files/<sha256>.btf[.tar.xz]                     a kernel file the service was given          kernelContentKey
 *                                                          (upload, generation), content-addressed
 *   objects/<sha256>.o                                     an uploaded BPF object                      objectKey
 *   trimmed/<sha256>.btf                                   a trimmed BTF, content-addressed            trimmedKey
 *   derived/<sha256 of kernel file>/<kernel>.<format>      a kernel file in its other format           derivedKernelKey
 *   reports/compat/<job id>.json                           a compat job's report                       compatReportKey
 *   bundles/<job id>.tar.gz                                a bundle job's archive                      bundleKey
 *   bundles/<job id>.json                                  its metadata (download headers)             bundleMetaKey
 *   packages/<sha256>.pkg                                  a debug package uploaded for a generate job packageKey
 *   <distro>/<distro_version>/<arch>/<kernel>.failed       a generation failed: its reason (JSON)      kernelMarkerKey
 *
 * Everything but the kernels lives under SERVICE_PREFIXES, which a scan for kernels skips.
 */
import type { KernelRef } from '../catalog/catalog.js';
import { StorageError } from './errors.js';

/** Longest key accepted, in UTF-16 code units; S3 allows 1024 bytes, so this keeps headroom for a prefix. */
export const MAX_KEY_LENGTH = 1024;

/** How a kernel's full BTF is stored: the BTFHub archive's compressed tarball, or the raw blob. */
export type KernelBtfFormat = 'btf.tar.xz' | 'btf';

/**
 * Throws StorageError('INVALID_KEY') unless `key` is a relative '/'-separated path with no
 * empty, '.' or '..' segment and no NUL or backslash. These rules keep keys from escaping a
 * filesystem root and from meaning different things on different backends.
 */
export function assertValidKey(key: string): void {
  const reason = invalidKeyReason(key);
  if (reason !== null) {
    throw new StorageError('INVALID_KEY', `invalid object key ${JSON.stringify(key)}: ${reason}`);
  }
}

/** Same rules for a list prefix, which may also be empty or end with '/'. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  // A trailing '/' names a "directory"; the rest must be a valid key.
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const reason = invalidKeyReason(body);
  if (reason !== null) {
    throw new StorageError('INVALID_KEY', `invalid list prefix ${JSON.stringify(prefix)}: ${reason}`);
  }
}

function invalidKeyReason(key: string): string | null {
  if (typeof key !== 'string') return 'not a string';
  if (key.length === 0) return 'empty';
  if (key.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH} characters`;
  if (key.includes('\0')) return 'contains NUL';
  if (key.includes('\\')) return 'contains a backslash';
  if (key.startsWith('/')) return 'starts with "/"';
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
  }
  return null;
}

/** `<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz` (or `.btf`): the BTFHub archive layout. */
export function kernelKey(ref: KernelRef, format: KernelBtfFormat): string {
  const key = `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.${format}`;
  // Each part must be a single segment, or the key would land in another kernel's directory.
  for (const [field, value] of Object.entries(ref)) {
    if (typeof value !== 'string' || value.includes('/')) {
      throw new StorageError('INVALID_KEY', `invalid kernel ${field} ${JSON.stringify(value)}: must be one path segment`);
    }
  }
  assertValidKey(key);
  return key;
}

/**
 * `<distro>/<distro_version>/<arch>/<kernel>.failed`: BTFHub's marker of a kernel whose BTF
 * could not be made, beside where its BTF would be (the service's holds the reason, as JSON).
 */
export function kernelMarkerKey(ref: KernelRef, marker: 'failed'): string {
  return kernelKey(ref, 'btf').replace(/\.btf$/, `.${marker}`);
}

/** How the kernel file at `key` is stored: `.btf.tar.xz` is an archive, anything else raw BTF. */
export function kernelFileFormat(key: string): KernelBtfFormat {
  return key.endsWith('.tar.xz') ? 'btf.tar.xz' : 'btf';
}

/** Key prefixes the service itself writes; never kernels. */
export const SERVICE_PREFIXES = ['objects/', 'trimmed/', 'derived/', 'reports/', 'bundles/', 'kernel-files/', 'packages/'] as const;

/** Whether `key` is under one of SERVICE_PREFIXES: a key only the service writes, never one of an archive checkout's. */
export function isServiceKey(key: string): boolean {
  return SERVICE_PREFIXES.some((prefix) => key.startsWith(prefix));
}

/**
 * Prefixes whose every key a catalog row names (objects, trims, derived copies, kernel files,
 * compat reports and bundles by `job_files`): `btfhub verify` looks for orphans there.
 */
export const CATALOGED_PREFIXES = ['objects/', 'trimmed/', 'derived/', 'kernel-files/', 'reports/compat/', 'bundles/'] as const;

/**
 * `kernel-files/<sha256>.<format>`: a kernel file the service itself was given (an admin upload,
 * a generated kernel), stored under its own sha256. A replacement is written beside the old
 * content, never over it, and the catalog then switches to it in one statement: a crash
 * between the two leaves the old kernel whole, and a job still reading the old content finds it.
 */
export function kernelContentKey(sha256hex: string, format: KernelBtfFormat): string {
  return `kernel-files/${checkSha256(sha256hex)}.${format}`;
}

/**
 * `.btfhub-readyz/<pid>`: what /readyz writes and removes to prove the store takes writes.
 * Hidden (a scan for kernels skips dot segments), one per process.
 */
export function readinessProbeKey(pid: number): string {
  return `.btfhub-readyz/${Math.trunc(pid)}`;
}

/** Whether `key` is a `kernelContentKey`: a kernel the service was given, which an archive copy never replaces. */
export function isKernelContentKey(key: string): boolean {
  return /^kernel-files\/[0-9a-f]{64}\.btf(\.tar\.xz)?$/.test(key);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Throws StorageError('INVALID_KEY') unless `value` is a sha256 in lowercase hex. */
function checkSha256(value: string): string {
  if (typeof value !== 'string' || !SHA256_HEX.test(value)) {
    throw new StorageError('INVALID_KEY', `invalid sha256 ${JSON.stringify(value)}: expected 64 lowercase hex digits`);
  }
  return value;
}

/** Whether `value` is a sha256 in lowercase hex (what content-addressed keys are built from). */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

/** `objects/<sha256>.o`: an uploaded BPF object, content-addressed (jobs carry only the hash). */
export function objectKey(sha256hex: string): string {
  return `objects/${checkSha256(sha256hex)}.o`;
}

/** `trimmed/<sha256>.btf`: trimmed results are content-addressed, so equal results share one object. */
export function trimmedKey(sha256hex: string): string {
  return `trimmed/${checkSha256(sha256hex)}.btf`;
}

/**
 * `derived/<sha256 of the kernel file>/<kernel>.<format>`: a kernel file converted to its other
 * format (an archive unpacked, a raw blob packed). Keyed by the stored file's sha256, so a
 * re-registered kernel never gets a stale copy.
 */
export function derivedKernelKey(fileSha256: string, kernel: string, format: KernelBtfFormat): string {
  const reason = typeof kernel === 'string' && kernel.includes('/') ? 'must be one path segment' : invalidKeyReason(kernel);
  if (reason !== null) throw new StorageError('INVALID_KEY', `invalid kernel ${JSON.stringify(kernel)}: ${reason}`);
  const key = `derived/${checkSha256(fileSha256)}/${kernel}.${format}`;
  assertValidKey(key);
  return key;
}

/**
 * `packages/<sha256>.pkg`: a debug package uploaded to POST /api/v1/kernels/generate, kept
 * until its generate job has run (any worker reads it from here), then deleted.
 */
export function packageKey(sha256hex: string): string {
  return `packages/${checkSha256(sha256hex)}.pkg`;
}

/** A job id as one key segment (ids are hashes or `<kind>-<ms>-<random>`). */
function jobSegment(id: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/.test(id) || id.length > 256) {
    throw new StorageError('INVALID_KEY', `invalid job id ${JSON.stringify(id)}`);
  }
  return id;
}

/** `reports/compat/<job id>.json`: a compat job's report, served as is. */
export function compatReportKey(jobId: string): string {
  return `reports/compat/${jobSegment(jobId)}.json`;
}

/** `bundles/<job id>.tar.gz`: a bundle job's archive. */
export function bundleKey(jobId: string): string {
  return `bundles/${jobSegment(jobId)}.tar.gz`;
}

/** `bundles/<job id>.json`: what a bundle's download headers say (sha256, counts). */
export function bundleMetaKey(jobId: string): string {
  return `bundles/${jobSegment(jobId)}.json`;
}

/**
 * Orders keys by Unicode code point, which is UTF-8 byte order: the order S3 lists in. Plain
 * `<` compares UTF-16 units and differs when a character beyond U+FFFF meets one in
 * U+E000..U+FFFF, so both backends would disagree on such keys.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0);
  }
  return a.length - b.length;
}
