/**
 * When to retry and how long to wait: exponential backoff with jitter, unless the server
 * said how long (Retry-After), bounded by what the caller allows.
 */

/** Statuses worth another attempt: overload, unavailability, gateway trouble, server faults. */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  // 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

export interface BackoffOptions {
  /** The first delay's ceiling. */
  baseMs: number;
  /** No delay is longer. */
  maxMs: number;
}

/**
 * The delay before retry number `retry` (1 for the first retry): "equal jitter", a random
 * point in the upper half of min(maxMs, baseMs * 2^(retry-1)), so retries from many
 * clients spread out but none comes back immediately.
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Retry-After (RFC 9110 10.2.3) in milliseconds: delay-seconds or an HTTP-date. Undefined
 * when absent or unparseable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); "-1" is not one.
  if (!/[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
