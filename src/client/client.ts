/**
 * BtfhubClient: the btfhub-online HTTP API from TypeScript, as `btfhub fetch` uses it.
 *
 *   const client = new BtfhubClient({ baseUrl: 'http://127.0.0.1:8080' });
 *   const { btf } = await client.trim([objectBytes], { distro: 'ubuntu', distroVersion: '22.04',
 *                                                      arch: 'x86_64', kernel: '5.15.0-91-generic' });
 *
 * Every request has a timeout (AbortSignal) and is retried, with exponential backoff and
 * jitter, on network errors, timeouts, 429 and 5xx; a Retry-After from the server sets the
 * wait instead. Every route it calls is idempotent (a trim is content-addressed), so a retry
 * never does the work twice. Errors are typed (errors.ts) and carry the server's
 * `{error, message, field}`. Node 20's global fetch, FormData and Blob; no dependencies.
 */
import { createHash } from 'node:crypto';
import { BtfhubHttpError, BtfhubJobFailedError, BtfhubNetworkError, BtfhubResponseError, BtfhubTimeoutError } from './errors.js';
import { backoffDelay, isRetryableStatus, parseRetryAfter, sleep } from './retry.js';
import type {
  CompatFilterInput,
  CompatReportBody,
  CompatSubmission,
  CoverageBody,
  CoverageJobStatusBody,
  CustomizedBtf,
  IdentityAnswerBody,
  IdentityInput,
  JobStatusBody,
  KernelFilterInput,
  KernelIdentityBody,
  KernelInfoBody,
  KernelListBody,
  KernelSpec,
  NotModified,
  ReadinessBody,
  TrimmedBtf,
  TrimObject,
  TrimSubmission,
} from './types.js';

export interface BtfhubClientOptions {
  /** The service, e.g. `http://127.0.0.1:8080` (a path prefix is kept: `https://host/btfhub/`). */
  baseUrl: string | URL;
  /** Per-request timeout in ms, the body included (default 30 000). */
  timeoutMs?: number;
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number;
  /** Backoff: the first retry waits up to this (default 250 ms), doubling per retry... */
  backoffBaseMs?: number;
  /** ...up to this (default 10 000 ms). */
  backoffMaxMs?: number;
  /** A longer Retry-After is cut to this (default 60 000 ms). */
  maxRetryAfterMs?: number;
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** Replaces the global fetch (proxies, tests). */
  fetch?: typeof fetch;
  /** Called before each retry: what failed and how long the client waits. */
  onRetry?: (event: RetryEvent) => void;
  /** Randomness for the jitter (tests fix it); Math.random by default. */
  random?: () => number;
}

export interface RetryEvent {
  method: string;
  url: string;
  /** The attempt that failed (1 for the first). */
  attempt: number;
  /** What failed: `503`, `429`, `timeout`, or the network error. */
  reason: string;
  delayMs: number;
  /** True when the delay is the server's Retry-After. */
  retryAfter: boolean;
}

export interface CallOptions {
  /** Aborts the call (every attempt and wait); the signal's reason is thrown. */
  signal?: AbortSignal;
}

export interface TrimOptions extends CallOptions {
  /** Bound on the whole call: upload, waiting for the job, download (default 120 000 ms). */
  timeoutMs?: number;
  /** First interval between job polls (default 250 ms); it grows to 2 s. */
  pollIntervalMs?: number;
  /** Called once when the service answers 202 (the job is still running). */
  onPending?: (pending: Extract<TrimSubmission, { state: 'pending' }>) => void;
}

export interface WaitOptions extends CallOptions {
  /** Bound on the wait (default: none beyond `signal`). */
  timeoutMs?: number;
  pollIntervalMs?: number;
}

export interface CompatOptions extends CallOptions {
  /** Bound on the whole call: upload, the job, the report (default 600 000 ms). */
  timeoutMs?: number;
  /** First interval between job polls (default 250 ms); it grows to 2 s. */
  pollIntervalMs?: number;
  /** Called once when the service answers 202 (the report is still being made). */
  onPending?: (pending: Extract<CompatSubmission, { state: 'pending' }>) => void;
  /** Called with every job status polled: its `progress` says how many kernels are done. */
  onProgress?: (job: CoverageJobStatusBody) => void;
}

