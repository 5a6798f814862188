/**
 * Everything a service process stands on, made from the configuration in one place: the
 * object store (with the archive checkout underneath when one is configured), the catalog,
 * the decoded-kernel cache, the job queue (in-process, or a BullMQ producer with REDIS_URL)
 * and the BullMQ consumer of `btfhub worker`. `btfhub serve`, `worker`, `import`, `migrate`
 * and the tests build their backends here; each is made on first use, so a command opens
 * only what it needs (the queue backends and the processors are even loaded on first use:
 * `btfhub migrate` never loads BullMQ or the codec), and `close()` closes what was opened.
 *
 *   store          S3 (S3_BUCKET) or <data>/objects; over BTFHUB_ARCHIVE_DIR, read-only, when set
 *   serviceStore   the same without the archive: where the service writes kernels of its own
 *   archive        the archive checkout alone, or null
 *   catalog()      SQLite (<data>/catalog.sqlite) or PostgreSQL (DATABASE_URL); migrate() opens it migrated
 *   codec          the codec executor: checks uploads, runs trims and compat rows, keeps decoded
 *                  kernels (BTFHUB_KERNEL_CACHE_BYTES); on BTFHUB_CODEC_THREADS worker threads
 *                  (heap cap, time budget), or on the event loop when that is 0
 *   jobs()         the JobQueue of every kind (src/queue/kinds.ts), processors from src/jobs/
 *   jobWorker()    the BullMQ consumer of every lane (REDIS_URL only)
 */
import type { Logger } from 'pino';
import { type CatalogBackend, openCatalog } from '../catalog/index.js';
import type { Config } from '../config/schema.js';
import type { CodecExecutor } from '../executor/codec-executor.js';
import { InlineCodecExecutor } from '../executor/inline-executor.js';
import { WorkerCodecExecutor } from '../executor/worker-executor.js';
import type { JobWorker } from '../queue/bullmq-worker.js';
import type { JobPolicies, JobProcessors, JobQueue } from '../queue/job.js';
import { type JobKinds, jobPolicies } from '../queue/kinds.js';
import { ArchiveOverlayStore } from '../storage/archive-overlay.js';
import { createArchiveStore, createObjectStore, type ObjectStore } from '../storage/index.js';
import { catalogFailure, checkCatalogPresent, checkDataDirectory, sweepStore } from './data-dir.js';
import { BackendUnavailableError } from './errors.js';
import { settlesWithin } from './lifecycle.js';

export interface BackendOptions {
  logger: Logger;
  /** Adjusts the policies of the configuration (tests shorten locks and backoffs). */
  policies?: (policies: JobPolicies<JobKinds>) => JobPolicies<JobKinds>;
  /** Wraps the processors (tests slow a job down to kill its worker mid-job). */
  processors?: (processors: JobProcessors<JobKinds>) => JobProcessors<JobKinds>;
  /** Kernel loads in flight for compat and bundle jobs (default: one per core). */
  loadAhead?: number;
  /** How often a BullMQ producer's `waitFor` looks at a job besides its events (default 1000 ms). */
  pollIntervalMs?: number;
  /** Bound on each Redis round trip of the BullMQ producer (default 5000 ms). */
  operationTimeoutMs?: number;
}

