/**
 * The BullMQ consumer of trim jobs, as `btfhub worker` runs it (one or many processes, on
 * one or many machines, sharing REDIS_URL).
 *
 * Crash safety is BullMQ's lock-and-stall protocol: a worker holds a lock on each active
 * job and renews it every `lockDuration / 2`; every `stalledInterval` each worker looks for
 * active jobs whose lock expired (their worker died: SIGKILL, OOM, a lost machine) and
 * moves them back to waiting, up to `maxStalledCount` times. Jobs are idempotent, so a
 * second run is harmless. The trim is synchronous and blocks the event loop, renewals
 * included, so `lockDuration` must stay well above the longest trim.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { encodeFailure, TRIM_QUEUE_NAME } from '../queue/bullmq-queue.js';
import type { TrimJobData, TrimJobResult } from '../queue/trim-queue.js';
import type { ObjectStore } from '../storage/index.js';
import { KernelCache } from './kernel-cache.js';
import { createTrimProcessor, toTrimJobError, type TrimProcessor, withJobTimeout } from './trim-job.js';

export interface TrimWorkerOptions {
  config: Pick<Config, 'queue' | 'workerConcurrency' | 'kernelCacheBytes' | 'jobTimeoutMs'> & Partial<Pick<Config, 'maxDecompressedBytes'>>;
  store: ObjectStore;
  catalog: Catalog;
  logger: Logger;
  /** Jobs run at once; default `config.workerConcurrency`. */
  concurrency?: number;
  /** Lock on an active job; it expires this long after its worker stops renewing it. Default 30000 ms. */
  lockDurationMs?: number;
  /** How often expired locks are looked for. Default 30000 ms. */
  stalledIntervalMs?: number;
  /** Times a job may be recovered from a dead worker before it fails. Default 1. */
  maxStalledCount?: number;
  /** Shared cache of decoded kernels; default a new one of `config.kernelCacheBytes`. */
  kernelCache?: KernelCache;
  /** Wraps the processor (tests slow it down to kill a worker mid-job). */
  wrapProcessor?: (processor: TrimProcessor) => TrimProcessor;
}

export interface TrimWorker {
  worker: Worker<TrimJobData, TrimJobResult>;
  kernelCache: KernelCache;
  /** Resolves once the worker's Redis connections are up (it keeps waiting while Redis is down). */
  ready: Promise<void>;
  /** Stops taking jobs, lets the active ones finish, then closes the connections. */
  close(): Promise<void>;
}

/** `createTrimWorker`, resolved once the worker is connected and taking jobs. */
export async function startTrimWorker(options: TrimWorkerOptions): Promise<TrimWorker> {
  const trimWorker = createTrimWorker(options);
  await trimWorker.ready;
  return trimWorker;
}

/**
 * Starts consuming `<prefix>:trim` and returns at once; `ready` says when it is connected.
 * Throws when the configuration has no Redis.
 */
export function createTrimWorker(options: TrimWorkerOptions): TrimWorker {
  const { config, logger } = options;
  if (config.queue.kind !== 'redis') {
    throw new Error('the trim worker needs Redis (REDIS_URL); without it, `btfhub serve` runs trim jobs in-process');
  }
  const kernelCache = options.kernelCache ?? new KernelCache({ maxBytes: config.kernelCacheBytes });
  const base = createTrimProcessor({
    store: options.store,
    catalog: options.catalog,
    kernelCache,
    logger,
    ...(config.maxDecompressedBytes !== undefined && { maxDecompressedBytes: config.maxDecompressedBytes }),
  });
  const processor = options.wrapProcessor ? options.wrapProcessor(base) : base;
  const jobTimeoutMs = config.jobTimeoutMs;

  const worker = new Worker<TrimJobData, TrimJobResult>(
    TRIM_QUEUE_NAME,
    async (job: Job<TrimJobData, TrimJobResult>) => {
      try {
        return await withJobTimeout(processor(job.data), jobTimeoutMs);
      } catch (caught) {
        const error = toTrimJobError(caught);
        const reason = encodeFailure(error.message, error.clientError);
        // BullMQ retries anything but an UnrecoverableError, so only retryable failures may be plain errors.
        throw error.retryable ? new Error(reason, { cause: error }) : new UnrecoverableError(reason);
      }
    },
    {
      // Reconnect every 0.2-2 s while Redis is away, not BullMQ's default (e^n s, up to 20 s):
      // a worker should take jobs again within seconds of Redis coming back.
      connection: { url: config.queue.url, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(200 * times, 2000) },
      prefix: config.queue.prefix,
      concurrency: options.concurrency ?? config.workerConcurrency,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: options.maxStalledCount ?? 1,
      autorun: true,
    },
  );

  worker.on('active', (job) => logger.debug({ jobId: job.id, attempt: job.attemptsStarted }, 'trim job started'));
  worker.on('completed', (job, result) =>
    logger.info({ jobId: job.id, resultKey: result.resultKey, durationMs: result.durationMs }, 'trim job completed'),
  );
  worker.on('failed', (job, error) => {
    const willRetry = job !== undefined && !(error instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
    logger[willRetry ? 'warn' : 'error']({ jobId: job?.id, attemptsMade: job?.attemptsMade, willRetry, err: error }, 'trim job failed');
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'trim job stalled (its worker died?); moved back to waiting'));
  worker.on('error', (error) => logger.error({ err: error }, 'trim worker error'));

  const ready = worker.waitUntilReady().then(() => undefined);
  ready.catch(() => {}); // also reported through the 'error' event
  let closing: Promise<void> | undefined;
  return {
    worker,
    kernelCache,
    ready,
    close() {
      closing ??= worker.close();
      return closing;
    },
  };
}
