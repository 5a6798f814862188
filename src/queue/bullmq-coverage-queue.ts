/**
 * The CoverageQueue over BullMQ (REDIS_URL set): two queues beside `trim`, under the same
 * prefix, run by `btfhub worker` (src/worker/coverage-worker.ts):
 *
 *   coverage   compat and bundle jobs (job name = kind, id = objectsJobId)
 *   sync       archive syncs: the repeatable one (job scheduler `archive-sync`, every
 *              BTFHUB_SYNC_INTERVAL_MS) and those an admin asks for (`sync-...`)
 *
 * A separate `sync` queue keeps the sync history (`GET /api/v1/sync`) from being pushed out
 * by many compat jobs. Failures carry whether the client was at fault the way trim jobs do
 * (`encodeFailure`); every Redis call is bounded in time and fails as QueueUnavailableError.
 */
import { type Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decodeFailure } from './bullmq-queue.js';
import {
  coverageJobKind, type CoverageJobData, type CoverageJobKind, type CoverageJobResult, type CoverageJobStatus, type CoverageQueue,
  type JobProgress, type SyncSchedule,
} from './coverage-queue.js';
import { QueueUnavailableError, type TrimJobState } from './trim-queue.js';

export const COVERAGE_QUEUE_NAME = 'coverage';
export const SYNC_QUEUE_NAME = 'sync';
/** The job scheduler of the periodic sync. */
export const SYNC_SCHEDULER_ID = 'archive-sync';

export interface BullmqCoverageQueueOptions {
  url: string;
  prefix: string;
  /** Bound on every Redis round trip. Default 5000 ms. */
  operationTimeoutMs?: number;
  /** How often `waitFor` looks at the job. Default 250 ms. */
  pollIntervalMs?: number;
  logger?: Logger;
}

type AnyJob = Job<CoverageJobData, CoverageJobResult>;

