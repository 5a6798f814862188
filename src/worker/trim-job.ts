/**
 * One trim job, whichever queue runs it: kernel from the catalog, its full BTF from the
 * store (decoded through the kernel cache), the uploaded objects from the store, then
 * `trimBtf`, a relocation-by-relocation check of the result (verify-trim.ts), and the
 * content-addressed write of `trimmed/<sha256>.btf` plus its catalog row.
 *
 * Safe to run twice, as BullMQ may (a stalled job is retried elsewhere): the result is
 * deterministic, an existing `trimmed/` object is not written again and `recordTrim`
 * keeps an existing row.
 *
 * Failures are TrimJobErrors that say whose fault they are: a client error (unknown kernel,
 * an object that is not a BPF CO-RE object or that libbpf would reject) becomes a 4xx and
 * is never retried; a server error (storage down, corrupt kernel file, a trim that fails
 * its verification) becomes a 5xx, retried when retrying can help.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ArchiveError, readKernelBtfFile, type ReadKernelBtfOptions } from '../archive/index.js';
import { Btf, type BpfObject, CodecError, parseBpfObject, trimBtf } from '../btf/index.js';
import type { Catalog, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { IdentityError, normalizeKernelRef } from '../identity/index.js';
import type { TrimJobData, TrimJobResult } from '../queue/trim-queue.js';
import { type ObjectStore, putContentAddressed, trimmedKey } from '../storage/index.js';
import type { KernelCache } from './kernel-cache.js';
import { describeMismatches, verifyTrim } from './verify-trim.js';

export type TrimJobErrorCode =
  | 'INVALID_JOB' // malformed job data (hashes, kernel identity)
  | 'UNKNOWN_KERNEL' // the catalog has no such kernel
  | 'INVALID_OBJECT' // an upload is not a BPF object with .BTF and .BTF.ext
  | 'REJECTED_OBJECT' // a relocation libbpf (and so bpftool) rejects, or a case bpftool's trimmer aborts on
  | 'OBJECT_MISSING' // an uploaded object is not (or not correctly) in the store
  | 'KERNEL_MISSING' // the catalog names a kernel file the store does not have
  | 'KERNEL_CHANGED' // the stored kernel file differs from what was registered
  | 'KERNEL_CORRUPT' // the stored kernel file does not decode
  | 'VERIFICATION_FAILED' // the trimmed BTF resolves some relocation differently
  | 'TIMEOUT' // the job ran longer than its budget
  | 'INTERNAL'; // storage, catalog or anything unexpected

export interface TrimJobErrorOptions {
  cause?: unknown;
  /** Whether running the job again may succeed; default: true for server errors, false for client errors. */
  retryable?: boolean;
}

export class TrimJobError extends Error {
  override readonly name = 'TrimJobError';
  readonly retryable: boolean;
  constructor(
    readonly code: TrimJobErrorCode,
    /** The request is at fault (4xx), not the service (5xx). */
    readonly clientError: boolean,
    message: string,
    options: TrimJobErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? !clientError;
  }
}