export const CLIENT_DEFAULTS = {
  timeoutMs: 30_000,
  maxAttempts: 5,
  backoffBaseMs: 250,
  backoffMaxMs: 10_000,
  maxRetryAfterMs: 60_000,
  trimTimeoutMs: 120_000,
  compatTimeoutMs: 600_000,
  pollIntervalMs: 250,
  maxPollIntervalMs: 2_000,
} as const;

const USER_AGENT = 'btfhub-online-client';

interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  url: string;
  attempts: number;
}

interface RequestSpec extends CallOptions {
  method: 'GET' | 'POST';
  /** A path under the base URL, or an absolute URL. */
  path: string;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** Built anew for every attempt (a FormData or stream body is consumed by a send). */
  body?: () => string | FormData;
  /** Statuses below 200-299 that are answers, not errors (304, a 404 that means "not yet"). */
  accept?: (status: number, body: Uint8Array) => boolean;
}

/**
 * The objects hash the API keys trims by: sha256 over the distinct sha256s (lowercase hex)
 * of the objects, sorted, joined by '\n'.
 */
export function objectsHash(objects: readonly TrimObject[]): string {
  const hashes = [...new Set(objects.map((o) => sha256Hex(objectBytes(o))))].sort();
  return sha256Hex(hashes.join('\n'));
}

/** A kernel in the API's field names. */
export function kernelFields(kernel: KernelSpec): KernelIdentityBody {
  if ('distro_version' in kernel) {
    return { distro: kernel.distro, distro_version: kernel.distro_version, arch: kernel.arch, kernel_version: kernel.kernel_version };
  }
  return { distro: kernel.distro, distro_version: kernel.distroVersion, arch: kernel.arch, kernel_version: kernel.kernel };
}

export class BtfhubClient {
  readonly baseUrl: URL;
  private readonly options: Required<Omit<BtfhubClientOptions, 'baseUrl' | 'onRetry' | 'headers'>> &
    Pick<BtfhubClientOptions, 'onRetry' | 'headers'>;

