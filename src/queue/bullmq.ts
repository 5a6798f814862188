/**
 * The JobQueue over BullMQ on Redis (REDIS_URL set): API processes produce jobs, any number
 * of `btfhub worker` processes consume them (src/queue/bullmq-worker.ts).
 *
 * - Each lane of the policies is one BullMQ queue under the deployment's prefix (keys
 *   `<prefix>:<lane>:...`); a job's BullMQ name is its kind, its id the caller's (a content
 *   hash for trims, compat and bundles), so BullMQ itself turns identical requests into one
 *   job (adding an existing id is a no-op).
 * - Attempts, backoff and retention are the kind's policy, set on each job. The worker throws
 *   UnrecoverableError for failures that are not retryable; a job that failed for the
 *   service's reasons is retried again when it is enqueued again.
 * - Whether a failure was the client's is carried in the failed reason itself
 *   (`encodeFailure`), the one field BullMQ keeps for a failure.
 * - Redis being down never hangs a request: the producer connection does not queue commands
 *   while disconnected, and every call is bounded by `operationTimeoutMs`. Once the
 *   connection has been up and is lost, calls fail at once instead of waiting out the bound,
 *   until it is back: an outage costs clients a quick 503, not a slow one. Either way the
 *   caller gets a QueueUnavailableError, and the connection keeps reconnecting in the
 *   background, so the service recovers by itself.
 */
import { type Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  type DataOf,
  decodeFailure,
  type JobKindMap,
  type JobPolicies,
  type JobPolicy,
  type JobProgress,
  type JobQueue,
  type JobSchedule,
  type JobState,
  QueueUnavailableError,
  type StatusOf,
} from './job.js';

export interface BullmqJobQueueOptions<M extends JobKindMap> {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix (BTFHUB_QUEUE_PREFIX); one per deployment sharing a Redis. */
  prefix: string;
  policies: JobPolicies<M>;
  /** Bound on every Redis round trip of the producer. Default 5000 ms. */
  operationTimeoutMs?: number;
  /** While waiting, the job state is also polled this often, in case an event is missed. Default 1000 ms. */
  pollIntervalMs?: number;
  logger?: Logger;
}

type AnyJob = Job<unknown, unknown>;

export class BullmqJobQueue<M extends JobKindMap> implements JobQueue<M> {
  readonly inProcess = false;
  private readonly queues = new Map<string, Queue<unknown, unknown>>();
  /** Made on the first wait of a lane, once Redis has answered (see `eventsListener`). */
  private readonly events = new Map<string, QueueEvents>();
  private readonly connection: Redis;
  private readonly policies: JobPolicies<M>;
  private readonly url: string;
  private readonly prefix: string;
  private readonly operationTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger | undefined;
  private lastErrorLog = { message: '', at: 0 };
  private closed = false;
  /** Whether the connection was ready once: after that, a lost connection fails calls at once. */
  private everReady = false;

