/**
 * The trim job: kernel from the catalog, its full BTF from the store (decoded through the
 * kernel cache), the uploaded objects from the store, then `trimBtf`, a relocation-by-
 * relocation check of the result (verify-trim.ts), and the content-addressed write of
 * `trimmed/<sha256>.btf` plus its catalog row.
 *
 * Safe to run twice, as BullMQ may (a stalled job is retried elsewhere): the result is
 * deterministic, an existing `trimmed/` object is not written again and `recordTrim`
 * keeps an existing row.
 *
 * Failures are JobErrors that say whose fault they are: a client error (unknown kernel,
 * an object that is not a BPF CO-RE object or that libbpf would reject) becomes a 4xx and
 * is never retried; a server error (storage down, corrupt kernel file, a trim that fails
 * its verification) becomes a 5xx, retried when retrying can help.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ArchiveError, readKernelBtfFile, type ReadKernelBtfOptions } from '../archive/index.js';
import { Btf, CodecError, trimBtf } from '../btf/index.js';
import type { Catalog, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { IdentityError, normalizeKernelRef } from '../identity/index.js';
import { JobError, type JobProcessor } from '../queue/job.js';
import type { TrimJobData, TrimJobResult } from '../queue/kinds.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { isSha256Hex, trimmedKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { describeMismatches, verifyTrim } from '../worker/verify-trim.js';
import type { KernelCache } from './kernel-cache.js';
import { checkObjectHash, loadUploadedObject, readStored } from './uploaded-objects.js';

export interface TrimProcessorDeps {
  store: ObjectStore;
  catalog: Catalog;
  kernelCache: KernelCache;
  logger: Logger;
  /** Bound on a kernel archive's decompressed size (BTFHUB_MAX_DECOMPRESSED_BYTES); the archive reader's default otherwise. */
  maxDecompressedBytes?: number;
}

export function createTrimProcessor(deps: TrimProcessorDeps): JobProcessor<TrimJobData, TrimJobResult> {
  const { store, catalog, kernelCache, logger } = deps;
  const readOptions = deps.maxDecompressedBytes === undefined ? {} : { maxUncompressedBytes: deps.maxDecompressedBytes };

  return async (data) => {
    const started = performance.now();
    const { ref, hashes } = checkJobData(data);
    const log = logger.child({ objectsHash: data.objectsHash, kernel: ref });

    const record = await catalog.getKernel(ref);
    if (record === null) {
      throw new JobError('UNKNOWN_KERNEL', true, `no BTF for kernel ${ref.kernel} of ${ref.distro} ${ref.distroVersion} ${ref.arch} in the catalog`);
    }
    const cachedBefore = kernelCache.has(record);
    const [full, objects] = await Promise.all([
      kernelCache.get(record, () => loadKernel(store, record, readOptions)),
      Promise.all(hashes.map((hash) => loadUploadedObject(store, hash, `${hash}.o`))),
    ]);
    const loadedMs = performance.now() - started;

    let bytes: Uint8Array;
    try {
      bytes = trimBtf(full, objects);
    } catch (error) {
      if (error instanceof CodecError && (error.code === 'CORE' || error.code === 'TRIM')) {
        throw new JobError('REJECTED_OBJECT', true, error.message, { cause: error });
      }
      // Types are decoded lazily, so a malformed record deep in an object's BTF surfaces
      // only now. The kernel BTF was produced by pahole and decoded at registration; the
      // upload is the untrusted input, so a decoding error is taken to be the object's.
      if (error instanceof CodecError && error.code !== 'ENCODE') {
        throw new JobError('INVALID_OBJECT', true, error.message, { cause: error });
      }
      throw new JobError('INTERNAL', false, `trimming failed: ${messageOf(error)}`, { cause: error, retryable: false });
    }
    const trimmedMs = performance.now() - started - loadedMs;

    let trimmed: Btf;
    try {
      trimmed = Btf.parse(bytes);
    } catch (error) {
      throw new JobError('VERIFICATION_FAILED', false, `the trimmed BTF does not decode: ${messageOf(error)}`, { cause: error, retryable: false });
    }
    const verification = verifyTrim(full, trimmed, objects);
    if (verification.mismatchCount > 0) {
      const detail = describeMismatches(verification);
      log.error({ mismatches: verification.mismatches, mismatchCount: verification.mismatchCount }, 'trimmed BTF failed verification');
      throw new JobError(
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

function checkJobData(data: TrimJobData): { ref: KernelRef; hashes: string[] } {
  if (typeof data !== 'object' || data === null) throw new JobError('INVALID_JOB', true, 'job data is not an object');
  if (!Array.isArray(data.objectHashes) || data.objectHashes.length === 0) {
    throw new JobError('INVALID_JOB', true, 'job has no objects');
  }
  for (const hash of data.objectHashes) checkObjectHash(hash);
  if (!isSha256Hex(data.objectsHash)) throw new JobError('INVALID_JOB', true, `invalid objects hash ${JSON.stringify(data.objectsHash)}`);
  let ref: KernelRef;
  try {
    const kernel: Partial<KernelRef> = data.kernel ?? {};
    ref = normalizeKernelRef({ distro: kernel.distro, distroVersion: kernel.distroVersion, arch: kernel.arch, kernel: kernel.kernel });
  } catch (error) {
    if (error instanceof IdentityError) throw new JobError('INVALID_JOB', true, error.message, { cause: error });
    throw error;
  }
  // The same object twice adds nothing to a trim.
  return { ref, hashes: [...new Set(data.objectHashes)] };
}

async function loadKernel(store: ObjectStore, record: KernelRecord, readOptions: ReadKernelBtfOptions): Promise<Btf> {
  const key = record.storageKey;
  const bytes = await readStored(store, key);
  if (bytes === null) {
    throw new JobError('KERNEL_MISSING', false, `kernel BTF ${key} is in the catalog but not in the store ${store.description}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== record.sha256) {
    throw new JobError(
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
      throw new JobError('KERNEL_CORRUPT', false, `kernel BTF ${key} does not decode: ${error.message}`, {
        cause: error,
        retryable: error instanceof ArchiveError && error.code === 'XZ',
      });
    }
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
