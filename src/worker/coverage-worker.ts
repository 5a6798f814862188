/**
 * The BullMQ consumers of coverage jobs (`coverage`: compat and bundle; `sync`), beside
 * the trim worker in `btfhub worker`. Progress goes to the job (`job.updateProgress`),
 * where `GET /api/v1/jobs/{id}` reads it. Client errors fail at once (UnrecoverableError),
 * server errors are retried as the queue's job options say; a stalled job is taken over by
 * another worker, which is safe since every coverage job may run twice.
 *
 * The loops over kernels await their loads between kernels, so lock renewals get through.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { encodeFailure } from '../queue/bullmq-queue.js';
import { COVERAGE_QUEUE_NAME, SYNC_QUEUE_NAME } from '../queue/bullmq-coverage-queue.js';
import type { CoverageJobData, CoverageJobResult, CoverageProcessor } from '../queue/coverage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createCoverageProcessor } from './coverage-job.js';
import { toTrimJobError } from './trim-job.js';

export interface CoverageWorkerOptions {
  config: Pick<Config, 'queue' | 'storage'>;
  store: ObjectStore;
  catalog: Catalog;
  archive?: ObjectStore | null;
  logger: Logger;
  /** Compat and bundle jobs at once (default 1: each uses every core already). */
  concurrency?: number;
  /** Replaces the processor (tests). */
  processor?: CoverageProcessor;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface CoverageWorker {
  workers: Worker<CoverageJobData, CoverageJobResult>[];
  ready: Promise<void>;
  close(): Promise<void>;
}

export function createCoverageWorker(options: CoverageWorkerOptions): CoverageWorker {
  const { config, logger } = options;
  if (config.queue.kind !== 'redis') throw new Error('the coverage worker needs Redis (REDIS_URL)');
  const processor =
    options.processor ??
    createCoverageProcessor({ store: options.store, catalog: options.catalog, config, archive: options.archive ?? null, logger });

  const run = async (job: Job<CoverageJobData, CoverageJobResult>) => {
    try {
      return await processor(job.data, {
        id: job.id ?? '',
        progress: (p) => void job.updateProgress({ ...p }).catch(() => {}),
      });
    } catch (caught) {
      const error = toTrimJobError(caught);
      const reason = encodeFailure(error.message, error.clientError);
      throw error.retryable ? new Error(reason, { cause: error }) : new UnrecoverableError(reason);
    }
  };
  const queueOptions = {
    connection: { url: config.queue.url, maxRetriesPerRequest: null },
    prefix: config.queue.prefix,
    lockDuration: options.lockDurationMs ?? 60_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: 1,
    autorun: true,
  };
  const workers = [
    new Worker<CoverageJobData, CoverageJobResult>(COVERAGE_QUEUE_NAME, run, { ...queueOptions, concurrency: options.concurrency ?? 1 }),
    new Worker<CoverageJobData, CoverageJobResult>(SYNC_QUEUE_NAME, run, { ...queueOptions, concurrency: 1 }),
  ];
  for (const worker of workers) {
    worker.on('completed', (job) => logger.info({ jobId: job.id, kind: job.name }, 'coverage job completed'));
    worker.on('failed', (job, error) => logger.warn({ jobId: job?.id, kind: job?.name, err: error }, 'coverage job failed'));
    worker.on('error', (error) => logger.error({ err: error }, 'coverage worker error'));
  }
  const ready = Promise.all(workers.map((w) => w.waitUntilReady())).then(() => undefined);
  ready.catch(() => {});
  let closing: Promise<void> | undefined;
  return {
    workers,
    ready,
    close() {
      closing ??= Promise.all(workers.map((w) => w.close())).then(() => undefined);
      return closing;
    },
  };
}