  constructor(options: BtfhubClientOptions) {
    const base = new URL(String(options.baseUrl));
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`baseUrl must be http(s), got ${base.protocol}`);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = '';
    base.hash = '';
    this.baseUrl = base;
    this.options = {
      timeoutMs: options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs,
      maxAttempts: Math.max(1, options.maxAttempts ?? CLIENT_DEFAULTS.maxAttempts),
      backoffBaseMs: options.backoffBaseMs ?? CLIENT_DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? CLIENT_DEFAULTS.backoffMaxMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? CLIENT_DEFAULTS.maxRetryAfterMs,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      random: options.random ?? Math.random,
      onRetry: options.onRetry,
      headers: options.headers,
    };
  }

  /**
   * `POST /api/v1/btf`, followed to its end: when the service answers 202, the job is polled
   * (`GET /api/v1/jobs/{id}`) until it completes, and its result downloaded; all within
   * `timeoutMs`. Throws BtfhubJobFailedError when the job fails, BtfhubTimeoutError
   * (phase `total`) when time runs out.
   */
  async trim(objects: readonly TrimObject[], kernel: KernelSpec, options: TrimOptions = {}): Promise<TrimmedBtf> {
    const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.trimTimeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    try {
      // A job the service's queue lost (404 job_lost: a Redis without persistence restarted)
      // is asked for again once: the objects are sent again and a new job made.
      for (let resubmitted = false; ; resubmitted = true) {
        const submission = await this.submitTrim(objects, kernel, { signal });
        if (submission.state === 'ready') return submission.result;
        options.onPending?.(submission);
        try {
          const job = await this.waitForJob(submission.location, { signal, pollIntervalMs: options.pollIntervalMs });
          return await this.jobResult(job, submission, { signal });
        } catch (err) {
          if (resubmitted || !(err instanceof BtfhubHttpError && err.status === 404 && err.code === 'job_lost')) throw err;
        }
      }
    } catch (err) {
      if (deadline.aborted && !options.signal?.aborted) throw new BtfhubTimeoutError('POST', this.url('api/v1/btf'), timeoutMs, 'total', 1);
      throw err;
    }
  }

  /** One `POST /api/v1/btf`: the trimmed BTF, or the job to follow (see `trim`). */
  async submitTrim(objects: readonly TrimObject[], kernel: KernelSpec, options: CallOptions = {}): Promise<TrimSubmission> {
    if (objects.length === 0) throw new TypeError('trim needs at least one BPF object');
    const fields = kernelFields(kernel);
    const answer = await this.request({
      method: 'POST',
      path: 'api/v1/btf',
      signal: options.signal,
      body: () => {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) form.append(name, value);
        appendObjects(form, 'object', objects);
        return form;
      },
    });
    const hash = answer.headers.get('x-btfhub-objects-hash') ?? objectsHash(objects);
    if (answer.status === 202) {
      const accepted = this.json<{ job_id?: unknown }>(answer, 'POST');
      const jobId = typeof accepted.job_id === 'string' ? accepted.job_id : undefined;
      const location = answer.headers.get('location') ?? (jobId === undefined ? null : `api/v1/jobs/${encodeURIComponent(jobId)}`);
      if (jobId === undefined || location === null) throw new BtfhubResponseError('POST', answer.url, '202 without a job id');
      return { state: 'pending', jobId, location, objectsHash: hash, kernel: answer.headers.get('x-btfhub-kernel') ?? kernelLabel(fields) };
    }
    return { state: 'ready', result: this.trimmed(answer, 'POST', hash, fields) };
  }

  /** `GET /api/v1/jobs/{id}`. */
  async getJob(jobId: string, options: CallOptions = {}): Promise<JobStatusBody> {
    const answer = await this.request({ method: 'GET', path: `api/v1/jobs/${encodeURIComponent(jobId)}`, signal: options.signal });
    return this.json<JobStatusBody>(answer, 'GET');
  }

  /**
   * Polls a job (its id, or the Location of a 202) until it completes; throws
   * BtfhubJobFailedError when it fails. Polls start at `pollIntervalMs` and slow to 2 s.
   */
  async waitForJob(jobIdOrLocation: string, options: WaitOptions = {}): Promise<JobStatusBody> {
    return this.pollJob<JobStatusBody>(jobIdOrLocation, options);
  }

  /** waitForJob for any kind of job; `onPoll` sees every status polled. */
  private async pollJob<T extends JobStatusBody | CoverageJobStatusBody>(
    jobIdOrLocation: string,
    options: WaitOptions & { onPoll?: (job: T) => void },
  ): Promise<T> {
    const path = jobIdOrLocation.includes('/') ? jobIdOrLocation : `api/v1/jobs/${encodeURIComponent(jobIdOrLocation)}`;
    const bound = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const signals = [bound, options.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);
    let interval = options.pollIntervalMs ?? CLIENT_DEFAULTS.pollIntervalMs;
    try {
      for (;;) {
        const job = this.json<T>(await this.request({ method: 'GET', path, signal }), 'GET');
        options.onPoll?.(job);
        if (job.state === 'completed') return job;
        if (job.state === 'failed') throw new BtfhubJobFailedError(job.job_id, job);
        await sleep(interval, signal);
        interval = Math.min(CLIENT_DEFAULTS.maxPollIntervalMs, Math.round(interval * 1.5));
      }
    } catch (err) {
      if (bound?.aborted && !options.signal?.aborted)
        throw new BtfhubTimeoutError('GET', this.url(path), options.timeoutMs ?? 0, 'total', 1);
      throw err;
    }
  }

  /**
   * `GET /api/v1/btf/{objectsHash}/{kernel}`: a trim built earlier, without uploading the
   * objects. Null when the service has none (404 `trim_not_found`); with `ifNoneMatch` (the
   * sha256 you hold), NotModified when it is still current.
   */
  async getTrimmed(
    objectsOrHash: string | readonly TrimObject[],
    kernel: KernelSpec,
    options: CallOptions & { ifNoneMatch?: string } = {},
  ): Promise<TrimmedBtf | NotModified | null> {
    const hash = typeof objectsOrHash === 'string' ? objectsOrHash : objectsHash(objectsOrHash);
    const fields = kernelFields(kernel);
    const answer = await this.request({
      method: 'GET',
      path: `api/v1/btf/${encodeURIComponent(hash)}/${kernelPath(fields)}`,
      signal: options.signal,
      headers: options.ifNoneMatch === undefined ? {} : { 'if-none-match': `"${options.ifNoneMatch}"` },
      accept: (status, body) => status === 304 || (status === 404 && errorCode(body) === 'trim_not_found'),
    });
    if (answer.status === 404) return null;
    if (answer.status === 304) return { notModified: true, sha256: stripEtag(answer.headers.get('etag')) ?? options.ifNoneMatch ?? '' };
    return this.trimmed(answer, 'GET', hash, fields);
  }

  /** `GET /api/v1/kernels`: one page of the kernels the service has BTF for. */
  async listKernels(filter: KernelFilterInput = {}, options: CallOptions = {}): Promise<KernelListBody> {
    const answer = await this.request({
      method: 'GET',
      path: 'api/v1/kernels',
      signal: options.signal,
      query: {
        distro: filter.distro,
        distro_version: filter.distroVersion ?? filter.distro_version,
        arch: filter.arch,
        kernel_prefix: filter.kernelPrefix ?? filter.kernel_prefix,
        limit: filter.limit,
        offset: filter.offset,
      },
    });
    const list = this.json<KernelListBody>(answer, 'GET');
    if (!Array.isArray(list.items)) throw new BtfhubResponseError('GET', answer.url, 'no items array in the kernel list');
    return list;
  }

  /** Every kernel matching `filter`, page after page. */
  async *kernels(filter: Omit<KernelFilterInput, 'offset'> = {}, options: CallOptions = {}): AsyncGenerator<KernelInfoBody> {
    let offset = 0;
    for (;;) {
      const page = await this.listKernels({ ...filter, offset }, options);
      yield* page.items;
      offset += page.items.length;
      if (page.items.length === 0 || offset >= page.total) return;
    }
  }

  /**
   * `POST /api/v1/compat`, followed to its end: which CO-RE relocations of `objects` resolve
   * on which kernels of the service (all of them, or those `filter` picks). When the service
   * answers 202, the job is polled (`onProgress` sees each status) and the report fetched
   * from `GET /api/v1/compat/{id}`; all within `timeoutMs`. Throws BtfhubJobFailedError when
   * the job fails, BtfhubTimeoutError (phase `total`) when time runs out.
   */
  async compat(objects: readonly TrimObject[], filter: CompatFilterInput = {}, options: CompatOptions = {}): Promise<CompatReportBody> {
    const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.compatTimeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    try {
      const submission = await this.submitCompat(objects, filter, { signal });
      if (submission.state === 'ready') return submission.report;
      options.onPending?.(submission);
      await this.pollJob<CoverageJobStatusBody>(submission.location, {
        signal,
        pollIntervalMs: options.pollIntervalMs,
        onPoll: options.onProgress,
      });
      const report = await this.getCompatReport(submission.jobId, { signal });
      if (report === null)
        throw new BtfhubResponseError(
          'GET',
          this.url(`api/v1/compat/${submission.jobId}`),
          'the job completed but its report is still pending',
        );
      return report;
    } catch (err) {
      if (deadline.aborted && !options.signal?.aborted)
        throw new BtfhubTimeoutError('POST', this.url('api/v1/compat'), timeoutMs, 'total', 1);
      throw err;
    }
  }

  /** One `POST /api/v1/compat`: the report, or the job to follow (see `compat`). */
  async submitCompat(objects: readonly TrimObject[], filter: CompatFilterInput = {}, options: CallOptions = {}): Promise<CompatSubmission> {
    if (objects.length === 0) throw new TypeError('compat needs at least one BPF object');
    const fields: Record<string, string | undefined> = {
      distro: filter.distro,
      distro_version: filter.distroVersion,
      arch: filter.arch,
      kernel_version: filter.kernelPrefix,
    };
    const answer = await this.request({
      method: 'POST',
      path: 'api/v1/compat',
      signal: options.signal,
      body: () => {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.append(name, value);
        appendObjects(form, 'object', objects);
        return form;
      },
    });
    if (answer.status === 202) return this.pending(answer, 'POST');
    return { state: 'ready', report: this.compatReport(answer, 'POST') };
  }

  /** `GET /api/v1/compat/{id}`: the report of a finished job; null while the job still runs. */
  async getCompatReport(jobId: string, options: CallOptions = {}): Promise<CompatReportBody | null> {
    const answer = await this.request({ method: 'GET', path: `api/v1/compat/${encodeURIComponent(jobId)}`, signal: options.signal });
    if (answer.status === 202) return null;
    return this.compatReport(answer, 'GET');
  }

  /**
   * `POST /api/v1/customize` (the original BTFHub Online route, multipart field `bpf`): the
   * trimmed BTF as a .tar.xz. When the service answers 202, the job is followed to its end
   * and the request made again, which the finished trim then answers at once.
   */
  async customize(objects: readonly TrimObject[], kernel: KernelSpec, options: TrimOptions = {}): Promise<CustomizedBtf> {
    if (objects.length === 0) throw new TypeError('customize needs at least one BPF object');
    const fields = kernelFields(kernel);
    const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.trimTimeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    const post = () =>
      this.request({
        method: 'POST',
        path: 'api/v1/customize',
        signal,
        query: {
          distribution: fields.distro,
          distribution_version: fields.distro_version,
          kernel_version: fields.kernel_version,
          arch: fields.arch,
        },
        body: () => {
          const form = new FormData();
          appendObjects(form, 'bpf', objects);
          return form;
        },
      });
    try {
      let answer = await post();
      let jobId: string | undefined;
      if (answer.status === 202) {
        const pending = this.pending(answer, 'POST');
        jobId = pending.jobId;
        await this.pollJob<JobStatusBody>(pending.location, { signal, pollIntervalMs: options.pollIntervalMs });
        answer = await post();
        if (answer.status === 202)
          throw new BtfhubResponseError('POST', answer.url, `job ${pending.jobId} completed, but the trim is still pending`);
      }
      return { archive: answer.body, kernel: answer.headers.get('x-btfhub-kernel') ?? undefined, ...(jobId !== undefined && { jobId }) };
    } catch (err) {
      if (deadline.aborted && !options.signal?.aborted)
        throw new BtfhubTimeoutError('POST', this.url('api/v1/customize'), timeoutMs, 'total', 1);
      throw err;
    }
  }

  /**
   * `GET /readyz`: the service and its dependencies (catalog, queue, store) answer. A 503
   * (not ready) is retried like any 503, then thrown as a BtfhubHttpError whose message
   * names the failed checks.
   */
  async ready(options: CallOptions = {}): Promise<ReadinessBody> {
    const body = this.json<ReadinessBody>(await this.request({ method: 'GET', path: 'readyz', signal: options.signal }), 'GET');
    if (body.status !== 'ok') throw new BtfhubResponseError('GET', this.url('readyz'), `status ${JSON.stringify(body.status)}, not "ok"`);
    return body;
  }

  /** A 202's job id and where to follow it. */
  private pending(answer: Answer, method: string): { state: 'pending'; jobId: string; location: string } {
    const accepted = this.json<{ job_id?: unknown }>(answer, method);
    const jobId = typeof accepted.job_id === 'string' ? accepted.job_id : undefined;
    const location = answer.headers.get('location') ?? (jobId === undefined ? null : `api/v1/jobs/${encodeURIComponent(jobId)}`);
    if (jobId === undefined || location === null) throw new BtfhubResponseError(method, answer.url, '202 without a job id');
    return { state: 'pending', jobId, location };
  }

  /** A compat report body, checked for the members every reader of it relies on. */
  private compatReport(answer: Answer, method: string): CompatReportBody {
    const report = this.json<CompatReportBody>(answer, method);
    const shaped =
      report !== null &&
      typeof report === 'object' &&
      Array.isArray(report.objects) &&
      Array.isArray(report.relocations) &&
      Array.isArray(report.kernels);
    if (!shaped)
      throw new BtfhubResponseError(method, answer.url, 'not a compat report (objects, relocations and kernels arrays expected)');
    return report;
  }

  /**
   * `GET /api/v1/coverage`: per distro, release and arch, how many kernels the service has
   * (see CoverageBody; the route comes with the coverage work of issue 4: until it is
   * served this throws BtfhubHttpError 404).
   */
  async coverage(options: CallOptions = {}): Promise<CoverageBody> {
    const body = this.json<CoverageBody>(await this.request({ method: 'GET', path: 'api/v1/coverage', signal: options.signal }), 'GET');
    if (!Array.isArray(body.items)) throw new BtfhubResponseError('GET', this.url('api/v1/coverage'), 'no items array in the coverage');
    return body;
  }

  /**
   * `POST /api/v1/identity`: the archive identity of a host from its os-release text and
   * uname, by the rules `btfhub fetch` uses. A host that cannot be identified is a
   * BtfhubHttpError 400 whose `field` says what to provide.
   */
  async identity(input: IdentityInput, options: CallOptions = {}): Promise<IdentityAnswerBody> {
    const body = JSON.stringify({
      os_release: input.osRelease,
      uname_release: input.unameRelease,
      uname_machine: input.unameMachine,
      ...(input.distro !== undefined && { distro: input.distro }),
      ...(input.distroVersion !== undefined && { distro_version: input.distroVersion }),
    });
    const answer = await this.request({
      method: 'POST',
      path: 'api/v1/identity',
      signal: options.signal,
      headers: { 'content-type': 'application/json' },
      body: () => body,
    });
    return this.json<IdentityAnswerBody>(answer, 'POST');
  }

  /** The result of a completed job: its `result.url`, downloaded and checked against its sha256. */
  private async jobResult(
    job: JobStatusBody,
    submission: Extract<TrimSubmission, { state: 'pending' }>,
    options: CallOptions,
  ): Promise<TrimmedBtf> {
    const url = job.result?.url;
    if (url === undefined)
      throw new BtfhubResponseError('GET', this.url(submission.location), `job ${job.job_id} completed without a result url`);
    const answer = await this.request({ method: 'GET', path: url, signal: options.signal });
    const result = this.trimmed(answer, 'GET', submission.objectsHash, undefined);
    if (job.result?.sha256 !== undefined && result.sha256 !== job.result.sha256) {
      throw new BtfhubResponseError('GET', answer.url, `result sha256 ${result.sha256} is not the job's ${job.result.sha256}`);
    }
    return { ...result, jobId: job.job_id, cache: 'miss' };
  }

  /** A 200 with a trimmed BTF: its bytes, checked against the ETag, and its headers. */
  private trimmed(answer: Answer, method: string, hash: string, fields: KernelIdentityBody | undefined): TrimmedBtf {
    const sha256 = sha256Hex(answer.body);
    const etag = stripEtag(answer.headers.get('etag'));
    if (etag !== undefined && etag !== sha256) {
      throw new BtfhubResponseError(
        method,
        answer.url,
        `body sha256 ${sha256} does not match the ETag ${etag} (truncated or altered answer)`,
      );
    }
    const cache = answer.headers.get('x-btfhub-cache');
    return {
      btf: answer.body,
      sha256,
      kernel: answer.headers.get('x-btfhub-kernel') ?? (fields === undefined ? '' : kernelLabel(fields)),
      objectsHash: answer.headers.get('x-btfhub-objects-hash') ?? hash,
      cache: cache === 'hit' || cache === 'miss' ? cache : undefined,
    };
  }

  private json<T>(answer: Answer, method: string): T {
    try {
      return JSON.parse(Buffer.from(answer.body).toString('utf8')) as T;
    } catch {
      throw new BtfhubResponseError(
        method,
        answer.url,
        `expected JSON, got ${JSON.stringify(Buffer.from(answer.body.subarray(0, 80)).toString('utf8'))}`,
      );
    }
  }

  private url(path: string, query: RequestSpec['query'] = {}): string {
    // An absolute URL (a Location elsewhere) is used as is; a path, absolute or not, goes under the base.
    const url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(path.replace(/^\/+/, ''), this.baseUrl);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
    return url.toString();
  }

  /** One call: attempts, timeouts, retries and waits, then the answer or a typed error. */
  private async request(spec: RequestSpec): Promise<Answer> {
    const url = this.url(spec.path, spec.query);
    const { maxAttempts, timeoutMs } = this.options;
    const headers = {
      'user-agent': USER_AGENT,
      accept: 'application/json, application/octet-stream',
      ...this.options.headers,
      ...spec.headers,
    };
    for (let attempt = 1; ; attempt++) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = spec.signal ? AbortSignal.any([timeout, spec.signal]) : timeout;
      let response: Response;
      let body: Uint8Array;
      try {
        response = await this.options.fetch(url, { method: spec.method, headers, body: spec.body?.(), signal, redirect: 'follow' });
        body = new Uint8Array(await response.arrayBuffer());
      } catch (err) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        const timedOut = timeout.aborted;
        if (attempt >= maxAttempts) {
          throw timedOut
            ? new BtfhubTimeoutError(spec.method, url, timeoutMs, 'request', attempt)
            : new BtfhubNetworkError(spec.method, url, attempt, { cause: err });
        }
        await this.pause(spec, url, attempt, timedOut ? 'timeout' : networkReason(err), undefined);
        continue;
      }
      if ((response.status >= 200 && response.status < 300) || spec.accept?.(response.status, body)) {
        return { status: response.status, headers: response.headers, body, url, attempts: attempt };
      }
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      if (isRetryableStatus(response.status) && attempt < maxAttempts) {
        await this.pause(spec, url, attempt, String(response.status), retryAfterMs);
        continue;
      }
      throw httpError(spec.method, url, response.status, body, retryAfterMs, attempt);
    }
  }

  private async pause(spec: RequestSpec, url: string, attempt: number, reason: string, retryAfterMs: number | undefined): Promise<void> {
    const delayMs =
      retryAfterMs !== undefined
        ? Math.min(retryAfterMs, this.options.maxRetryAfterMs)
        : backoffDelay(attempt, { baseMs: this.options.backoffBaseMs, maxMs: this.options.backoffMaxMs }, this.options.random);
    this.options.onRetry?.({ method: spec.method, url, attempt, reason, delayMs, retryAfter: retryAfterMs !== undefined });
    await sleep(delayMs, spec.signal);
  }
}

