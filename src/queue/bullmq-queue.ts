/**
 * The TrimQueue over BullMQ on Redis (REDIS_URL set): the API process produces jobs, any
 * number of `btfhub worker` processes consume them (src/worker/worker.ts).
 *
 * - The job id is `trimJobId`, so BullMQ itself turns concurrent identical requests into
 *   one job (adding an existing id is a no-op).
 * - Server errors are retried (`attempts`, exponential backoff); the worker throws
 *   UnrecoverableError for client errors, which BullMQ never retries. A job that failed with
 *   a server error is retried again when it is enqueued again.
 * - Whether a failure was the client's is carried in the failed reason itself
 *   (`client error: ...`), the one field BullMQ keeps for a failure.
 * - Redis being down never hangs a request: the producer connection does not queue commands
 *   while disconnected, and every call is bounded by `operationTimeoutMs`. Once the
 *   connection has been up and is lost, calls fail at once instead of waiting out the bound,
 *   until it is back: an outage costs clients a quick 503, not a slow one. Either way the
 *   caller gets a QueueUnavailableError (the API's 503), and the connection keeps
 *   reconnecting in the background, so the service recovers by itself.
 */
import { type Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  QueueUnavailableError,
  trimJobId,
  type TrimJobData,
  type TrimJobResult,
  type TrimJobState,
  type TrimJobStatus,
  type TrimQueue,
} from './trim-queue.js';

/** The BullMQ queue name under the configured prefix (keys `<prefix>:trim:...`). */
export const TRIM_QUEUE_NAME = 'trim';
/** BullMQ job name of a trim. */
export const TRIM_JOB_NAME = 'trim';

/** Marks the failed reason of a client error. */
const CLIENT_ERROR_PREFIX = 'client error: ';

/** The failed reason BullMQ stores for an error, telling client errors apart. */
export function encodeFailure(message: string, clientError: boolean): string {
  return clientError ? `${CLIENT_ERROR_PREFIX}${message}` : message;
}

/** The reverse of `encodeFailure`. */
export function decodeFailure(reason: string): { message: string; clientError: boolean } {
  return reason.startsWith(CLIENT_ERROR_PREFIX)
    ? { message: reason.slice(CLIENT_ERROR_PREFIX.length), clientError: true }
    : { message: reason, clientError: false };
}

export interface TrimJobRetention {
  /** Seconds a finished job is kept. */
  age: number;
  /** Finished jobs kept at most. */
  count: number;
}

export interface BullmqTrimQueueOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix (BTFHUB_QUEUE_PREFIX); one per deployment sharing a Redis. */
  prefix: string;
  /** Bound on every Redis round trip of the producer. Default 5000 ms. */
  operationTimeoutMs?: number;
  /** Runs per job when server errors are retryable. Default 3. */
  attempts?: number;
  /** First retry delay, doubled for each later one. Default 2000 ms. */
  backoffMs?: number;
  /** Completed jobs: default one hour, at most 10000. */
  keepCompleted?: TrimJobRetention;
  /** Failed jobs: default one day, at most 10000. */
  keepFailed?: TrimJobRetention;
  /** While waiting, the job state is also polled this often, in case an event is missed. Default 1000 ms. */
  pollIntervalMs?: number;
  logger?: Logger;
}

export class BullmqTrimQueue implements TrimQueue {
  /** The BullMQ queue, for tests and admin tooling. */
  readonly queue: Queue<TrimJobData, TrimJobResult>;
  /** Made on the first wait, once Redis has answered (see `eventsListener`). */
  private events: QueueEvents | undefined;
  private readonly connection: Redis;
  private readonly url: string;
  private readonly prefix: string;
  private readonly operationTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger | undefined;
  private lastErrorLog = { message: '', at: 0 };
  private closed = false;
  /** Whether the connection was ready once: after that, a lost connection fails calls at once. */
  private everReady = false;

