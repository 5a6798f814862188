/**
 * The BullMQ consumer of every job kind, as `btfhub worker` runs it (one or many processes,
 * on one or many machines, sharing REDIS_URL): one BullMQ Worker per lane, which hands each
 * job to the processor of its kind (the job's name) within the kind's time budget.
 *
 * Failures leave as the failed reason BullMQ keeps (`encodeFailure`: whether the client was
 * at fault); those that are not retryable are thrown as UnrecoverableError, which BullMQ
 * never retries. Progress goes to the job (`job.updateProgress`), where status reads it.
 *
 * Crash safety is BullMQ's lock-and-stall protocol: a worker holds a lock on each active
 * job and renews it every `lockDuration / 2`; every `stalledInterval` each worker looks for
 * active jobs whose lock expired (their worker died: SIGKILL, OOM, a lost machine) and
 * moves them back to waiting, up to `maxStalledCount` times. Jobs are idempotent, so a
 * second run is harmless. A trim is synchronous and blocks the event loop, renewals
 * included, so a lane's `lockDurationMs` must stay well above its longest synchronous stretch.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  type DataOf,
  encodeFailure,
  type JobKindMap,
  type JobPolicies,
  type JobPolicy,
  type JobProcessors,
  toJobError,
  withJobTimeout,
} from './job.js';

export interface JobWorkerOptions<M extends JobKindMap> {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix (BTFHUB_QUEUE_PREFIX). */
  prefix: string;
  policies: JobPolicies<M>;
  processors: JobProcessors<M>;
  logger: Logger;
}

export interface JobWorker {
  /** One per lane. */
  workers: ReadonlyMap<string, Worker>;
  /** Resolves once every lane's Redis connections are up (they keep waiting while Redis is down). */
  ready: Promise<void>;
  /** Stops taking jobs, lets the active ones finish, then closes the connections. */
  close(): Promise<void>;
}

/** Starts consuming every lane of `policies` and returns at once; `ready` says when it is connected. */
export function createJobWorker<M extends JobKindMap>(options: JobWorkerOptions<M>): JobWorker {
  const { logger } = options;
  const policies = options.policies as Record<string, JobPolicy>;
  const processors = options.processors as Record<string, JobProcessors<M>[keyof M] | undefined>;
  const lanes = new Map<string, JobPolicy[]>();
  for (const policy of Object.values(policies)) lanes.set(policy.lane, [...(lanes.get(policy.lane) ?? []), policy]);

  const run = async (job: Job) => {
    const policy = policies[job.name];
    const processor = processors[job.name];
    if (policy === undefined || processor === undefined)
      throw new UnrecoverableError(`no processor for job kind ${JSON.stringify(job.name)}`);
    try {
      const work = processor(job.data as DataOf<M, keyof M>, {
        id: job.id ?? '',
        progress: (p) => void job.updateProgress({ ...p }).catch(() => {}),
      });
      return await (policy.timeoutMs === undefined ? work : withJobTimeout(work, policy.timeoutMs));
    } catch (caught) {
      const error = toJobError(caught);
      const reason = encodeFailure(error.message, error.clientError);
      // BullMQ retries anything but an UnrecoverableError, so only retryable failures may be plain errors.
      throw error.retryable ? new Error(reason, { cause: error }) : new UnrecoverableError(reason);
    }
  };

  const workers = new Map<string, Worker>();
  for (const [lane, members] of lanes) {
    const worker = new Worker(lane, run, {
      // Reconnect every 0.2-2 s while Redis is away, not BullMQ's default (e^n s, up to 20 s):
      // a worker should take jobs again within seconds of Redis coming back.
      connection: { url: options.url, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(200 * times, 2000) },
      prefix: options.prefix,
      concurrency: Math.max(...members.map((p) => p.concurrency)),
      lockDuration: Math.max(...members.map((p) => p.lockDurationMs)),
      stalledInterval: Math.min(...members.map((p) => p.stalledIntervalMs)),
      maxStalledCount: Math.max(...members.map((p) => p.maxStalledCount)),
      autorun: true,
    });
    worker.on('active', (job) => logger.debug({ jobId: job.id, kind: job.name, attempt: job.attemptsStarted }, `${job.name} job started`));
    worker.on('completed', (job) =>
      logger.info({ jobId: job.id, kind: job.name, durationMs: durationOf(job) }, `${job.name} job completed`),
    );
    worker.on('failed', (job, error) => {
      const willRetry = job !== undefined && !(error instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
      logger[willRetry ? 'warn' : 'error'](
        { jobId: job?.id, kind: job?.name, attemptsMade: job?.attemptsMade, willRetry, err: error },
        `${job?.name ?? lane} job failed`,
      );
    });
    worker.on('stalled', (jobId) => logger.warn({ jobId, lane }, `${lane} job stalled (its worker died?); moved back to waiting`));
    worker.on('error', (error) => logger.error({ err: error, lane }, `${lane} worker error`));
    workers.set(lane, worker);
  }

  const ready = Promise.all([...workers.values()].map((w) => w.waitUntilReady())).then(() => undefined);
  ready.catch(() => {}); // also reported through the 'error' events
  let closing: Promise<void> | undefined;
  return {
    workers,
    ready,
    close() {
      closing ??= Promise.all([...workers.values()].map((w) => w.close())).then(() => undefined);
      return closing;
    },
  };
}

/** How long the run took, as BullMQ recorded it. */
function durationOf(job: Job): number | undefined {
  return job.finishedOn != null && job.processedOn != null ? job.finishedOn - job.processedOn : undefined;
}