  constructor(options: BullmqJobQueueOptions<M>) {
    this.policies = options.policies;
    this.url = options.url;
    this.prefix = options.prefix;
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
      if (this.everReady) this.logger?.info('redis connection is back: job queue available again');
      this.everReady = true;
    });
    // Each request waiting for a reconnection listens for 'ready'.
    this.connection.setMaxListeners(0);
    for (const policy of Object.values<JobPolicy>(this.policies)) {
      if (this.queues.has(policy.lane)) continue;
      const queue = new Queue<unknown, unknown>(policy.lane, { connection: this.connection, prefix: options.prefix });
      queue.on('error', (error: Error) => this.logError(`${policy.lane} queue error`, error));
      this.queues.set(policy.lane, queue);
    }
  }

  /** The BullMQ queue of a lane (tests and admin tooling). */
  bullQueue(lane: string): Queue<unknown, unknown> {
    const queue = this.queues.get(lane);
    if (queue === undefined) throw new RangeError(`no lane ${JSON.stringify(lane)}`);
    return queue;
  }

  async enqueue<K extends keyof M & string>(kind: K, id: string, data: DataOf<M, K>): Promise<string> {
    const policy = this.policy(kind);
    return this.guard('enqueue', async () => {
      const job = await this.queueOf(kind).add(kind, data, { jobId: id, ...jobOptions(policy) });
      if ((await job.getState()) === 'failed') await this.retryServerFailure(kind, id);
      return id;
    });
  }

  async waitFor<K extends keyof M & string>(kind: K, id: string, timeoutMs: number): Promise<StatusOf<M, K>> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const first = await this.status(kind, id);
    if (isSettled(first.state)) return first;
    // From here on a finish event wakes the loop early; the state is also polled, since
    // QueueEvents may be (re)connecting when the event goes by.
    const events = this.eventsListener(this.policy(kind).lane);
    let signalled = false;
    let wake: () => void = () => {};
    const onFinished = (event: { jobId: string }) => {
      if (event.jobId !== id) return;
      signalled = true;
      wake();
    };
    events.on('completed', onFinished);
    events.on('failed', onFinished);
    try {
      for (;;) {
        const status = await this.status(kind, id);
        const left = deadline - Date.now();
        if (isSettled(status.state) || left <= 0) return status;
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

  async status<K extends keyof M & string>(kind: K, id: string): Promise<StatusOf<M, K>> {
    const queue = this.queueOf(kind);
    return this.guard('status', async () => {
      // The job hash and its state are two reads; a job that moves in between would show a
      // state its fields do not match (failed without a reason), so read until they agree.
      for (let attempt = 1; ; attempt++) {
        const before = await queue.getJobState(id);
        const job = await queue.getJob(id);
        if (job === undefined || job.name !== kind) return { id, state: 'unknown' };
        const after = await queue.getJobState(id);
        if (before === after || attempt === 3) return statusOf(job, after);
      }
    });
  }

  async recent<K extends keyof M & string>(kind: K, limit: number): Promise<StatusOf<M, K>[]> {
    if (limit <= 0) return [];
    const queue = this.queueOf(kind);
    // Over-fetch from a lane other kinds share: their jobs are filtered out below.
    const shared = this.kindsOfLane(this.policy(kind).lane) > 1;
    return this.guard('recent', async () => {
      const jobs: { job: AnyJob; state: string }[] = [];
      for (const state of ['active', 'waiting', 'delayed', 'completed', 'failed'] as const) {
        const found = await queue.getJobs([state], 0, shared ? limit * 4 - 1 : limit - 1, false);
        for (const job of found) if (job?.name === kind) jobs.push({ job, state });
      }
      jobs.sort((a, b) => b.job.timestamp - a.job.timestamp);
      return jobs.slice(0, limit).map(({ job, state }) => statusOf(job, state) as StatusOf<M, K>);
    });
  }

  async schedule<K extends keyof M & string>(
    kind: K,
    schedulerId: string,
    schedule: { data: DataOf<M, K>; everyMs: number } | null,
  ): Promise<void> {
    const queue = this.queueOf(kind);
    const policy = this.policy(kind);
    await this.guard('schedule', async () => {
      if (schedule === null || schedule.everyMs <= 0) {
        await queue.removeJobScheduler(schedulerId);
        return;
      }
      await queue.upsertJobScheduler(
        schedulerId,
        { every: schedule.everyMs },
        { name: kind, data: schedule.data, opts: jobOptions(policy) },
      );
    });
  }

  async scheduled<K extends keyof M & string>(kind: K, schedulerId: string): Promise<JobSchedule<DataOf<M, K>> | null> {
    const queue = this.queueOf(kind);
    return this.guard('scheduled', async () => {
      const scheduler = await queue.getJobScheduler(schedulerId);
      if (scheduler === undefined || scheduler.name !== kind) return null;
      return {
        data: scheduler.template?.data as DataOf<M, K>,
        everyMs: scheduler.every ?? 0,
        nextRunAt: scheduler.next !== undefined ? new Date(scheduler.next) : null,
      };
    });
  }

  async depth(kinds: readonly (keyof M & string)[]): Promise<number> {
    const lanes = [...new Set(kinds.map((kind) => this.policy(kind).lane))];
    return this.guard('depth', async () => {
      let total = 0;
      for (const lane of lanes) {
        const counts = await this.bullQueue(lane).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
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
    const closing = Promise.allSettled([
      ...[...this.queues.values()].map((q) => q.close()),
      ...[...this.events.values()].map((e) => e.close()),
    ]);
    // BullMQ's close can wait for a connection that never comes up; do not hang shutdown on it.
    const closed = await Promise.race([closing.then(() => true), delay(this.operationTimeoutMs).then(() => false)]);
    if (!closed) this.logger?.warn('job queue did not close in time; disconnecting');
    this.connection.disconnect();
  }

  private policy(kind: string): JobPolicy {
    const policy = (this.policies as Record<string, JobPolicy | undefined>)[kind];
    if (policy === undefined) throw new RangeError(`unknown job kind ${JSON.stringify(kind)}`);
    return policy;
  }

  private queueOf(kind: string): Queue<unknown, unknown> {
    return this.bullQueue(this.policy(kind).lane);
  }

  private kindsOfLane(lane: string): number {
    return Object.values<JobPolicy>(this.policies).filter((p) => p.lane === lane).length;
  }

  /**
   * The QueueEvents of a lane, made on first use. Not made up front: BullMQ's
   * QueueEvents.close waits for a first connection, so one made while Redis is down would
   * hang the API's shutdown; waitFor only gets here after Redis has answered.
   */
  private eventsListener(lane: string): QueueEvents {
    let events = this.events.get(lane);
    if (events === undefined) {
      // It blocks on XREAD, so it needs its own connection; BullMQ makes it from these options.
      events = new QueueEvents(lane, {
        connection: { url: this.url, retryStrategy: (times: number) => Math.min(200 * times, 2000) },
        prefix: this.prefix,
      });
      events.on('error', (error: Error) => this.logError(`${lane} queue events error`, error));
      // Every waitFor in progress listens; the API may have many at once.
      events.setMaxListeners(0);
      this.events.set(lane, events);
    }
    return events;
  }

  /** A job that failed for the service's reasons gets another chance; a client error stands. */
  private async retryServerFailure(kind: string, id: string): Promise<void> {
    const job = await this.queueOf(kind).getJob(id);
    if (job === undefined || decodeFailure(job.failedReason ?? '').clientError) return;
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    } catch (error) {
      // Another producer retried it first, or it was removed meanwhile: either way it is handled.
      this.logger?.debug({ jobId: id, err: error }, 'retrying a failed job raced with another producer');
    }
  }

  /** Runs one Redis operation, bounded in time, with failures as QueueUnavailableError. */
  private async guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new QueueUnavailableError('the job queue is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`job queue ${operation}: Redis did not answer within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.whenConnected().then(run), timeout]);
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new QueueUnavailableError(`job queue ${operation}: ${message}`, { cause: error });
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
      return Promise.reject(new QueueUnavailableError(`job queue: the Redis connection is down (${this.connection.status}); reconnecting`));
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

/** A kind's policy as BullMQ job options. */
function jobOptions(policy: JobPolicy) {
  return {
    attempts: Math.max(1, policy.attempts),
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: policy.keepCompleted.ageSeconds, count: policy.keepCompleted.count },
    removeOnFail: { age: policy.keepFailed.ageSeconds, count: policy.keepFailed.count },
  };
}

const STATES: Readonly<Record<string, JobState>> = {
  waiting: 'waiting',
  'waiting-children': 'waiting',
  prioritized: 'waiting',
  delayed: 'waiting', // waiting for a retry
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

function isProgress(value: unknown): value is JobProgress {
  return typeof value === 'object' && value !== null && typeof (value as JobProgress).done === 'number';
}

function statusOf(job: AnyJob, bullState: string): StatusOf<JobKindMap, string> {
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

/** Completed, failed, or gone: nothing more to wait for. */
function isSettled(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'unknown';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