function httpError(
  method: string,
  url: string,
  status: number,
  body: Uint8Array,
  retryAfterMs: number | undefined,
  attempts: number,
): BtfhubHttpError {
  const text = Buffer.from(body).toString('utf8');
  let parsed: { error?: unknown; message?: unknown; field?: unknown } | undefined;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const code = typeof parsed?.error === 'string' ? parsed.error : undefined;
  const message = typeof parsed?.message === 'string' ? parsed.message : text.slice(0, 200).trim();
  const field = typeof parsed?.field === 'string' ? parsed.field : undefined;
  return new BtfhubHttpError(method, url, status, code, message, field, retryAfterMs, attempts);
}

function errorCode(body: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}

/** `"abc"` or `W/"abc"` → `abc`. */
function stripEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  const match = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim());
  return match ? match[1] : etag.trim();
}

/** The objects as file parts named `field`, each with its file name (or `object-N.bpf.o`). */
function appendObjects(form: FormData, field: string, objects: readonly TrimObject[]): void {
  objects.forEach((object, i) => {
    const name = object instanceof Uint8Array ? undefined : object.name;
    form.append(field, new Blob([objectBytes(object)], { type: 'application/octet-stream' }), name ?? `object-${i}.bpf.o`);
  });
}

function objectBytes(object: TrimObject): Uint8Array {
  return object instanceof Uint8Array ? object : object.bytes;
}

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function kernelLabel(fields: KernelIdentityBody): string {
  return `${fields.distro}/${fields.distro_version}/${fields.arch}/${fields.kernel_version}`;
}

function kernelPath(fields: KernelIdentityBody): string {
  return [fields.distro, fields.distro_version, fields.arch, fields.kernel_version].map(encodeURIComponent).join('/');
}