export class Backends {
  readonly policies: JobPolicies<JobKinds>;
  private serviceStoreValue: ObjectStore | undefined;
  private archiveValue: ObjectStore | null | undefined;
  private storeValue: ObjectStore | undefined;
  private catalogValue: Promise<CatalogBackend> | undefined;
  private codecValue: CodecExecutor | undefined;
  private jobsValue: Promise<JobQueue<JobKinds>> | undefined;
  private workerValue: Promise<JobWorker> | undefined;
  private closing: Promise<void> | undefined;
  /** The start's sweep of an S3 store's temporary keys, running beside the start. */
  private sweeping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    private readonly options: BackendOptions,
  ) {
    const policies = jobPolicies(config);
    this.policies = options.policies ? options.policies(policies) : policies;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** The service's own store, without the archive: uploads, results and kernels it registers itself. */
  get serviceStore(): ObjectStore {
    this.serviceStoreValue ??= createObjectStore(this.config);
    return this.serviceStoreValue;
  }

  /** The archive checkout (BTFHUB_ARCHIVE_DIR), read as is, or null. */
  get archive(): ObjectStore | null {
    if (this.archiveValue === undefined) this.archiveValue = createArchiveStore(this.config);
    return this.archiveValue;
  }

  /** What jobs and routes read and write: the service's store over the archive, when there is one. */
  get store(): ObjectStore {
    if (this.storeValue === undefined) {
      const archive = this.archive;
      this.storeValue = archive === null ? this.serviceStore : new ArchiveOverlayStore(this.serviceStore, archive);
    }
    return this.storeValue;
  }

  /**
   * Where the codec's work runs: BTFHUB_CODEC_THREADS worker threads (each with its heap cap
   * and time budget per task), or this thread when that is 0; decoded kernels kept up to
   * BTFHUB_KERNEL_CACHE_BYTES, every parse within the configured codec bounds.
   */
  get codec(): CodecExecutor {
    if (this.codecValue === undefined) {
      const { config } = this;
      this.codecValue =
        config.codecThreads === 0
          ? new InlineCodecExecutor({ kernelCacheBytes: config.kernelCacheBytes, limits: config.codecLimits })
          : new WorkerCodecExecutor({
              threads: config.codecThreads,
              heapMb: config.codecThreadHeapMb,
              taskTimeoutMs: config.codecTaskTimeoutMs,
              kernelCacheBytes: config.kernelCacheBytes,
              limits: config.codecLimits,
              onThreadLost: ({ thread, reason, message }) =>
                this.logger.warn({ thread, reason, detail: message }, 'codec thread stopped and replaced'),
            });
    }
    return this.codecValue;
  }

  /** The catalog, opened on first use (not migrated: see `migrate`). */
  catalog(): Promise<CatalogBackend> {
    this.catalogValue ??= openCatalog(this.config.database);
    return this.catalogValue;
  }

  /**
   * Checks the store answers and brings the catalog's schema up to date: what a service
   * process does before it takes work. BackendUnavailableError names what failed, in one line
   * (src/service/data-dir.ts). `serving` (serve, worker) also stops on a catalog missing while
   * the store holds data, and sweeps the temporary files of killed writes.
   */
  async prepare(options: { serving?: boolean } = {}): Promise<{ store: ObjectStore; catalog: CatalogBackend }> {
    await checkDataDirectory(this.config);
    let store: ObjectStore;
    try {
      store = this.store;
    } catch (error) {
      throw new BackendUnavailableError(`object store cannot be opened: ${messageOf(error)}`, { cause: error });
    }
    await store.check().catch((error: unknown) => {
      throw new BackendUnavailableError(`object store ${store.description} is not usable: ${messageOf(error)}`, { cause: error });
    });
    if (options.serving) {
      const { storage } = this.config;
      if (storage.kind === 'fs') {
        const swept = await sweepStore(this.config);
        if (swept !== null && swept.files > 0)
          this.logger.info({ files: swept.files, bytes: swept.bytes }, 'temporary files of killed writes removed');
      } else {
        // A bucket's listing can take a while: the sweep runs beside the start, never delaying it.
        this.sweeping ??= sweepStore(this.config, this.serviceStore).then(
          (swept) => {
            if (swept !== null && swept.files > 0)
              this.logger.info({ files: swept.files, bytes: swept.bytes }, 'temporary keys of killed writes removed');
          },
          (error: unknown) =>
            this.logger.warn({ err: error }, 'sweeping the temporary keys of killed writes failed; the next start tries again'),
        );
      }
      await checkCatalogPresent(this.config, this.serviceStore, storage.kind === 'fs' ? storage.root : null);
    }
    const catalog = await this.catalog().catch((error: unknown) => {
      this.catalogValue = undefined;
      throw catalogFailure(this.config, error);
    });
    await catalog.migrate().catch((error: unknown) => {
      const failure = catalogFailure(this.config, error);
      throw new BackendUnavailableError(`catalog (${this.config.database.kind}) migration failed: ${failure.message}`, { cause: error });
    });
    return { store, catalog };
  }

  /** Every kind's processor over these backends. */
  async processors(): Promise<JobProcessors<JobKinds>> {
    const { createJobProcessors } = await import('../jobs/index.js');
    const processors = createJobProcessors({
      store: this.store,
      catalog: await this.catalog(),
      codec: this.codec,
      logger: this.logger,
      config: this.config,
      archive: this.archive,
      ...(this.options.loadAhead !== undefined && { loadAhead: this.options.loadAhead }),
    });
    return this.options.processors ? this.options.processors(processors) : processors;
  }

  /** The job queue: a BullMQ producer with REDIS_URL, else an in-process queue running the processors. */
  jobs(): Promise<JobQueue<JobKinds>> {
    this.jobsValue ??= (async () => {
      const { queue } = this.config;
      if (queue.kind === 'redis') {
        const { BullmqJobQueue } = await import('../queue/bullmq.js');
        return new BullmqJobQueue<JobKinds>({
          url: queue.url,
          prefix: queue.prefix,
          policies: this.policies,
          logger: this.logger,
          ...(this.options.pollIntervalMs !== undefined && { pollIntervalMs: this.options.pollIntervalMs }),
          ...(this.options.operationTimeoutMs !== undefined && { operationTimeoutMs: this.options.operationTimeoutMs }),
        });
      }
      const { InlineJobQueue } = await import('../queue/inline.js');
      return new InlineJobQueue<JobKinds>({ processors: await this.processors(), policies: this.policies, logger: this.logger });
    })();
    return this.jobsValue;
  }

  /** The BullMQ consumer of every lane; `ready` says when it takes jobs. Needs REDIS_URL. */
  jobWorker(): Promise<JobWorker> {
    this.workerValue ??= (async () => {
      const { queue } = this.config;
      if (queue.kind !== 'redis') throw new BackendUnavailableError('REDIS_URL is not set: there is no queue to take jobs from');
      const { createJobWorker } = await import('../queue/bullmq-worker.js');
      return createJobWorker({
        url: queue.url,
        prefix: queue.prefix,
        policies: this.policies,
        processors: await this.processors(),
        logger: this.logger,
      });
    })();
    return this.workerValue;
  }

  /**
   * Closes what was opened: the consumer and the queue first (in-process, running jobs
   * finish), then the catalog and the stores. `jobsWithinMs` bounds the wait for running
   * jobs (a process past its grace period abandons them). Safe to call more than once.
   */
  close(options: { jobsWithinMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      const settle = async (what: string, value: Promise<{ close(): Promise<void> }> | undefined) => {
        // One that never opened has nothing to close (its failure was reported where it was asked for).
        const opened = await value?.catch(() => undefined);
        await opened?.close().catch((error: unknown) => this.logger.error({ err: error }, `closing the ${what} failed`));
      };
      const jobs = Promise.all([settle('job worker', this.workerValue), settle('job queue', this.jobsValue)]);
      if (options.jobsWithinMs === undefined) await jobs;
      else await settlesWithin(jobs, options.jobsWithinMs);
      await this.sweeping;
      const stores = this.storeValue !== undefined ? [this.storeValue] : [this.serviceStoreValue, this.archiveValue ?? undefined];
      await this.codecValue?.close();
      await Promise.all([
        settle('catalog', this.catalogValue),
        ...stores.map((store) => settle('object store', store && Promise.resolve(store))),
      ]);
    })();
    return this.closing;
  }
}

export function createBackends(config: Config, options: BackendOptions): Backends {
  return new Backends(config, options);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
