/**
 * What a BtfhubClient call can fail with. Every error is a BtfhubError; the subclass says
 * whether the service answered (BtfhubHttpError, with its status and `{error, message,
 * field}`), could not be reached (BtfhubNetworkError), did not answer in time
 * (BtfhubTimeoutError), ran the trim and failed it (BtfhubJobFailedError), or answered
 * something that is not what the API promises (BtfhubResponseError).
 */
import type { CoverageJobStatusBody, JobStatusBody } from './types.js';

export class BtfhubError extends Error {
  override name = 'BtfhubError';
}

/** A non-2xx answer. `code`, `serverMessage` and `field` are the server's error body, when it sent one. */
export class BtfhubHttpError extends BtfhubError {
  override name = 'BtfhubHttpError';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    /** The body's `error` (`kernel_not_found`, `invalid_field`...), undefined when the body was not the API's error JSON. */
    readonly code: string | undefined,
    /** The body's `message`, or the raw body text (shortened) when it was not JSON. */
    readonly serverMessage: string,
    /** The body's `field`: which request field is at fault. */
    readonly field: string | undefined,
    /** Retry-After, in milliseconds, when the answer carried one. */
    readonly retryAfterMs: number | undefined,
    /** How many attempts were made (more than 1 when retryable answers came first). */
    readonly attempts: number,
  ) {
    const what = code === undefined ? serverMessage : `${code}: ${serverMessage}`;
    super(`${method} ${url}: ${status}${what === '' ? '' : ` ${what}`}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`);
  }
}

/** The service could not be reached, or the connection broke (after all retries). */
export class BtfhubNetworkError extends BtfhubError {
  override name = 'BtfhubNetworkError';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(`${method} ${url}: ${describeCause(options.cause)}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`, options);
  }
}

/**
 * No answer in time. `phase` is `request` when one request outlived the per-request timeout
 * on every attempt, `total` when a call's overall bound (a trim followed to its end) ran out.
 */
export class BtfhubTimeoutError extends BtfhubError {
  override name = 'BtfhubTimeoutError';
  constructor(
    readonly method: string,
    readonly url: string,
    readonly timeoutMs: number,
    readonly phase: 'request' | 'total',
    readonly attempts: number,
  ) {
    super(
      phase === 'request'
        ? `${method} ${url}: no answer within ${timeoutMs} ms${attempts > 1 ? ` (on each of ${attempts} attempts)` : ''}`
        : `${method} ${url}: not done within ${timeoutMs} ms`,
    );
  }
}

/** The service ran the job (a trim, a compat report...) and it failed. `clientError` is true when the objects are at fault. */
export class BtfhubJobFailedError extends BtfhubError {
  override name = 'BtfhubJobFailedError';
  readonly clientError: boolean;
  constructor(
    readonly jobId: string,
    readonly job: JobStatusBody | CoverageJobStatusBody,
  ) {
    super(`${'kind' in job ? job.kind : 'trim'} job ${jobId} failed: ${job.error?.message ?? 'no reason given'}`);
    this.clientError = job.error?.client_error ?? false;
  }
}

/** A 2xx answer that is not what the API promises (bad JSON, a body that does not match its ETag). */
export class BtfhubResponseError extends BtfhubError {
  override name = 'BtfhubResponseError';
  constructor(
    readonly method: string,
    readonly url: string,
    problem: string,
  ) {
    super(`${method} ${url}: ${problem}`);
  }
}

/** fetch's "fetch failed" hides the cause (ECONNREFUSED, ENOTFOUND...): show it. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as { code?: unknown }).code;
    return typeof code === 'string' && !inner.message.includes(code) ? `${code}: ${inner.message}` : inner.message;
  }
  return cause.message;
}
