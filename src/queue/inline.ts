/**
 * The in-process JobQueue of the embedded default (no REDIS_URL): jobs run in this process,
 * with the contract of the BullMQ queue. Per kind, its JobPolicy says how:
 *
 *   - one runner per lane, at most `concurrency` jobs of the lane at once;
 *   - an id that is waiting, running or finished is not added again, unless it failed for
 *     the service's reasons (then it runs again), as BullMQ keeps a finished job;
 *   - retryable failures run again after `backoffMs`, doubled each time, up to `attempts`
 *     runs; a run past `timeoutMs` fails with a retryable TIMEOUT;
 *   - finished jobs are remembered per kind up to `keepCompleted` / `keepFailed` (count and
 *     age), long enough for `status` after `waitFor`; results live in the store and catalog;
 *   - a schedule is a timer that enqueues a fresh job of its kind, unless one of that kind is
 *     already waiting or running.
 */
import type { Logger } from 'pino';
import {
  type DataOf,
  freshJobId,
  type JobFailure,
  type JobKindMap,
  type JobPolicies,
  type JobPolicy,
  type JobProcessors,
  type JobProgress,
  type JobQueue,
  type JobSchedule,
  type JobState,
  QueueUnavailableError,
  type StatusOf,
  toJobError,
  withJobTimeout,
} from './job.js';

export interface InlineJobQueueOptions<M extends JobKindMap> {
  processors: JobProcessors<M>;
  policies: JobPolicies<M>;
  logger?: Logger;
  /** Finished jobs kept per kind and state at most, whatever the policy's count (default INLINE_MAX_KEPT). */
  maxKept?: number;
}

/**
 * Finished jobs this queue keeps per kind and state at most. The policies' counts are sized
 * for Redis (BullMQ keeps 10,000 finished trims there); here a finished job lives in the
 * API's own heap (~1.4 KB with its data, result and dates), and a steady stream of new
 * trims kept 10,000 of them churning through the old generation: the soak saw the main
 * thread's committed heap double. A status is read within seconds of a 202; a trim forgotten
 * sooner answers `job_lost` and the client's POST again is answered from the catalog.
 */
export const INLINE_MAX_KEPT = 1000;

interface InlineJob {
  id: string;
  kind: string;
  data: unknown;
  state: Exclude<JobState, 'unknown'>;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts: number;
  progress?: JobProgress;
  result?: unknown;
  error?: JobFailure;
  /** Resolves once the job is completed or failed for good. */
  finished: Promise<void>;
  markFinished: () => void;
  retryTimer?: NodeJS.Timeout;
}

interface Lane {
  concurrency: number;
  active: number;
  ready: InlineJob[];
}

interface Schedule {
  kind: string;
  data: unknown;
  everyMs: number;
  timer: NodeJS.Timeout;
  nextRunAt: Date;
}

export class InlineJobQueue<M extends JobKindMap> implements JobQueue<M> {
  readonly inProcess = true;
  private readonly processors: JobProcessors<M>;
  private readonly policies: JobPolicies<M>;
  private readonly logger: Logger | undefined;
  private readonly lanes = new Map<string, Lane>();
  /** Jobs waiting (queued or in backoff) or active, by id. */
  private readonly live = new Map<string, InlineJob>();
  /** Completed or failed, by id. */
  private readonly finished = new Map<string, InlineJob>();
  /** The same by kind and state, oldest first, for retention. */
  private readonly finishedGroups = new Map<string, Map<string, InlineJob>>();
  private readonly schedules = new Map<string, Schedule>();
  private readonly maxKept: number;
  private closed = false;

  constructor(options: InlineJobQueueOptions<M>) {
    this.processors = options.processors;
    this.policies = options.policies;
    this.logger = options.logger;
    this.maxKept = options.maxKept ?? INLINE_MAX_KEPT;
    for (const policy of Object.values<JobPolicy>(this.policies)) {
      if (!Number.isInteger(policy.concurrency) || policy.concurrency < 1) {
        throw new RangeError(`concurrency of lane ${policy.lane} must be a positive integer, got ${policy.concurrency}`);
      }
      const lane = this.lanes.get(policy.lane);
      if (lane === undefined) this.lanes.set(policy.lane, { concurrency: policy.concurrency, active: 0, ready: [] });
      else lane.concurrency = Math.max(lane.concurrency, policy.concurrency);
    }
  }

