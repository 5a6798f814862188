/**
 * The job contract every kind follows, whichever backend runs it (in-process or BullMQ):
 *
 *   JobProcessor   `(data, context) => result`: one function per kind (src/jobs/)
 *   JobError       a failure that says whose fault it is: a client error (bad object,
 *                  unknown kernel) is answered 4xx and never retried; a server error
 *                  (storage down, corrupt kernel file) 5xx, retried while `retryable`
 *   JobStatus      what a queue tells about a job: state, timings, progress, result or error
 *   JobPolicy      how a kind is run: attempts and backoff, time budget, retention,
 *                  concurrency and lane, BullMQ lock and stall settings
 *
 * Processors must be safe to run twice (a stalled BullMQ job is run again elsewhere, a
 * server failure runs again when the same job is enqueued again): results are
 * deterministic and written under content hashes or the job's id.
 */

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'unknown';

/** Why a job failed, as stored with it: the message and whether the client was at fault. */
export interface JobFailure {
  message: string;
  clientError: boolean;
  /**
   * The job killed or stalled the workers that took it until the queue gave up on it (BullMQ's
   * stalled-job limit): never retried, counted as the client's, and its objects are refused
   * for a while (BTFHUB_REFUSED_OBJECTS_TTL_MS).
   */
  poisoned?: boolean;
}

/** Progress of a long job (compat, bundle, sync): units done, how many in all, how many failed. */
export interface JobProgress {
  done: number;
  total?: number;
  failed: number;
}

export interface JobStatus<Data = unknown, Result = unknown> {
  id: string;
  state: JobState;
  data?: Data;
  progress?: JobProgress;
  result?: Result;
  /** Set when failed. */
  error?: JobFailure;
  createdAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Runs started so far, the first included. */
  attempts?: number;
}

/** What a processor gets besides its data. */
export interface JobContext {
  id: string;
  /** Reports progress; backends may drop updates that come too fast. */
  progress: (progress: JobProgress) => void;
}

export type JobProcessor<Data, Result> = (data: Data, context: JobContext) => Promise<Result>;

export type JobErrorCode =
  | 'INVALID_JOB' // malformed job data (hashes, kernel identity, kind)
  | 'UNKNOWN_KERNEL' // the catalog has no such kernel
  | 'INVALID_OBJECT' // an upload is not a BPF object with .BTF and .BTF.ext
  | 'REJECTED_OBJECT' // a relocation libbpf (and so bpftool) rejects, or a case bpftool's trimmer aborts on
  | 'OBJECT_MISSING' // an uploaded object is not in the store
  | 'OBJECT_DAMAGED' // an uploaded object's stored bytes do not hash to its name
  | 'KERNEL_MISSING' // the catalog names a kernel file the store does not have
  | 'KERNEL_CHANGED' // the stored kernel file differs from what was registered (damaged)
  | 'KERNEL_REPLACED' // the kernel content the job was queued for is no longer stored
  | 'KERNEL_CORRUPT' // the stored kernel file does not decode
  | 'VERIFICATION_FAILED' // the trimmed BTF resolves some relocation differently
  | 'GENERATE_FAILED' // no kernel BTF could be made (the message starts with the GenerateError's code)
  | 'TIMEOUT' // the job ran longer than its budget
  | 'LIMIT_EXCEEDED' // an object is over a codec bound, or blew its thread's heap
  | 'INTERNAL'; // storage, catalog or anything unexpected

export interface JobErrorOptions {
  cause?: unknown;
  /** Whether running the job again may succeed; default: true for server errors, false for client errors. */
  retryable?: boolean;
}

export class JobError extends Error {
  override readonly name = 'JobError';
  readonly retryable: boolean;
  constructor(
    readonly code: JobErrorCode,
    /** The request is at fault (4xx), not the service (5xx). */
    readonly clientError: boolean,
    message: string,
    options: JobErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? !clientError;
  }
}

