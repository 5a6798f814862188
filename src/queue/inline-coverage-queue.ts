/**
 * The in-process CoverageQueue of the embedded default: compat, bundle and sync jobs run in
 * the API process, one at a time by default (each already uses the machine: kernels load
 * ahead on every core). Same contract as the BullMQ one: an id that exists is not added
 * again, unless it failed for the service's reasons; finished jobs are remembered (a
 * bounded number) for `status` and `recent`; results live in the object store.
 *
 * With a sync schedule, a timer enqueues a sync every interval, unless one is waiting or
 * running already.
 */
import type { Logger } from 'pino';
import { toTrimJobError } from '../worker/trim-job.js';
import {
  type CoverageJobData, type CoverageJobKind, type CoverageJobResult, type CoverageJobStatus, type CoverageProcessor,
  type CoverageQueue, type JobProgress, type SyncSchedule, syncJobId,
} from './coverage-queue.js';
import { QueueUnavailableError, type TrimJobState } from './trim-queue.js';

export interface InlineCoverageQueueOptions {
  processor: CoverageProcessor;
  /** Jobs running at once (default 1). */
  concurrency?: number;
  /** Finished jobs remembered per kind (default 200). */
  maxFinished?: number;
  logger?: Logger;
}

interface InlineJob {
  id: string;
  data: CoverageJobData;
  state: Exclude<TrimJobState, 'unknown'>;
  progress?: JobProgress;
  result?: CoverageJobResult;
  error?: { message: string; clientError: boolean };
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts: number;
  finished: Promise<void>;
  markFinished: () => void;
}

export class InlineCoverageQueue implements CoverageQueue {
  private readonly processor: CoverageProcessor;
  private readonly concurrency: number;
  private readonly maxFinished: number;
  private readonly logger: Logger | undefined;
  private readonly live = new Map<string, InlineJob>();
  private readonly finished = new Map<string, InlineJob>();
  private readonly ready: InlineJob[] = [];
  private active = 0;
  private closed = false;
  private schedule: { source: string | null; intervalMs: number; timer?: NodeJS.Timeout; nextRunAt: Date | null } = {
    source: null,
    intervalMs: 0,
    nextRunAt: null,
  };

  constructor(options: InlineCoverageQueueOptions) {
    this.processor = options.processor;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.maxFinished = Math.max(1, options.maxFinished ?? 200);
    this.logger = options.logger;
  }

  async enqueue(id: string, data: CoverageJobData): Promise<string> {
    if (this.closed) throw new QueueUnavailableError('the coverage queue is closed');
    if (this.live.has(id)) return id;
    const done = this.finished.get(id);
    if (done !== undefined) {
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

  async waitFor(id: string, timeoutMs: number): Promise<CoverageJobStatus> {
    const job = this.live.get(id);
    if (job !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([job.finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))))]);
      clearTimeout(timer);
    }
    return this.status(id);
  }

  async status(id: string): Promise<CoverageJobStatus> {
    const job = this.live.get(id) ?? this.finished.get(id);
    return job === undefined ? { id, state: 'unknown' } : statusOf(job);
  }

  async recent(kind: CoverageJobKind, limit: number): Promise<CoverageJobStatus[]> {
    const jobs = [...this.live.values(), ...this.finished.values()].filter((j) => j.data.kind === kind);
    jobs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    return jobs.slice(0, Math.max(0, limit)).map(statusOf);
  }

  async scheduleSync(source: string | null, intervalMs: number): Promise<void> {
    clearInterval(this.schedule.timer);
    this.schedule = { source, intervalMs: source === null ? 0 : intervalMs, nextRunAt: null };
    if (source === null || intervalMs <= 0 || this.closed) return;
    const tick = () => {
      this.schedule.nextRunAt = new Date(Date.now() + intervalMs);
      const running = [...this.live.values()].some((j) => j.data.kind === 'sync');
      if (running) return; // a long sync is not stacked up behind itself
      this.enqueue(syncJobId(), { kind: 'sync', source, trigger: 'schedule' }).catch((error: unknown) =>
        this.logger?.warn({ err: error }, 'scheduled sync not enqueued'),
      );
    };
    this.schedule.timer = setInterval(tick, intervalMs);
    this.schedule.timer.unref();
    this.schedule.nextRunAt = new Date(Date.now() + intervalMs);
  }

  async syncSchedule(): Promise<SyncSchedule> {
    const { source, intervalMs, nextRunAt } = this.schedule;
    return { source, intervalMs, nextRunAt };
  }

  async depth(): Promise<number> {
    return this.live.size;
  }

  async check(): Promise<void> {
    if (this.closed) throw new QueueUnavailableError('the coverage queue is closed');
  }

  /** Stops the schedule and new jobs; waits for the running ones; jobs not started fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.schedule.timer);
    const running: Promise<void>[] = [];
    for (const job of [...this.live.values()]) {
      if (job.state === 'active') running.push(job.finished);
      else this.finish(job, { error: { message: 'the service shut down before the job ran', clientError: false } });
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
      const result = await this.processor(job.data, { id: job.id, progress: (p) => (job.progress = { ...p }) });
      this.finish(job, { result });
    } catch (caught) {
      const error = toTrimJobError(caught);
      if (!error.clientError) this.logger?.error({ jobId: job.id, err: error }, `${job.data.kind} job failed`);
      this.finish(job, { error: { message: error.message, clientError: error.clientError } });
    } finally {
      this.active--;
      this.pump();
    }
  }

  private finish(job: InlineJob, outcome: { result: CoverageJobResult } | { error: { message: string; clientError: boolean } }): void {
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
    // Per kind, so many compat jobs do not push the sync history out.
    const sameKind = [...this.finished.values()].filter((j) => j.data.kind === job.data.kind);
    for (const old of sameKind.slice(0, Math.max(0, sameKind.length - this.maxFinished))) this.finished.delete(old.id);
    job.markFinished();
  }
}

function statusOf(job: InlineJob): CoverageJobStatus {
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