  async enqueue<K extends keyof M & string>(kind: K, id: string, data: DataOf<M, K>): Promise<string> {
    if (this.closed) throw new QueueUnavailableError('the job queue is closed');
    const policy = this.policy(kind);
    const existing = this.live.get(id);
    if (existing !== undefined) return id;
    const done = this.finished.get(id);
    if (done !== undefined) {
      // Same as BullMQ keeping a finished job: the result (or the client's error) stands.
      // A server failure may be gone by now, so that job runs again.
      if (!(done.state === 'failed' && done.error?.clientError === false)) return id;
      this.finished.delete(id);
      this.finishedGroups.get(`${done.kind}\0${done.state}`)?.delete(id);
    }
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const job: InlineJob = { id, kind, data, state: 'waiting', createdAt: new Date(), attempts: 0, finished, markFinished };
    this.live.set(id, job);
    this.lanes.get(policy.lane)!.ready.push(job);
    this.pump(policy.lane);
    return id;
  }

  async waitFor<K extends keyof M & string>(kind: K, id: string, timeoutMs: number): Promise<StatusOf<M, K>> {
    const job = this.live.get(id);
    if (job !== undefined && job.kind === kind) await settleWithin(job.finished, timeoutMs);
    return this.status(kind, id);
  }

  async status<K extends keyof M & string>(kind: K, id: string): Promise<StatusOf<M, K>> {
    const job = this.live.get(id) ?? this.finished.get(id);
    if (job === undefined || job.kind !== kind) return { id, state: 'unknown' };
    return statusOf(job);
  }

  async recent<K extends keyof M & string>(kind: K, limit: number): Promise<StatusOf<M, K>[]> {
    const jobs = [...this.live.values(), ...this.finished.values()].filter((j) => j.kind === kind);
    jobs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    return jobs.slice(0, Math.max(0, limit)).map((job) => statusOf(job) as StatusOf<M, K>);
  }

  async schedule<K extends keyof M & string>(
    kind: K,
    schedulerId: string,
    schedule: { data: DataOf<M, K>; everyMs: number } | null,
  ): Promise<void> {
    this.policy(kind);
    clearInterval(this.schedules.get(schedulerId)?.timer);
    this.schedules.delete(schedulerId);
    if (schedule === null || schedule.everyMs <= 0 || this.closed) return;
    const { data, everyMs } = schedule;
    const tick = () => {
      entry.nextRunAt = new Date(Date.now() + everyMs);
      const running = [...this.live.values()].some((j) => j.kind === kind);
      if (running) return; // a long run is not stacked up behind itself
      this.enqueue(kind, freshJobId(kind), data).catch((error: unknown) =>
        this.logger?.warn({ err: error, kind }, 'scheduled job not enqueued'),
      );
    };
    const timer = setInterval(tick, everyMs);
    timer.unref();
    const entry: Schedule = { kind, data, everyMs, timer, nextRunAt: new Date(Date.now() + everyMs) };
    this.schedules.set(schedulerId, entry);
  }

  async scheduled<K extends keyof M & string>(kind: K, schedulerId: string): Promise<JobSchedule<DataOf<M, K>> | null> {
    const entry = this.schedules.get(schedulerId);
    if (entry === undefined || entry.kind !== kind) return null;
    return { data: entry.data as DataOf<M, K>, everyMs: entry.everyMs, nextRunAt: entry.nextRunAt };
  }

  async depth(kinds: readonly (keyof M & string)[]): Promise<number> {
    const lanes = new Set(kinds.map((kind) => this.policy(kind).lane));
    let count = 0;
    for (const job of this.live.values()) if (lanes.has(this.policy(job.kind).lane)) count++;
    return count;
  }

  async check(): Promise<void> {
    if (this.closed) throw new QueueUnavailableError('the job queue is closed');
  }

