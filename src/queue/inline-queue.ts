/**
 * The in-process TrimQueue of the embedded default (no REDIS_URL): jobs run in the API
 * process itself, at most `concurrency` at a time, with the same contract as the BullMQ
 * queue: the job id is `trimJobId`, so identical concurrent requests are one run; server
 * errors are retried with exponential backoff, client errors never; a job that failed with
 * a server error runs again when enqueued again.
 *
 * Finished jobs are remembered in a bounded map (oldest forgotten first), long enough for
 * the API to read a status after `waitFor`; the catalog is what keeps results for good.
 */
import type { Logger } from 'pino';
import { toTrimJobError, type TrimProcessor, withJobTimeout } from '../worker/trim-job.js';
import {
  QueueUnavailableError,
  trimJobId,
  type TrimJobData,
  type TrimJobResult,
  type TrimJobState,
  type TrimJobStatus,
  type TrimQueue,
} from './trim-queue.js';

export interface InlineTrimQueueOptions {
  processor: TrimProcessor;
  /** Jobs running at once; at least 1. */
  concurrency: number;
  /** A run taking longer fails with a TIMEOUT server error. Default: no limit. */
  jobTimeoutMs?: number;
  /** Runs per job, the first included, when server errors are retryable. Default 3. */
  attempts?: number;
  /** Delay before the first retry, doubled for each later one. Default 1000 ms. */
  backoffMs?: number;
  /** Finished job statuses kept for `status`/`waitFor`. Default 1000. */
  maxFinished?: number;
  logger?: Logger;
}

interface InlineJob {
  id: string;
  data: TrimJobData;
  state: Exclude<TrimJobState, 'unknown'>;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts: number;
  result?: TrimJobResult;
  error?: { message: string; clientError: boolean };
  /** Resolves once the job is completed or failed for good. */
  finished: Promise<void>;
  markFinished: () => void;
  retryTimer?: NodeJS.Timeout;
}

export class InlineTrimQueue implements TrimQueue {
  private readonly processor: TrimProcessor;
  private readonly concurrency: number;
  private readonly jobTimeoutMs: number | undefined;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxFinished: number;
  private readonly logger: Logger | undefined;
  /** Jobs waiting (queued or in backoff) or active. */
  private readonly live = new Map<string, InlineJob>();
  /** Completed or failed, oldest first. */
  private readonly finished = new Map<string, InlineJob>();
  private readonly ready: InlineJob[] = [];
  private active = 0;
  private closed = false;

  constructor(options: InlineTrimQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.processor = options.processor;
    this.concurrency = options.concurrency;
    this.jobTimeoutMs = options.jobTimeoutMs;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.backoffMs = options.backoffMs ?? 1000;
    this.maxFinished = Math.max(1, options.maxFinished ?? 1000);
    this.logger = options.logger;
  }

  async enqueue(data: TrimJobData): Promise<string> {
    if (this.closed) throw new QueueUnavailableError('the trim queue is closed');
    const id = trimJobId(data.objectsHash, data.kernel);
    if (this.live.has(id)) return id;
    const done = this.finished.get(id);
    if (done !== undefined) {
      // Same as BullMQ keeping a finished job: the result (or the client's error) stands.
      // A server failure may be gone by now, so that job runs again.
      if (!(done.state === 'failed' && done.error?.clientError === false)) return id;
      this.finished.delete(id);
    }
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const job: InlineJob = { id, data, state: 'waiting', createdAt: new Date(), attempts: 0, finished, markFinished };
    this.live.set(id, job);
    this.ready.push(job);
    this.pump();
    return id;
  }

  async waitFor(jobId: string, timeoutMs: number): Promise<TrimJobStatus> {
    const job = this.live.get(jobId);
    if (job !== undefined) await settleWithin(job.finished, timeoutMs);
    return this.status(jobId);
  }

  async status(jobId: string): Promise<TrimJobStatus> {
    const job = this.live.get(jobId) ?? this.finished.get(jobId);
    if (job === undefined) return { id: jobId, state: 'unknown' };
    return {
      id: job.id,
      state: job.state,
      data: job.data,
      ...(job.result !== undefined && { result: job.result }),
      ...(job.error !== undefined && { error: { ...job.error } }),
      createdAt: job.createdAt,
      ...(job.startedAt !== undefined && { startedAt: job.startedAt }),
      ...(job.finishedAt !== undefined && { finishedAt: job.finishedAt }),
      attempts: job.attempts,
    };
  }

  async depth(): Promise<number> {
    return this.live.size;
  }

  async check(): Promise<void> {
    if (this.closed) throw new QueueUnavailableError('the trim queue is closed');
  }

  /**
   * Stops taking jobs and waits for the running ones. Jobs that have not started fail
   * with a server error (the process is going away; the agent asks again).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const running: Promise<void>[] = [];
    for (const job of [...this.live.values()]) {
      if (job.state === 'active') {
        running.push(job.finished);
        continue;
      }
      clearTimeout(job.retryTimer);
      this.finish(job, { error: { message: 'the service shut down before the job ran', clientError: false } });
    }
    this.ready.length = 0;
    await Promise.all(running);
  }

  private pump(): void {
    while (!this.closed && this.active < this.concurrency) {
      const job = this.ready.shift();
      if (job === undefined) return;
      void this.run(job);
    }
  }

  private async run(job: InlineJob): Promise<void> {
    this.active++;
    job.state = 'active';
    job.attempts++;
    job.startedAt = new Date();
    try {
      const work = this.processor(job.data);
      const result = this.jobTimeoutMs === undefined ? await work : await withJobTimeout(work, this.jobTimeoutMs);
      this.finish(job, { result });
    } catch (caught) {
      const error = toTrimJobError(caught);
      if (error.retryable && job.attempts < this.attempts && !this.closed) {
        const delay = this.backoffMs * 2 ** (job.attempts - 1);
        this.logger?.warn({ jobId: job.id, attempt: job.attempts, delay, err: error }, 'trim job failed, will retry');
        job.state = 'waiting';
        job.retryTimer = setTimeout(() => {
          job.retryTimer = undefined;
          if (this.closed) return;
          this.ready.push(job);
          this.pump();
        }, delay);
      } else {
        if (!error.clientError) this.logger?.error({ jobId: job.id, attempts: job.attempts, err: error }, 'trim job failed');
        this.finish(job, { error: { message: error.message, clientError: error.clientError } });
      }
    } finally {
      this.active--;
      this.pump();
    }
  }

  private finish(job: InlineJob, outcome: { result: TrimJobResult } | { error: { message: string; clientError: boolean } }): void {
    job.state = 'result' in outcome ? 'completed' : 'failed';
    if ('result' in outcome) job.result = outcome.result;
    else job.error = outcome.error;
    job.finishedAt = new Date();
    this.live.delete(job.id);
    this.finished.set(job.id, job);
    while (this.finished.size > this.maxFinished) {
      const oldest = this.finished.keys().next().value;
      if (oldest === undefined) break;
      this.finished.delete(oldest);
    }
    job.markFinished();
  }
}

export function createInlineTrimQueue(options: InlineTrimQueueOptions): InlineTrimQueue {
  return new InlineTrimQueue(options);
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
