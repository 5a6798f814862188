/**
 * The trim job: kernel from the catalog, its full BTF and the uploaded objects from the
 * store, then the codec executor's trim (`trimBtf` and a relocation-by-relocation check of
 * the result, on whatever thread the executor runs it), and the content-addressed write of
 * `trimmed/<sha256>.btf` plus its catalog row.
 *
 * Safe to run twice, as BullMQ may (a stalled job is retried elsewhere): the result is
 * deterministic, an existing `trimmed/` object holding the same bytes (by hash) is not
 * written again, a damaged one is replaced, and `recordTrim` keeps an existing row.
 *
 * A job trims the kernel content it was enqueued for (`kernelSha256`), and records the trim
 * under that content: when the kernel was replaced meanwhile, the old content is still in the
 * store under its content key, and the new content's requests have jobs of their own.
 *
 * Failures are JobErrors that say whose fault they are: a client error (unknown kernel,
 * an object that is not a BPF CO-RE object or that libbpf would reject) becomes a 4xx and
 * is never retried; a server error (storage down, corrupt kernel file, a trim that fails
 * its verification) becomes a 5xx, retried when retrying can help.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ArchiveError, readKernelBtfFile, type ReadKernelBtfOptions } from '../archive/index.js';
import type { Catalog, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { type CodecExecutor, CodecTaskError, type StoredObject, type TrimmedBtf } from '../executor/codec-executor.js';
import { IdentityError, normalizeKernelRef } from '../identity/index.js';
import { loadUnpacked, loadUnpackedUnchecked } from '../kernels/unpacked-copy.js';
import { JobError, type JobProcessor } from '../queue/job.js';
import type { TrimJobData, TrimJobResult, TrimJobStages } from '../queue/kinds.js';
import { attachResultBytes } from '../queue/result-bytes.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { reportDamage } from '../storage/integrity.js';
import { isSha256Hex, kernelContentKey, trimmedKey } from '../storage/keys.js';
import type { Allocate, ObjectStore } from '../storage/object-store.js';
import { checkObjectHash, loadUploadedBytes, readStored } from './uploaded-objects.js';

export interface TrimProcessorDeps {
  store: ObjectStore;
  catalog: Catalog;
  /** Runs the decode, trim and verification (and keeps decoded kernels). */
  codec: CodecExecutor;
  logger: Logger;
  /** Bound on a kernel archive's decompressed size (BTFHUB_MAX_DECOMPRESSED_BYTES); the archive reader's default otherwise. */
  maxDecompressedBytes?: number;
}

export function createTrimProcessor(deps: TrimProcessorDeps): JobProcessor<TrimJobData, TrimJobResult> {
  const { store, catalog, codec, logger } = deps;
  const readOptions = deps.maxDecompressedBytes === undefined ? {} : { maxUncompressedBytes: deps.maxDecompressedBytes };

  return async (data) => {
    const started = performance.now();
    const { ref, hashes } = checkJobData(data);
    const log = logger.child({ objectsHash: data.objectsHash, kernel: ref });

    const current = await catalog.getKernel(ref);
    if (current === null) {
      throw new JobError(
        'UNKNOWN_KERNEL',
        true,
        `no BTF for kernel ${ref.kernel} of ${ref.distro} ${ref.distroVersion} ${ref.arch} in the catalog`,
      );
    }
    const record = await kernelContent(store, current, data.kernelSha256);
    // By hash: read (and checked) only where the executor does not hold their parse.
    const objects: StoredObject[] = hashes.map((hash) => ({
      name: `${hash}.o`,
      sha256: hash,
      load: () => loadUploadedBytes(store, hash, `${hash}.o`),
    }));
    const loaded = performance.now();
    let trimmed: TrimmedBtf;
    try {
      // An unpacked copy of a .btf.tar.xz spares xz on every load after the first (a restart, an eviction).
      const unpack = () => loadKernelRaw(store, record, readOptions);
      const loadRaw = (allocate?: Allocate) => loadUnpacked(catalog, store, record, unpack, allocate);
      // A thread executor checks the copy's sha256 while its thread decodes it.
      const loadUnchecked = (allocate: Allocate) => loadUnpackedUnchecked(catalog, store, record, unpack, allocate);
      trimmed = await codec.trim({ cacheKey: record, loadRaw, loadUnchecked }, objects);
    } catch (error) {
      if (!(error instanceof CodecTaskError)) throw error;
      if (error.stage === 'verify') log.error({ err: error.message }, 'trimmed BTF failed verification');
      throw trimFailure(error, record);
    }
    const trimDone = performance.now();
    const { bytes, sha256: resultSha256 } = trimmed;
    const resultKey = trimmedKey(resultSha256);
    const putTiming = { syncMs: 0 };
    // A result this process wrote or found lately is taken as there (most new objects hashes
    // trim to an earlier result): every read of it checks its sha256 and forgets it when wrong,
    // and a rebuild (the API's read found it wrong, maybe in another process) checks it anyway.
    const written =
      (await putContentAddressed(store, resultKey, bytes, 'trim_result', {
        timing: putTiming,
        sha256: resultSha256,
        trustConfirmed: data.rewrite !== true,
      })) !== 'present';
    const storeDone = performance.now();

    const durationMs = Math.round(storeDone - started);
    const kernelSha256 = record.sha256;
    await catalog.recordTrim({
      objectsHash: data.objectsHash,
      kernel: ref,
      kernelSha256,
      resultKey,
      resultSha256,
      size: bytes.length,
      durationMs,
    });
    const { loadMs, trimMs, verifyMs } = trimmed.timings;
    const stages: TrimJobStages = {
      load: loaded - started,
      // The thread's own work is timed there; the rest of the task's time is getting it there and back.
      codec: Math.max(0, trimDone - loaded - loadMs - trimMs - verifyMs),
      decode: loadMs,
      trim: trimMs,
      verify: verifyMs,
      store: storeDone - trimDone - putTiming.syncMs,
      fsync: putTiming.syncMs,
      catalog: performance.now() - storeDone,
    };
    log.info(
      {
        resultKey,
        size: bytes.length,
        relocations: trimmed.relocationsVerified,
        kernelCacheHit: trimmed.kernelCached,
        written,
        loadMs: Math.round(trimmed.timings.loadMs),
        trimMs: Math.round(trimmed.timings.trimMs),
        verifyMs: Math.round(trimmed.timings.verifyMs),
        durationMs,
      },
      'trim done',
    );
    const result: TrimJobResult = {
      resultKey,
      resultSha256,
      size: bytes.length,
      durationMs,
      relocationsVerified: trimmed.relocationsVerified,
      kernelSha256,
      stages,
    };
    // A waiter in this process (the in-process queue) takes the bytes instead of reading them back.
    attachResultBytes(result, bytes);
    return result;
  };
}