  /**
   * Stops the schedules and new jobs, and waits for the running ones. Jobs that have not
   * started fail with a server error (the process is going away; the client asks again).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { timer } of this.schedules.values()) clearInterval(timer);
    this.schedules.clear();
    const running: Promise<void>[] = [];
    for (const job of [...this.live.values()]) {
      if (job.state === 'active') {
        running.push(job.finished);
        continue;
      }
      clearTimeout(job.retryTimer);
      this.finish(job, { error: { message: 'the service shut down before the job ran', clientError: false } });
    }
    for (const lane of this.lanes.values()) lane.ready.length = 0;
    await Promise.all(running);
  }

  private policy(kind: string): JobPolicy {
    const policy = (this.policies as Record<string, JobPolicy | undefined>)[kind];
    if (policy === undefined) throw new RangeError(`unknown job kind ${JSON.stringify(kind)}`);
    return policy;
  }

  private pump(laneName: string): void {
    const lane = this.lanes.get(laneName)!;
    while (!this.closed && lane.active < lane.concurrency) {
      const job = lane.ready.shift();
      if (job === undefined) return;
      void this.run(lane, job);
    }
  }

  private async run(lane: Lane, job: InlineJob): Promise<void> {
    const policy = this.policy(job.kind);
    const processor = this.processors[job.kind as keyof M];
    lane.active++;
    job.state = 'active';
    job.attempts++;
    job.startedAt = new Date();
    try {
      const work = processor(job.data, { id: job.id, progress: (p) => (job.progress = { ...p }) });
      const result = policy.timeoutMs === undefined ? await work : await withJobTimeout(work, policy.timeoutMs);
      this.finish(job, { result });
    } catch (caught) {
      const error = toJobError(caught);
      if (error.retryable && job.attempts < policy.attempts && !this.closed) {
        const delay = policy.backoffMs * 2 ** (job.attempts - 1);
        this.logger?.warn(
          { jobId: job.id, kind: job.kind, attempt: job.attempts, delay, err: error },
          `${job.kind} job failed, will retry`,
        );
        job.state = 'waiting';
        job.retryTimer = setTimeout(() => {
          job.retryTimer = undefined;
          if (this.closed) return;
          lane.ready.push(job);
          this.pump(policy.lane);
        }, delay);
      } else {
        if (!error.clientError)
          this.logger?.error({ jobId: job.id, kind: job.kind, attempts: job.attempts, err: error }, `${job.kind} job failed`);
        this.finish(job, { error: { message: error.message, clientError: error.clientError } });
      }
    } finally {
      lane.active--;
      this.pump(policy.lane);
    }
  }

  private finish(job: InlineJob, outcome: { result: unknown } | { error: JobFailure }): void {
    if ('result' in outcome) {
      job.state = 'completed';
      job.result = outcome.result;
    } else {
      job.state = 'failed';
      job.error = outcome.error;
    }
    job.finishedAt = new Date();
    this.live.delete(job.id);
    this.finished.set(job.id, job);
    this.forgetOld(job);
    job.markFinished();
  }

  /**
   * Drops the kind's finished jobs past their retention, oldest first. Per kind and state,
   * so many trims do not push the sync history out, nor many successes a failure.
   */
  private forgetOld(job: InlineJob): void {
    const policy = this.policy(job.kind);
    const keep = job.state === 'completed' ? policy.keepCompleted : policy.keepFailed;
    const group = `${job.kind}\0${job.state}`;
    let jobs = this.finishedGroups.get(group);
    if (jobs === undefined) this.finishedGroups.set(group, (jobs = new Map<string, InlineJob>()));
    jobs.set(job.id, job);
    const oldestKept = Date.now() - keep.ageSeconds * 1000;
    for (const old of jobs.values()) {
      if (jobs.size <= Math.min(keep.count, this.maxKept) && old.finishedAt!.getTime() >= oldestKept) break;
      jobs.delete(old.id);
      this.finished.delete(old.id);
    }
  }
}

function statusOf(job: InlineJob): StatusOf<JobKindMap, string> {
  return {
    id: job.id,
    state: job.state,
    data: job.data,
    ...(job.progress !== undefined && { progress: { ...job.progress } }),
    ...(job.result !== undefined && { result: job.result }),
    ...(job.error !== undefined && { error: { ...job.error } }),
    createdAt: job.createdAt,
    ...(job.startedAt !== undefined && { startedAt: job.startedAt }),
    ...(job.finishedAt !== undefined && { finishedAt: job.finishedAt }),
    attempts: job.attempts,
  };
}

/** Resolves when `promise` settles or after `ms`, whichever is first. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms)))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
