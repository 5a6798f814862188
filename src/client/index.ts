/**
 * `btfhub-online/client`: the TypeScript client of the btfhub-online API.
 *
 *   import { BtfhubClient } from 'btfhub-online/client';
 *   const client = new BtfhubClient({ baseUrl: process.env.BTFHUB_URL! });
 *   const { btf, kernel } = await client.trim([await readFile('prog.bpf.o')], identity.ref);
 *
 * Retries with backoff on network errors, timeouts, 429 and 5xx (honouring Retry-After),
 * a timeout on every request, typed errors with the server's `{error, message, field}`.
 */
export { BtfhubClient, CLIENT_DEFAULTS, kernelFields, objectsHash } from './client.js';
export type { BtfhubClientOptions, CallOptions, CompatOptions, RetryEvent, TrimOptions, WaitOptions } from './client.js';
export {
  BtfhubError,
  BtfhubHttpError,
  BtfhubJobFailedError,
  BtfhubNetworkError,
  BtfhubResponseError,
  BtfhubTimeoutError,
} from './errors.js';
export { backoffDelay, isRetryableStatus, parseRetryAfter } from './retry.js';
export type * from './types.js';