/** Any failure as a TrimJobError: unexpected errors are retryable server errors. */
export function toTrimJobError(error: unknown): TrimJobError {
  if (error instanceof TrimJobError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TrimJobError('INTERNAL', false, message, { cause: error });
}

export type TrimProcessor = (data: TrimJobData) => Promise<TrimJobResult>;

export interface TrimProcessorDeps {
  store: ObjectStore;
  catalog: Catalog;
  kernelCache: KernelCache;
  logger: Logger;
  /** Bound on a kernel archive's decompressed size (BTFHUB_MAX_DECOMPRESSED_BYTES); the archive reader's default otherwise. */
  maxDecompressedBytes?: number;
}

/** Object-store key of an uploaded object. */
export function objectKey(sha256hex: string): string {
  if (!SHA256_HEX.test(sha256hex)) throw new TrimJobError('INVALID_JOB', true, `invalid object hash ${JSON.stringify(sha256hex)}`);
  return `objects/${sha256hex}.o`;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function createTrimProcessor(deps: TrimProcessorDeps): TrimProcessor {
  const { store, catalog, kernelCache, logger } = deps;
  const readOptions = deps.maxDecompressedBytes === undefined ? {} : { maxUncompressedBytes: deps.maxDecompressedBytes };

  return async (data) => {
    const started = performance.now();
    const { ref, hashes } = checkJobData(data);
    const log = logger.child({ objectsHash: data.objectsHash, kernel: ref });

    const record = await catalog.getKernel(ref);
    if (record === null) {
      throw new TrimJobError(
        'UNKNOWN_KERNEL',
        true,
        `no BTF for kernel ${ref.kernel} of ${ref.distro} ${ref.distroVersion} ${ref.arch} in the catalog`,
      );
    }
    const cachedBefore = kernelCache.has(record);
    const [full, objects] = await Promise.all([
      kernelCache.get(record, () => loadKernel(store, record, readOptions)),
      Promise.all(hashes.map((hash) => loadObject(store, hash))),
    ]);
    const loadedMs = performance.now() - started;

    let bytes: Uint8Array;
    try {
      bytes = trimBtf(full, objects);
    } catch (error) {
      if (error instanceof CodecError && (error.code === 'CORE' || error.code === 'TRIM')) {
        throw new TrimJobError('REJECTED_OBJECT', true, error.message, { cause: error });
      }
      // Types are decoded lazily, so a malformed record deep in an object's BTF surfaces
      // only now. The kernel BTF was produced by pahole and decoded at registration; the
      // upload is the untrusted input, so a decoding error is taken to be the object's.
      if (error instanceof CodecError && error.code !== 'ENCODE') {
        throw new TrimJobError('INVALID_OBJECT', true, error.message, { cause: error });
      }
      throw new TrimJobError('INTERNAL', false, `trimming failed: ${messageOf(error)}`, { cause: error, retryable: false });
    }
    const trimmedMs = performance.now() - started - loadedMs;

    let trimmed: Btf;
    try {
      trimmed = Btf.parse(bytes);
    } catch (error) {
      throw new TrimJobError('VERIFICATION_FAILED', false, `the trimmed BTF does not decode: ${messageOf(error)}`, {
        cause: error,
        retryable: false,
      });
    }
    const verification = verifyTrim(full, trimmed, objects);
    if (verification.mismatchCount > 0) {
      const detail = describeMismatches(verification);
      log.error({ mismatches: verification.mismatches, mismatchCount: verification.mismatchCount }, 'trimmed BTF failed verification');
      throw new TrimJobError(
        'VERIFICATION_FAILED',
        false,
        `the trimmed BTF resolves ${verification.mismatchCount} of ${verification.relocations} relocations differently from the kernel BTF: ${detail}`,
        { retryable: false },
      );
    }

    const resultSha256 = createHash('sha256').update(bytes).digest('hex');
    const resultKey = trimmedKey(resultSha256);
    const existing = await store.head(resultKey);
    const written = existing === null || existing.size !== bytes.length;
    if (written) await putContentAddressed(store, resultKey, bytes);

    const durationMs = Math.round(performance.now() - started);
    await catalog.recordTrim({ objectsHash: data.objectsHash, kernel: ref, resultKey, resultSha256, size: bytes.length, durationMs });
    log.info(
      {
        resultKey,
        size: bytes.length,
        relocations: verification.relocations,
        kernelCacheHit: cachedBefore,
        written,
        loadMs: Math.round(loadedMs),
        trimMs: Math.round(trimmedMs),
        durationMs,
      },
      'trim done',
    );
    return { resultKey, resultSha256, size: bytes.length, durationMs, relocationsVerified: verification.relocations };
  };
}

/**
 * Rejects a job after `timeoutMs` with a TIMEOUT error. The work itself cannot be
 * interrupted (the trim is synchronous); if it finishes later, its writes are the same
 * idempotent ones a retry makes.
 */
export async function withJobTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TrimJobError('TIMEOUT', false, `job did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function checkJobData(data: TrimJobData): { ref: KernelRef; hashes: string[] } {
  if (typeof data !== 'object' || data === null) throw new TrimJobError('INVALID_JOB', true, 'job data is not an object');
  if (!Array.isArray(data.objectHashes) || data.objectHashes.length === 0) {
    throw new TrimJobError('INVALID_JOB', true, 'job has no objects');
  }
  for (const hash of data.objectHashes) objectKey(hash);
  if (typeof data.objectsHash !== 'string' || !SHA256_HEX.test(data.objectsHash)) {
    throw new TrimJobError('INVALID_JOB', true, `invalid objects hash ${JSON.stringify(data.objectsHash)}`);
  }
  let ref: KernelRef;
  try {
    const kernel: Partial<KernelRef> = data.kernel ?? {};
    ref = normalizeKernelRef({ distro: kernel.distro, distroVersion: kernel.distroVersion, arch: kernel.arch, kernel: kernel.kernel });
  } catch (error) {
    if (error instanceof IdentityError) throw new TrimJobError('INVALID_JOB', true, error.message, { cause: error });
    throw error;
  }
  // The same object twice adds nothing to a trim.
  return { ref, hashes: [...new Set(data.objectHashes)] };
}

async function loadKernel(store: ObjectStore, record: KernelRecord, readOptions: ReadKernelBtfOptions): Promise<Btf> {
  const key = record.storageKey;
  const bytes = await readStored(store, key);
  if (bytes === null) {
    throw new TrimJobError('KERNEL_MISSING', false, `kernel BTF ${key} is in the catalog but not in the store ${store.description}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== record.sha256) {
    throw new TrimJobError(
      'KERNEL_CHANGED',
      false,
      `kernel BTF ${key} changed since it was registered (sha256 ${sha256}, catalog has ${record.sha256}): register the kernels again`,
      { retryable: false },
    );
  }
  try {
    return Btf.parse(await readKernelBtfFile(bytes, key, readOptions));
  } catch (error) {
    if (error instanceof ArchiveError || error instanceof CodecError) {
      throw new TrimJobError('KERNEL_CORRUPT', false, `kernel BTF ${key} does not decode: ${error.message}`, {
        cause: error,
        retryable: error instanceof ArchiveError && error.code === 'XZ',
      });
    }
    throw error;
  }
}

async function loadObject(store: ObjectStore, hash: string): Promise<BpfObject> {
  const key = objectKey(hash);
  const bytes = await readStored(store, key);
  if (bytes === null) throw new TrimJobError('OBJECT_MISSING', false, `uploaded object ${key} is not in the store`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== hash) {
    throw new TrimJobError('OBJECT_MISSING', false, `stored object ${key} has sha256 ${actual}`, { retryable: false });
  }
  try {
    return parseBpfObject(bytes, `${hash}.o`);
  } catch (error) {
    if (error instanceof CodecError) throw new TrimJobError('INVALID_OBJECT', true, error.message, { cause: error });
    throw error;
  }
}

/** store.get with its failures as retryable server errors. */
async function readStored(store: ObjectStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.get(key);
  } catch (error) {
    throw new TrimJobError('INTERNAL', false, `reading ${key} from ${store.description}: ${messageOf(error)}`, { cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