/**
 * The kernel file the job is for: the catalog's record when its content is still the one the
 * job was enqueued with (or the job names none), else the old content under its content key.
 */
async function kernelContent(store: ObjectStore, current: KernelRecord, wanted: string | undefined): Promise<KernelRecord> {
  if (wanted === undefined || wanted === current.sha256) return current;
  if (!isSha256Hex(wanted)) throw new JobError('INVALID_JOB', true, `invalid kernel sha256 ${JSON.stringify(wanted)}`);
  for (const format of ['btf.tar.xz', 'btf'] as const) {
    const storageKey = kernelContentKey(wanted, format);
    const info = await store.head(storageKey).catch(() => null);
    if (info !== null) return { ...current, storageKey, size: info.size, sha256: wanted };
  }
  throw new JobError(
    'KERNEL_REPLACED',
    false,
    `kernel ${current.kernel} of ${current.distro} ${current.distroVersion} ${current.arch} was replaced since the job was queued (sha256 ${wanted} is no longer stored): send the request again`,
    { retryable: false },
  );
}

/** A failed stage of the codec's work as the job's error: whose fault, and whether retrying can help. */
function trimFailure(error: CodecTaskError, record: KernelRecord): JobError {
  switch (error.stage) {
    case 'object':
      return new JobError('INVALID_OBJECT', true, error.message, { cause: error });
    case 'rejected':
      return new JobError('REJECTED_OBJECT', true, error.message, { cause: error });
    case 'kernel':
      return new JobError('KERNEL_CORRUPT', false, `kernel BTF ${record.storageKey} does not decode: ${error.message}`, {
        cause: error,
        retryable: false,
      });
    case 'encode':
      return new JobError('INTERNAL', false, error.message, { cause: error, retryable: false });
    case 'verify':
      return new JobError('VERIFICATION_FAILED', false, error.message, { cause: error, retryable: false });
    case 'limit':
    case 'memory':
      return new JobError('LIMIT_EXCEEDED', true, error.message, { cause: error });
    case 'timeout':
      // Running it again would take as long: the client may retry later (the API answers 503).
      return new JobError('TIMEOUT', false, error.message, { cause: error, retryable: false });
  }
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

/** The kernel's raw BTF from the store: checked against its registered sha256, unpacked. */
async function loadKernelRaw(store: ObjectStore, record: KernelRecord, readOptions: ReadKernelBtfOptions): Promise<Uint8Array> {
  const key = record.storageKey;
  const bytes = await readStored(store, key);
  if (bytes === null) {
    throw new JobError('KERNEL_MISSING', false, `kernel BTF ${key} is in the catalog but not in the store ${store.description}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== record.sha256) {
    reportDamage({ kind: 'kernel', key, expected: record.sha256, actual: sha256, action: 'refused' });
    throw new JobError(
      'KERNEL_CHANGED',
      false,
      `kernel BTF ${key} is damaged or changed since it was registered (sha256 ${sha256}, catalog has ${record.sha256}): upload or import the kernel again (btfhub verify --data DIR lists every damaged file)`,
      { retryable: false },
    );
  }
  try {
    return await readKernelBtfFile(bytes, key, readOptions);
  } catch (error) {
    if (error instanceof ArchiveError) {
      throw new JobError('KERNEL_CORRUPT', false, `kernel BTF ${key} does not decode: ${error.message}`, {
        cause: error,
        retryable: error.code === 'XZ',
      });
    }
    throw error;
  }
}
