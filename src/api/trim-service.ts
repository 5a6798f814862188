/**
 * What POST /api/v1/btf and POST /api/v1/customize share: from uploaded objects and a
 * kernel to a trimmed BTF, through the catalog (cache), the object store and the queue.
 *
 *   1. the objects hash identifies the request; a trim in the API's memory (trim-cache.ts)
 *      is answered at once, without the catalog or the store;
 *   2. else the kernel must be in the catalog (404 otherwise), and a trim already made is
 *      answered from the catalog's row and the store (a cache hit too); hits are counted in
 *      the catalog in the background (trim-hits.ts);
 *   3. otherwise every object must parse as a BPF CO-RE object (ELF with .BTF and .BTF.ext;
 *      422 otherwise), and only then is anything written: the objects under
 *      `objects/<sha256>.o`, their catalog records, the job;
 *   4. the request waits up to `requestWaitMs` for the job; a job still running is answered
 *      with its id (202 by the routes).
 */
import { createHash } from 'node:crypto';
import type { Catalog, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { type CodecExecutor, CodecTaskError } from '../executor/codec-executor.js';
import type { JobQueue, JobStatus } from '../queue/job.js';
import { type JobKinds, objectsHashOf, trimJobId, type TrimJobData, type TrimJobResult } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { objectKey } from '../storage/keys.js';
import { ApiError, boundExceeded, boundInMessage } from './errors.js';
import type { ServiceMetrics } from './metrics.js';
import type { RefusedObjects } from './refused-objects.js';
import type { TrimResultCache } from './trim-cache.js';
import type { TrimHitRecorder } from './trim-hits.js';
import type { UploadedFile } from './uploads.js';

/** A trim job's status. */
type TrimJobStatus = JobStatus<TrimJobData, TrimJobResult>;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The objects hash: sha256 over the distinct sha256s (lowercase hex) of the objects, sorted,
 * joined by '\n' (no trailing newline). One object: sha256 of its 64-character hex hash.
 * Order and repetition of the uploads do not change it.
 */
export function objectsHash(objectHashes: readonly string[]): string {
  return objectsHashOf([...new Set(objectHashes)]);
}

/** `distro/distro_version/arch/kernel`, the X-BTFHub-Kernel header. */
export function kernelLabel(ref: KernelRef): string {
  return `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`;
}

export interface TrimServices {
  catalog: Catalog;
  store: ObjectStore;
  queue: JobQueue<JobKinds>;
  codec: CodecExecutor;
  metrics: ServiceMetrics;
  /** Recent results in memory; without one every hit reads the catalog and the store. */
  trimCache?: TrimResultCache;
  /** Counts hits in the background; without one each hit is written before the answer. */
  trimHits?: TrimHitRecorder;
  /** Objects refused for a while (their jobs killed workers); without it none are. */
  refused?: RefusedObjects;
}

export interface UploadedObject {
  /** For messages: the client's file name. */
  name: string;
  /** Read only on a cache miss (uploads join their chunks lazily). */
  readonly bytes: Uint8Array;
  /** sha256 (hex) of `bytes`, when already known (uploads hash as they stream). */
  readonly sha256?: string;
}

export type TrimAnswer =
  | { kind: 'ready'; btf: Uint8Array; sha256: string; kernel: KernelRef; objectsHash: string; cached: boolean }
  | { kind: 'pending'; jobId: string; state: 'waiting' | 'active'; kernel: KernelRef; objectsHash: string };

/** The kernel's catalog record, or the 404 every kernel route answers. */
export async function requireKernel(catalog: Catalog, ref: KernelRef): Promise<KernelRecord> {
  const kernel = await catalog.getKernel(ref);
  if (kernel === null) {
    throw new ApiError(404, 'kernel_not_found', `no BTF for kernel ${kernelLabel(ref)} (GET /api/v1/kernels lists the known kernels)`);
  }
  return kernel;
}

/** A trim already built for these objects and kernel, or null. Counts the hit. */
async function cachedTrim(
  services: TrimServices,
  hash: string,
  kernel: KernelRef,
): Promise<{ btf: Uint8Array; sha256: string } | null> {
  const found = await findTrim(services, hash, kernel);
  if (found !== null) await countHit(services, hash, kernel);
  return found;
}

/** A trim already built, from memory or from the catalog and the store; null when there is none. */
async function findTrim(services: TrimServices, hash: string, kernel: KernelRef): Promise<{ btf: Uint8Array; sha256: string } | null> {
  const remembered = services.trimCache?.get(hash, kernel);
  if (remembered !== undefined) return remembered;
  const trim = await services.catalog.getTrim(hash, kernel);
  if (trim === null) return null;
  const btf = await services.store.get(trim.resultKey);
  // Gone from the store, or not the bytes recorded (a damaged copy): build it again. Results are
  // a few KiB, so checking costs next to nothing, and the answer's ETag then never lies.
  if (btf === null || sha256Hex(btf) !== trim.resultSha256) return null;
  services.trimCache?.set(hash, kernel, btf, trim.resultSha256);
  return { btf, sha256: trim.resultSha256 };
}

/** Counts a hit in the catalog: in the background when there is a recorder. */
export async function countHit(services: TrimServices, hash: string, kernel: KernelRef): Promise<void> {
  if (services.trimHits !== undefined) services.trimHits.record(hash, kernel);
  else await services.catalog.recordTrimHit(hash, kernel);
}

export async function trimObjects(
  services: TrimServices,
  kernel: KernelRef,
  objects: readonly UploadedObject[],
  waitMs: number,
  /** Called once the request turns out to need work (a cache miss): the rate limit's charge. */
  onWork: () => Promise<void> = async () => {},
): Promise<TrimAnswer> {
  const hashes = objects.map((o) => o.sha256 ?? sha256Hex(o.bytes));
  const hash = objectsHash(hashes);

  // A result in memory was made for a kernel the catalog had: answered without asking it
  // again, so the hot path touches no dependency and a catalog outage spares cached answers.
  const remembered = services.trimCache?.get(hash, kernel);
  if (remembered !== undefined) {
    await countHit(services, hash, kernel);
    services.metrics.recordTrim('hit');
    return { kind: 'ready', btf: remembered.btf, sha256: remembered.sha256, kernel, objectsHash: hash, cached: true };
  }

  await requireKernel(services.catalog, kernel);
  const hit = await cachedTrim(services, hash, kernel);
  if (hit !== null) {
    services.metrics.recordTrim('hit');
    return { kind: 'ready', btf: hit.btf, sha256: hit.sha256, kernel, objectsHash: hash, cached: true };
  }

  // Objects whose work killed workers (or a thread's heap) are answered without any work.
  const refused = await services.refused?.reason(hash);
  if (refused !== undefined) throw new ApiError(422, 'invalid_object', `these objects are refused for a while: ${refused}`, 'object');

  await onWork();

  const stored = await storeCheckedObjects(services, objects, hashes);
  const jobId = await services.queue.enqueue('trim', trimJobId(hash, kernel), { objectHashes: stored, objectsHash: hash, kernel });
  const status = await services.queue.waitFor('trim', jobId, waitMs);
  return settle(services, status, jobId, hash, kernel);
}

/**
 * Checks every object is a CO-RE object (a 422 otherwise; nothing is written before), then
 * stores each distinct one under `objects/<sha256>.o` with its catalog record. Returns the
 * distinct hashes, in upload order.
 */
export async function storeCheckedObjects(services: TrimServices, objects: readonly UploadedObject[], hashes: readonly string[]): Promise<string[]> {
  try {
    await services.codec.checkObjects(objects.map((o) => ({ name: o.name, bytes: o.bytes })));
  } catch (error) {
    // An object whose parse blew a thread's heap is refused for a while, answered without work.
    if (error instanceof CodecTaskError && error.stage === 'memory') await services.refused?.refuse(objectsHash(hashes), error.message);
    throw error;
  }
  const distinct = new Map<string, Uint8Array>();
  objects.forEach((o, i) => distinct.set(hashes[i]!, o.bytes));
  for (const [sha256, bytes] of distinct) {
    const key = objectKey(sha256);
    // Content-addressed: present with its size means done; a write cut short is written again.
    await putContentAddressed(services.store, key, bytes);
    await services.catalog.recordObject(sha256, bytes.length);
  }
  return [...distinct.keys()];
}

async function settle(services: TrimServices, status: TrimJobStatus, jobId: string, hash: string, kernel: KernelRef): Promise<TrimAnswer> {
  switch (status.state) {
    case 'completed': {
      const result = status.result;
      if (result === undefined) throw new ApiError(500, 'trim_failed', `job ${jobId} completed without a result`);
      services.metrics.observeJob(jobId, result.durationMs);
      const btf = await services.store.get(result.resultKey);
      if (btf === null) throw new ApiError(500, 'trim_failed', `job ${jobId} completed but its result is missing from the store`);
      if (sha256Hex(btf) !== result.resultSha256) throw new ApiError(500, 'trim_failed', `job ${jobId} completed but its stored result is damaged`);
      services.trimCache?.set(hash, kernel, btf, result.resultSha256);
      services.metrics.recordTrim('completed');
      return { kind: 'ready', btf, sha256: result.resultSha256, kernel, objectsHash: hash, cached: false };
    }
    case 'failed':
      services.metrics.recordTrim('failed');
      if (status.error?.poisoned === true || boundInMessage(status.error?.message ?? '')?.name === 'codecThreadHeapMb') {
        await services.refused?.refuse(hash, status.error!.message);
      }
      throw jobFailure(jobId, status);
    case 'waiting':
    case 'active':
      services.metrics.recordTrim('pending');
      return { kind: 'pending', jobId, state: status.state, kernel, objectsHash: hash };
    case 'unknown': {
      // Gone from the queue (removed once complete): the catalog has the outcome if it succeeded.
      const hit = await cachedTrim(services, hash, kernel);
      if (hit === null) throw new ApiError(500, 'trim_failed', `job ${jobId} vanished from the queue without a result`);
      services.metrics.recordTrim('completed');
      return { kind: 'ready', btf: hit.btf, sha256: hit.sha256, kernel, objectsHash: hash, cached: false };
    }
  }
}

/** A failed job as an answer: 422 when the objects were at fault, 500 otherwise. */
function jobFailure(jobId: string, status: TrimJobStatus): ApiError {
  const message = status.error?.message ?? 'unknown error';
  const bound = boundInMessage(message);
  if (bound !== undefined) return boundExceeded(message, bound);
  if (status.error?.clientError) return new ApiError(422, 'trim_failed', message, 'object');
  return new ApiError(500, 'trim_failed', `trim job ${jobId} failed: ${message}`);
}

/** An uploaded file as the trim service takes it: hash known, bytes joined only if needed. */
export function uploadedObject(file: UploadedFile): UploadedObject {
  return {
    name: file.filename,
    sha256: file.sha256,
    get bytes() {
      return file.bytes;
    },
  };
}