  constructor(options: BullmqTrimQueueOptions) {
    this.operationTimeoutMs = options.operationTimeoutMs ?? 5000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.logger = options.logger;
    // The producer connection fails fast: no offline queue, one retry per command, a
    // bounded connect. It keeps reconnecting in the background, so the queue recovers
    // on its own once Redis is back.
    this.connection = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.operationTimeoutMs,
      retryStrategy: (times) => Math.min(200 * times, 2000),
    });
    this.connection.on('error', (error: Error) => this.logError('redis connection error', error));
    this.connection.on('ready', () => {
      if (this.everReady) this.logger?.info('redis connection is back: trim queue available again');
      this.everReady = true;
    });
    // Each request waiting for a reconnection listens for 'ready'.
    this.connection.setMaxListeners(0);
    const keepCompleted = options.keepCompleted ?? { age: 3600, count: 10_000 };
    const keepFailed = options.keepFailed ?? { age: 86_400, count: 10_000 };
    this.queue = new Queue<TrimJobData, TrimJobResult>(TRIM_QUEUE_NAME, {
      connection: this.connection,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: Math.max(1, options.attempts ?? 3),
        backoff: { type: 'exponential', delay: options.backoffMs ?? 2000 },
        removeOnComplete: keepCompleted,
        removeOnFail: keepFailed,
      },
    });
    this.queue.on('error', (error: Error) => this.logError('trim queue error', error));
    this.url = options.url;
    this.prefix = options.prefix;
  }

  async enqueue(data: TrimJobData): Promise<string> {
    const id = trimJobId(data.objectsHash, data.kernel);
    return this.guard('enqueue', async () => {
      const job = await this.queue.add(TRIM_JOB_NAME, data, { jobId: id });
      if ((await job.getState()) === 'failed') await this.retryServerFailure(id);
      return id;
    });
  }

  async waitFor(jobId: string, timeoutMs: number): Promise<TrimJobStatus> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const first = await this.status(jobId);
    if (isSettled(first)) return first;
    // From here on a finish event wakes the loop early; the state is also polled, since
    // QueueEvents may be (re)connecting when the event goes by.
    const events = this.eventsListener();
    let signalled = false;
    let wake: () => void = () => {};
    const onFinished = (event: { jobId: string }) => {
      if (event.jobId !== jobId) return;
      signalled = true;
      wake();
    };
    events.on('completed', onFinished);
    events.on('failed', onFinished);
    try {
      for (;;) {
        const status = await this.status(jobId);
        const left = deadline - Date.now();
        if (isSettled(status) || left <= 0) return status;
        // An event that came while we looked means: look again now.
        if (!signalled) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(left, this.pollIntervalMs));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = () => {};
        }
        signalled = false;
      }
    } finally {
      events.off('completed', onFinished);
      events.off('failed', onFinished);
    }
  }

  async status(jobId: string): Promise<TrimJobStatus> {
    return this.guard('status', async () => {
      // The job hash and its state are two reads; a job that moves in between would show a
      // state its fields do not match (failed without a reason), so read until they agree.
      for (let attempt = 1; ; attempt++) {
        const before = await this.queue.getJobState(jobId);
        const job = await this.queue.getJob(jobId);
        if (job === undefined) return { id: jobId, state: 'unknown' };
        const after = await this.queue.getJobState(jobId);
        if (before === after || attempt === 3) return statusOf(job, after);
      }
    });
  }

  async depth(): Promise<number> {
    return this.guard('depth', async () => {
      const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
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
    const closing = Promise.allSettled([this.queue.close(), this.events?.close()]);
    // BullMQ's close can wait for a connection that never comes up; do not hang shutdown on it.
    const closed = await Promise.race([closing.then(() => true), delay(this.operationTimeoutMs).then(() => false)]);
    if (!closed) this.logger?.warn('trim queue did not close in time; disconnecting');
    this.connection.disconnect();
  }

  /**
   * The QueueEvents of this producer, made on first use. Not made up front: BullMQ's
   * QueueEvents.close waits for a first connection, so one made while Redis is down would
   * hang the API's shutdown; waitFor only gets here after Redis has answered.
   */
  private eventsListener(): QueueEvents {
    if (this.events === undefined) {
      // It blocks on XREAD, so it needs its own connection; BullMQ makes it from these options.
      this.events = new QueueEvents(TRIM_QUEUE_NAME, {
        connection: { url: this.url, retryStrategy: (times: number) => Math.min(200 * times, 2000) },
        prefix: this.prefix,
      });
      this.events.on('error', (error: Error) => this.logError('trim queue events error', error));
      // Every waitFor in progress listens; the API may have many at once.
      this.events.setMaxListeners(0);
    }
    return this.events;
  }

  /** A job that failed for the service's reasons gets another chance; a client error stands. */
  private async retryServerFailure(id: string): Promise<void> {
    const job = await this.queue.getJob(id);
    if (job === undefined || decodeFailure(job.failedReason ?? '').clientError) return;
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    } catch (error) {
      // Another producer retried it first, or it was removed meanwhile: either way it is handled.
      this.logger?.debug({ jobId: id, err: error }, 'retrying a failed trim job raced with another producer');
    }
  }

  /** Runs one Redis operation, bounded in time, with failures as QueueUnavailableError. */
  private async guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new QueueUnavailableError('the trim queue is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`trim queue ${operation}: Redis did not answer within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.whenConnected().then(run), timeout]);
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new QueueUnavailableError(`trim queue ${operation}: ${message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once the producer connection is ready. Commands are not queued while it is
   * down, so without this the first request after start-up (or after a blip) would fail
   * although the connection is a moment away; `guard` bounds the wait.
   */
  private whenConnected(): Promise<void> {
    if (this.connection.status === 'ready') return Promise.resolve();
    if (this.everReady) {
      return Promise.reject(new QueueUnavailableError(`trim queue: the Redis connection is down (${this.connection.status}); reconnecting`));
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.connection.off('ready', done);
        resolve();
      };
      // Past the guard's bound the operation has failed anyway; stop listening then.
      const timer = setTimeout(done, this.operationTimeoutMs);
      this.connection.on('ready', done);
    });
  }

  /** Logs connection trouble once per distinct message and at most every 30 s, not once per reconnect attempt. */
  private logError(what: string, error: Error): void {
    const now = Date.now();
    if (error.message === this.lastErrorLog.message && now - this.lastErrorLog.at < 30_000) return;
    this.lastErrorLog = { message: error.message, at: now };
    this.logger?.warn({ err: error }, what);
  }
}

export function createBullmqTrimQueue(options: BullmqTrimQueueOptions): BullmqTrimQueue {
  return new BullmqTrimQueue(options);
}

const STATES: Readonly<Record<string, TrimJobState>> = {
  waiting: 'waiting',
  'waiting-children': 'waiting',
  prioritized: 'waiting',
  delayed: 'waiting', // waiting for a retry
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

function statusOf(job: Job<TrimJobData, TrimJobResult>, bullState: string): TrimJobStatus {
  const state = STATES[bullState] ?? 'unknown';
  return {
    id: job.id ?? '',
    state,
    data: job.data,
    ...(state === 'completed' && job.returnvalue != null && { result: job.returnvalue }),
    ...(state === 'failed' && { error: decodeFailure(job.failedReason ?? '') }),
    createdAt: new Date(job.timestamp),
    ...(job.processedOn != null && { startedAt: new Date(job.processedOn) }),
    ...(job.finishedOn != null && { finishedAt: new Date(job.finishedOn) }),
    attempts: Math.max(job.attemptsStarted ?? 0, job.attemptsMade ?? 0),
  };
}

/** Completed, failed, or gone: nothing more to wait for. */
function isSettled(status: TrimJobStatus): boolean {
  return status.state === 'completed' || status.state === 'failed' || status.state === 'unknown';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
