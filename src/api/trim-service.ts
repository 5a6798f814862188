/**
 * What POST /api/v1/btf and POST /api/v1/customize share: from uploaded objects and a
 * kernel to a trimmed BTF, through the catalog (cache), the object store and the queue.
 *
 *   1. the objects hash and the sha256 of the kernel file the catalog has now (404 when it has
 *      none) identify the request; a trim in the API's memory (trim-cache.ts) is answered at
 *      once, without the store;
 *   2. else a trim already made for that content is answered from the catalog's row and the
 *      store, its bytes checked against the row's sha256 (a cache hit too; a damaged copy is
 *      built again); hits are counted in the catalog in the background (trim-hits.ts);
 *   3. otherwise every object must parse as a BPF CO-RE object (ELF with .BTF and .BTF.ext;
 *      422 otherwise), and only then is anything written: the objects under
 *      `objects/<sha256>.o`, their catalog records, the job (a job in this process starts
 *      while the objects are written, and reads one only once its write has ended);
 *   4. the request waits up to `requestWaitMs` for the job, and for the objects' writes; a
 *      job still running is answered with its id (202 by the routes).
 */
import { createHash } from 'node:crypto';
import type { Catalog, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { type CodecExecutor, CodecTaskError } from '../executor/codec-executor.js';
import type { KernelCacheKey } from '../executor/kernel-cache.js';
import type { JobQueue, JobStatus } from '../queue/job.js';
import { type JobKinds, objectsHashOf, trimJobId, type TrimJobData, type TrimJobResult, trimRebuildJobId } from '../queue/kinds.js';
import { takeResultBytes } from '../queue/result-bytes.js';
import type { ObjectStore } from '../storage/object-store.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { readVerified, reportDamage } from '../storage/integrity.js';
import { objectKey } from '../storage/keys.js';
import { ApiError, boundExceeded, boundInMessage } from './errors.js';
import type { ServiceMetrics } from './metrics.js';
import type { RefusedObjects } from './refused-objects.js';
import { StageTimings } from './stage-timings.js';
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

/**
 * The sha256 of the kernel file the catalog has now for `kernel` (404 when it has none): what
 * every trim answer is keyed by. While the catalog cannot answer, the sha256 it last gave
 * this process, when results for it are in memory: the error otherwise.
 */
export async function currentKernelSha256(
  services: TrimServices,
  kernel: KernelRef,
  hash: string,
): Promise<{ sha256: string; remembered?: CachedTrimAnswer; record?: KernelRecord }> {
  let record: KernelRecord;
  try {
    record = await requireKernel(services.catalog, kernel);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    const last = services.trimCache?.lastKernelSha256(kernel);
    const remembered = last === undefined ? undefined : services.trimCache?.get(hash, kernel, last);
    if (last === undefined || remembered === undefined) throw error;
    return { sha256: last, remembered };
  }
  services.trimCache?.noteKernel(kernel, record.sha256);
  return { sha256: record.sha256, record };
}

export type CachedTrimAnswer = { btf: Uint8Array; sha256: string };

/** A trim already built for these objects and kernel file, or null. Counts the hit. */
async function cachedTrim(
  services: TrimServices,
  hash: string,
  kernel: KernelRef,
  kernelSha256: string,
  timings?: StageTimings,
): Promise<CachedTrimAnswer | null> {
  const found = await findTrim(services, hash, kernel, kernelSha256, timings);
  if (found !== null) await countHit(services, hash, kernel, kernelSha256);
  return found;
}

/**
 * A trim already built, from memory or from the catalog and the store; null when there is
 * none, or when its stored copy is gone or damaged: it is then built again (the job replaces
 * a damaged copy), and the answer's ETag never lies.
 */
async function findTrim(
  services: TrimServices,
  hash: string,
  kernel: KernelRef,
  kernelSha256: string,
  timings?: StageTimings,
): Promise<CachedTrimAnswer | null> {
  const looking = performance.now();
  const remembered = services.trimCache?.get(hash, kernel, kernelSha256);
  if (remembered !== undefined) return remembered;
  const trim = await services.catalog.getTrim(hash, kernel, kernelSha256);
  timings?.since('lookup', looking);
  if (trim === null) return null;
  const reading = performance.now();
  const read = await readVerified(services.store, trim.resultKey, trim.resultSha256);
  timings?.since('readback', reading);
  if (read.state === 'damaged')
    reportDamage({ kind: 'trim_result', key: trim.resultKey, expected: trim.resultSha256, actual: read.actual, action: 'rebuilt' });
  if (read.state !== 'ok') return null;
  services.trimCache?.set(hash, kernel, kernelSha256, read.bytes, trim.resultSha256);
  return { btf: read.bytes, sha256: trim.resultSha256 };
}

/** Counts a hit in the catalog: in the background when there is a recorder. */
export async function countHit(services: TrimServices, hash: string, kernel: KernelRef, kernelSha256: string): Promise<void> {
  if (services.trimHits !== undefined) services.trimHits.record(hash, kernel, kernelSha256);
  else await services.catalog.recordTrimHit(hash, kernel, kernelSha256);
}

export async function trimObjects(
  services: TrimServices,
  kernel: KernelRef,
  objects: readonly UploadedObject[],
  waitMs: number,
  /** Called once the request turns out to need work (a cache miss): the rate limit's charge. */
  onWork: () => Promise<void> = async () => {},
  /** Where the request's time goes, stage by stage (the Server-Timing header). */
  timings?: StageTimings,
): Promise<TrimAnswer> {
  const hashing = performance.now();
  const hashes = objects.map((o) => o.sha256 ?? sha256Hex(o.bytes));
  const hash = objectsHash(hashes);
  timings?.since('hash', hashing);

  // The kernel's current content first (one indexed read): every answer is for that content,
  // so a replaced kernel never gets a trim of the old one, from memory or from the catalog.
  const looking = performance.now();
  const current = await currentKernelSha256(services, kernel, hash);
  const kernelSha256 = current.sha256;
  const remembered = current.remembered ?? services.trimCache?.get(hash, kernel, kernelSha256);
  timings?.since('lookup', looking);
  if (remembered !== undefined) {
    await countHit(services, hash, kernel, kernelSha256);
    services.metrics.recordTrim('hit');
    return { kind: 'ready', btf: remembered.btf, sha256: remembered.sha256, kernel, objectsHash: hash, cached: true };
  }

  const hit = await cachedTrim(services, hash, kernel, kernelSha256, timings);
  if (hit !== null) {
    services.metrics.recordTrim('hit');
    return { kind: 'ready', btf: hit.btf, sha256: hit.sha256, kernel, objectsHash: hash, cached: true };
  }

  // Objects whose work killed workers (or a thread's heap) are answered without any work.
  const refusing = performance.now();
  const refused = await services.refused?.reason(hash);
  timings?.since('lookup', refusing);
  if (refused !== undefined) throw new ApiError(422, 'invalid_object', `these objects are refused for a while: ${refused}`, 'object');

  await onWork();

  // Checked on the thread the trim of this kernel goes to, which then holds the parses.
  await checkObjects(services, objects, hashes, timings, current.record);
  // A job in this process may start while its objects are written (it waits for a write it
  // needs: JobQueue.inProcess); the answer still waits for both, so nothing is answered before
  // its objects are on disk. A job elsewhere reads only what is stored before it is enqueued.
  const overlapped = services.queue.inProcess;
  // Timed apart: they run beside the job's stages, and only the wait they add is the request's.
  const writes = overlapped && timings !== undefined ? new StageTimings() : timings;
  const storing = storeObjects(services, objects, hashes, writes);
  if (!overlapped) await storing;
  // Settled here, whatever the job does: no rejection goes unhandled while the job runs.
  const stored = storing.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const data: TrimJobData = { objectHashes: [...new Set(hashes)], objectsHash: hash, kernel, kernelSha256 };
  const outcome = await runTrimJob(services, data, waitMs, timings).then(
    (answer) => ({ answer }),
    (error: unknown) => ({ error }),
  );
  const waiting = performance.now();
  const failed = await stored;
  if (writes !== timings) timings?.addOverlapped(writes!, performance.now() - waiting);
  // A failed write is the answer (a 503 when the store is down), even over the job's own
  // failure, which may be its consequence: when the writes came first it meant no job at all.
  if (failed !== undefined) throw failed.error;
  if ('error' in outcome) throw outcome.error;
  return outcome.answer;
}

/** Enqueues the trim job, waits for it (up to `waitMs`), and settles its outcome. */
async function runTrimJob(services: TrimServices, data: TrimJobData, waitMs: number, timings?: StageTimings): Promise<TrimAnswer> {
  // An in-process job starts running inside enqueue: its run is timed from there.
  const queueing = performance.now();
  const jobId = await services.queue.enqueue('trim', trimJobId(data.objectsHash, data.kernel, data.kernelSha256), data);
  const recording = performance.now();
  await recordIssuedJob(services.catalog, jobId, 'trim');
  const recordMs = performance.now() - recording;
  timings?.add('catalog', recordMs);
  const status = await services.queue.waitFor('trim', jobId, waitMs);
  timings?.addJob(performance.now() - queueing, status.state === 'completed' ? status.result?.stages : undefined, {
    stage: 'catalog',
    ms: recordMs,
  });
  return settle(services, status, jobId, data, { rebuilds: 1, deadline: Date.now() + waitMs }, timings);
}

/**
 * Checks every object is a CO-RE object (a 422 otherwise; nothing is written before), then
 * stores each distinct one under `objects/<sha256>.o` with its catalog record. Returns the
 * distinct hashes, in upload order.
 */
export async function storeCheckedObjects(
  services: TrimServices,
  objects: readonly UploadedObject[],
  hashes: readonly string[],
  timings?: StageTimings,
): Promise<string[]> {
  await checkObjects(services, objects, hashes, timings);
  return storeObjects(services, objects, hashes, timings);
}

/** Every object parsed as a BPF CO-RE object, on a codec thread (which keeps the parses for the job); a 422 otherwise. */
async function checkObjects(
  services: TrimServices,
  objects: readonly UploadedObject[],
  hashes: readonly string[],
  timings?: StageTimings,
  /** The kernel the trim will run on (its catalog record is its cache key, as the job's is). */
  forKernel?: KernelCacheKey,
): Promise<void> {
  const parsing = performance.now();
  try {
    // With their hashes: the codec keeps the parses, and the trim job uses them (one parse, not two).
    const named = objects.map((o, i) => ({ name: o.name, bytes: o.bytes, sha256: o.sha256 ?? hashes[i] }));
    await services.codec.checkObjects(named, forKernel);
    timings?.since('parse', parsing);
  } catch (error) {
    // An object whose parse blew a thread's heap is refused for a while, answered without work.
    if (error instanceof CodecTaskError && error.stage === 'memory') await services.refused?.refuse(objectsHash(hashes), error.message);
    throw error;
  }
}

/**
 * Stores each distinct object under `objects/<sha256>.o`, then its catalog record, all at once
 * (each write is registered as in flight before this returns its promise: a job's read of one
 * waits for it). Returns the distinct hashes, in upload order.
 */
async function storeObjects(
  services: TrimServices,
  objects: readonly UploadedObject[],
  hashes: readonly string[],
  timings?: StageTimings,
): Promise<string[]> {
  const distinct = new Map<string, Uint8Array>();
  objects.forEach((o, i) => distinct.set(hashes[i]!, o.bytes));
  await Promise.all(
    [...distinct].map(async ([sha256, bytes]) => {
      // Content-addressed: the same bytes there (by hash) means done; a damaged copy is replaced.
      // An object the catalog has no record of is new: written without reading its key first.
      const looking = performance.now();
      const absent = await services.catalog.getObject(sha256).then(
        (record) => record === null,
        () => false,
      );
      timings?.since('catalog', looking);
      const storing = performance.now();
      const putTiming = { syncMs: 0 };
      await putContentAddressed(services.store, objectKey(sha256), bytes, 'object', { timing: putTiming, sha256, absent });
      timings?.add('store', performance.now() - storing - putTiming.syncMs);
      timings?.add('fsync', putTiming.syncMs);
      const recording = performance.now();
      await services.catalog.recordObject(sha256, bytes.length);
      timings?.since('catalog', recording);
    }),
  );
  return [...distinct.keys()];
}

/** What `settle` may still do: run a job again whose stored result is damaged, within the request's wait. */
interface SettleBudget {
  rebuilds: number;
  deadline: number;
}

async function settle(
  services: TrimServices,
  status: TrimJobStatus,
  jobId: string,
  data: TrimJobData,
  budget: SettleBudget,
  timings?: StageTimings,
): Promise<TrimAnswer> {
  const { objectsHash: hash, kernel } = data;
  const kernelSha256 = data.kernelSha256 as string;
  switch (status.state) {
    case 'completed': {
      const result = status.result;
      if (result === undefined) throw new ApiError(500, 'trim_failed', `job ${jobId} completed without a result`);
      services.metrics.observeJob(jobId, result.durationMs);
      // The job ran in this process: the bytes it wrote and verified, without reading them back.
      const fresh = takeResultBytes(result);
      const reading = performance.now();
      const read =
        fresh !== undefined
          ? ({ state: 'ok', bytes: fresh } as const)
          : await readVerified(services.store, result.resultKey, result.resultSha256);
      if (fresh === undefined) timings?.since('readback', reading);
      if (read.state !== 'ok') {
        // The queue remembers the job as done, so the same id would only return it again: a
        // job of a fresh id runs the trim again and replaces the damaged copy.
        if (read.state === 'damaged') {
          reportDamage({
            kind: 'trim_result',
            key: result.resultKey,
            expected: result.resultSha256,
            actual: read.actual,
            action: budget.rebuilds > 0 ? 'rebuilt' : 'refused',
          });
        }
        const what = read.state === 'missing' ? 'is missing from the store' : 'is damaged in the store';
        if (budget.rebuilds <= 0)
          throw new ApiError(
            500,
            'trim_failed',
            `job ${jobId} completed but its stored result ${what}, and running it again did not repair it`,
          );
        // `rewrite`: a worker elsewhere may trust the copy its process wrote, not having seen this read.
        const rebuildId = await services.queue.enqueue('trim', trimRebuildJobId(jobId), { ...data, rewrite: true });
        await recordIssuedJob(services.catalog, rebuildId, 'trim');
        const waiting = performance.now();
        const again = await services.queue.waitFor('trim', rebuildId, Math.max(0, budget.deadline - Date.now()));
        timings?.addJob(performance.now() - waiting, again.state === 'completed' ? again.result?.stages : undefined);
        return settle(services, again, rebuildId, data, { ...budget, rebuilds: budget.rebuilds - 1 }, timings);
      }
      // Not kept in the trim cache: most new objects hashes (a CI build, a one-off test) are
      // never asked for again, and holding each would grow the cache until its budget is full.
      // The first repeat reads the stored result (findTrim) and keeps it from then on.
      services.metrics.recordTrim('completed');
      return { kind: 'ready', btf: read.bytes, sha256: result.resultSha256, kernel, objectsHash: hash, cached: false };
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
      const hit = await cachedTrim(services, hash, kernel, kernelSha256, timings);
      if (hit === null) throw new ApiError(500, 'trim_failed', `job ${jobId} vanished from the queue without a result`);
      services.metrics.recordTrim('completed');
      return { kind: 'ready', btf: hit.btf, sha256: hit.sha256, kernel, objectsHash: hash, cached: false };
    }
  }
}

/** Rows of `issued_jobs` older than every retention are pruned, now and then. */
const ISSUED_JOBS_KEPT_MS = 31 * 86_400_000;

/**
 * Remembers a job id handed out, so that `GET /api/v1/jobs/{id}` can tell a job the queue
 * lost (`job_lost`: send the request again) from one that expired. Best effort: a failure
 * here only makes a lost job look expired.
 */
export async function recordIssuedJob(catalog: Catalog, id: string, kind: string): Promise<void> {
  const prune = Math.random() < 0.01 ? new Date(Date.now() - ISSUED_JOBS_KEPT_MS) : undefined;
  await catalog.recordIssuedJob(id, kind, prune).catch(() => undefined);
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