const STATES: Readonly<Record<string, TrimJobState>> = {
  waiting: 'waiting',
  'waiting-children': 'waiting',
  prioritized: 'waiting',
  delayed: 'waiting',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

export class BullmqCoverageQueue implements CoverageQueue {
  readonly coverage: Queue<CoverageJobData, CoverageJobResult>;
  readonly sync: Queue<CoverageJobData, CoverageJobResult>;
  private readonly connection: Redis;
  private readonly operationTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger | undefined;
  private closed = false;

  constructor(options: BullmqCoverageQueueOptions) {
    this.operationTimeoutMs = options.operationTimeoutMs ?? 5000;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.logger = options.logger;
    this.connection = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.operationTimeoutMs,
      retryStrategy: (times) => Math.min(200 * times, 2000),
    });
    this.connection.on('error', (error: Error) => this.logger?.debug({ err: error }, 'coverage queue redis error'));
    this.connection.setMaxListeners(0);
    this.coverage = new Queue(COVERAGE_QUEUE_NAME, {
      connection: this.connection,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: 2,
        backoff: { type: 'exponential', delay: 2000 },
        removeOnComplete: { age: 86_400, count: 1000 },
        removeOnFail: { age: 86_400, count: 1000 },
      },
    });
    this.sync = new Queue(SYNC_QUEUE_NAME, {
      connection: this.connection,
      prefix: options.prefix,
      defaultJobOptions: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
    for (const queue of [this.coverage, this.sync]) queue.on('error', (error: Error) => this.logger?.warn({ err: error }, 'coverage queue error'));
  }

  private queueOf(kind: CoverageJobKind): Queue<CoverageJobData, CoverageJobResult> {
    return kind === 'sync' ? this.sync : this.coverage;
  }

  async enqueue(id: string, data: CoverageJobData): Promise<string> {
    return this.guard('enqueue', async () => {
      const queue = this.queueOf(data.kind);
      const job = await queue.add(data.kind, data, { jobId: id });
      if ((await job.getState()) === 'failed' && !decodeFailure(job.failedReason ?? '').clientError) {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(() => {});
      }
      return id;
    });
  }

  async waitFor(id: string, timeoutMs: number): Promise<CoverageJobStatus> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const status = await this.status(id);
      const left = deadline - Date.now();
      if (status.state === 'completed' || status.state === 'failed' || status.state === 'unknown' || left <= 0) return status;
      await delay(Math.min(left, this.pollIntervalMs));
    }
  }

  async status(id: string): Promise<CoverageJobStatus> {
    const kind = coverageJobKind(id) ?? (id.startsWith(`repeat:${SYNC_SCHEDULER_ID}:`) ? 'sync' : null);
    if (kind === null) return { id, state: 'unknown' };
    return this.guard('status', async () => {
      const queue = this.queueOf(kind);
      const job = await queue.getJob(id);
      if (job === undefined) return { id, state: 'unknown' };
      return statusOf(job, await job.getState());
    });
  }

  async recent(kind: CoverageJobKind, limit: number): Promise<CoverageJobStatus[]> {
    if (limit <= 0) return [];
    return this.guard('recent', async () => {
      const queue = this.queueOf(kind);
      const jobs: { job: AnyJob; state: string }[] = [];
      for (const state of ['active', 'waiting', 'completed', 'failed'] as const) {
        // Over-fetch for the coverage queue, where compat and bundle jobs mix.
        const found = await queue.getJobs([state], 0, kind === 'sync' ? limit - 1 : limit * 4 - 1, false);
        for (const job of found) if (job?.name === kind) jobs.push({ job, state });
      }
      jobs.sort((a, b) => b.job.timestamp - a.job.timestamp);
      return jobs.slice(0, limit).map(({ job, state }) => statusOf(job, state));
    });
  }

  async scheduleSync(source: string | null, intervalMs: number): Promise<void> {
    await this.guard('scheduleSync', async () => {
      if (source === null || intervalMs <= 0) {
        await this.sync.removeJobScheduler(SYNC_SCHEDULER_ID);
        return;
      }
      await this.sync.upsertJobScheduler(
        SYNC_SCHEDULER_ID,
        { every: intervalMs },
        { name: 'sync', data: { kind: 'sync', source, trigger: 'schedule' }, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
      );
    });
  }

  async syncSchedule(): Promise<SyncSchedule> {
    return this.guard('syncSchedule', async () => {
      const scheduler = await this.sync.getJobScheduler(SYNC_SCHEDULER_ID);
      if (scheduler === undefined) return { source: null, intervalMs: 0, nextRunAt: null };
      const data = scheduler.template?.data;
      return {
        source: data?.kind === 'sync' ? data.source : null,
        intervalMs: scheduler.every ?? 0,
        nextRunAt: scheduler.next !== undefined ? new Date(scheduler.next) : null,
      };
    });
  }

  async depth(): Promise<number> {
    return this.guard('depth', async () => {
      let total = 0;
      for (const queue of [this.coverage, this.sync]) {
        const counts = await queue.getJobCounts('waiting', 'active', 'prioritized');
        total += Object.values(counts).reduce((sum, n) => sum + n, 0);
      }
      return total;
    });
  }

  async check(): Promise<void> {
    await this.guard('check', async () => {
      await this.connection.ping();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = Promise.allSettled([this.coverage.close(), this.sync.close()]);
    await Promise.race([closing, delay(this.operationTimeoutMs)]);
    this.connection.disconnect();
  }

  private async guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new QueueUnavailableError('the coverage queue is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`coverage queue ${operation}: Redis did not answer within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.whenConnected().then(run), timeout]);
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw error;
      throw new QueueUnavailableError(`coverage queue ${operation}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  private whenConnected(): Promise<void> {
    if (this.connection.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.connection.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, this.operationTimeoutMs);
      this.connection.on('ready', done);
    });
  }
}

function isProgress(value: unknown): value is JobProgress {
  return typeof value === 'object' && value !== null && typeof (value as JobProgress).done === 'number';
}

function statusOf(job: AnyJob, bullState: string): CoverageJobStatus {
  const state = STATES[bullState] ?? 'unknown';
  return {
    id: job.id ?? '',
    state,
    data: job.data,
    ...(isProgress(job.progress) && { progress: job.progress }),
    ...(state === 'completed' && job.returnvalue != null && { result: job.returnvalue }),
    ...(state === 'failed' && { error: decodeFailure(job.failedReason ?? '') }),
    createdAt: new Date(job.timestamp),
    ...(job.processedOn != null && { startedAt: new Date(job.processedOn) }),
    ...(job.finishedOn != null && { finishedAt: new Date(job.finishedOn) }),
    attempts: Math.max(job.attemptsStarted ?? 0, job.attemptsMade ?? 0),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