/** Any failure as a JobError: unexpected errors are retryable server errors. */
export function toJobError(error: unknown): JobError {
  if (error instanceof JobError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new JobError('INTERNAL', false, message, { cause: error });
}

/**
 * Rejects a job after `timeoutMs` with a TIMEOUT error. The work itself cannot be
 * interrupted (a trim is synchronous); if it finishes later, its writes are the same
 * idempotent ones a retry makes.
 */
export async function withJobTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new JobError('TIMEOUT', false, `job did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Marks the failed reason of a client error (BullMQ keeps one string per failure: the reason). */
const CLIENT_ERROR_PREFIX = 'client error: ';

/** The failed reason a backend stores for an error, telling client errors apart. */
export function encodeFailure(message: string, clientError: boolean): string {
  return clientError ? `${CLIENT_ERROR_PREFIX}${message}` : message;
}

/** BullMQ's failed reason of a job that stalled more than `maxStalledCount` times. */
export const STALLED_REASON = 'job stalled more than allowable limit';

/** The reverse of `encodeFailure`. */
export function decodeFailure(reason: string): JobFailure {
  if (reason === STALLED_REASON) {
    return {
      message: 'the job stopped every worker that ran it (killed or stalled) and was given up: its input is refused',
      clientError: true,
      poisoned: true,
    };
  }
  return reason.startsWith(CLIENT_ERROR_PREFIX)
    ? { message: reason.slice(CLIENT_ERROR_PREFIX.length), clientError: true }
    : { message: reason, clientError: false };
}

/**
 * The queue backend cannot be reached (Redis down, or not answering in time). The API
 * answers 503 to it; nothing about the request itself is wrong.
 */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** How long finished jobs of a kind are remembered (for `status`, `waitFor`, `recent`). */
export interface JobRetention {
  /** Seconds a finished job is kept. */
  ageSeconds: number;
  /** Finished jobs kept at most. */
  count: number;
}

/** How one kind of job is run. */
export interface JobPolicy {
  /**
   * The lane the kind runs in: a BullMQ queue of that name under the deployment's prefix, or
   * an in-process runner. Kinds sharing a lane share its concurrency (compat and bundle each
   * use every core already, so they take turns).
   */
  lane: string;
  /** Jobs of the lane run at once, per process. */
  concurrency: number;
  /** Runs per job, the first included, while failures are retryable. */
  attempts: number;
  /** Delay before the first retry, doubled for each later one. */
  backoffMs: number;
  /** A run taking longer fails with a retryable TIMEOUT server error; undefined: no limit. */
  timeoutMs?: number;
  keepCompleted: JobRetention;
  keepFailed: JobRetention;
  /** BullMQ lock on an active job; a synchronous stretch longer than this looks like a dead worker. */
  lockDurationMs: number;
  /** How often BullMQ workers look for jobs whose worker died. */
  stalledIntervalMs: number;
  /** Times a job may be taken over from a dead worker before it fails. */
  maxStalledCount: number;
}

/** The kinds a queue runs: for each, the data a job carries and the result it returns. */
export type JobKindMap = Record<string, { data: unknown; result: unknown }>;

export type DataOf<M extends JobKindMap, K extends keyof M> = M[K]['data'];
export type ResultOf<M extends JobKindMap, K extends keyof M> = M[K]['result'];
export type StatusOf<M extends JobKindMap, K extends keyof M> = JobStatus<DataOf<M, K>, ResultOf<M, K>>;

/** The processor of every kind of `M`. */
export type JobProcessors<M extends JobKindMap> = { [K in keyof M]: JobProcessor<DataOf<M, K>, ResultOf<M, K>> };

/** The policy of every kind of `M`. */
export type JobPolicies<M extends JobKindMap> = { [K in keyof M]: JobPolicy };

/** A repeatable job: `data` enqueued every `everyMs` under the given scheduler id. */
export interface JobSchedule<Data> {
  data: Data;
  everyMs: number;
  /** When the next run is due, when known. */
  nextRunAt: Date | null;
}

/**
 * Producing and following jobs, whatever runs them. Every method that talks to a backend
 * fails with QueueUnavailableError when it cannot (the API's 503).
 */
export interface JobQueue<M extends JobKindMap> {
  /**
   * Whether jobs run in this process, on the objects (store, catalog) it holds: a job then sees
   * a write this process still has in flight, and waits for it (a content-addressed put, see
   * `settledContentWrite`), so a request may start its job while its own writes finish. A job
   * run by another process (BullMQ) sees only what is written before it is enqueued.
   */
  readonly inProcess: boolean;
  /**
   * Adds the job unless one with this id exists; a job that failed for the service's
   * reasons (not the client's) runs again. Returns the id.
   */
  enqueue<K extends keyof M & string>(kind: K, id: string, data: DataOf<M, K>): Promise<string>;
  /** Waits up to `timeoutMs` for the job to finish; its status then (maybe still running). */
  waitFor<K extends keyof M & string>(kind: K, id: string, timeoutMs: number): Promise<StatusOf<M, K>>;
  status<K extends keyof M & string>(kind: K, id: string): Promise<StatusOf<M, K>>;
  /** The latest jobs of a kind still remembered, newest first. */
  recent<K extends keyof M & string>(kind: K, limit: number): Promise<StatusOf<M, K>[]>;
  /**
   * Enqueues `data` every `everyMs` (a BullMQ job scheduler, or a timer in-process) under
   * `schedulerId`, replacing an earlier schedule of that id; `null` removes it. A run is not
   * stacked behind one of the same kind still waiting or running.
   */
  schedule<K extends keyof M & string>(
    kind: K,
    schedulerId: string,
    schedule: { data: DataOf<M, K>; everyMs: number } | null,
  ): Promise<void>;
  /** The schedule of that id, or null. */
  scheduled<K extends keyof M & string>(kind: K, schedulerId: string): Promise<JobSchedule<DataOf<M, K>> | null>;
  /** Jobs waiting or active in the lanes of `kinds` (for metrics). */
  depth(kinds: readonly (keyof M & string)[]): Promise<number>;
  /** Throws when the backend is unusable (for /readyz). */
  check(): Promise<void>;
  /** Stops taking jobs; in-process, waits for the running ones (those not started fail). */
  close(): Promise<void>;
}

/** A fresh job id for a run that has no natural key (an admin's sync): `<kind>-<ms>-<random>`. */
export function freshJobId(kind: string, now = Date.now()): string {
  return `${kind}-${now}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Calls `report` at most every `intervalMs`, and always for the last step (done === total). */
export function throttleProgress(report: (p: JobProgress) => void, intervalMs = 250): (p: JobProgress) => void {
  let last = -Infinity;
  return (p) => {
    const now = performance.now();
    if (now - last < intervalMs && !(p.total !== undefined && p.done >= p.total)) return;
    last = now;
    report(p);
  };
}
