/**
 * Layer 4: the btfhub-online service (`--server URL` or BTFHUB_URL): `POST /api/v1/btf` with
 * the objects and the host's identity, a 202 followed through `GET /api/v1/jobs/{id}` until
 * the trim is done, all within a bounded time. Skipped with --offline.
 */
import { BtfhubClient, type BtfhubClientOptions } from '../client/client.js';
import { BtfhubError, BtfhubHttpError } from '../client/errors.js';
import type { KernelRef } from '../catalog/catalog.js';
import { DEFAULT_SERVICE_TIMEOUT_MS, failed, serviceSkipReason, skipped, type LayerResult } from './layer.js';

export { DEFAULT_SERVICE_TIMEOUT_MS, serviceSkipReason };

export interface ServiceLayerOptions {
  /** The service's base URL; undefined when none is configured. */
  server: string | undefined;
  offline?: boolean;
  kernel: KernelRef;
  objects: readonly { name: string; bytes: Uint8Array }[];
  /** Bound on the whole exchange (default 120 s). */
  timeoutMs?: number;
  /** Client settings (per-request timeout, retries, a fetch for tests). */
  client?: Omit<BtfhubClientOptions, 'baseUrl'>;
  /** Progress lines: retries, a 202 being followed. */
  log?: (line: string) => void;
}

export async function serviceLayer(options: ServiceLayerOptions): Promise<LayerResult> {
  const skip = serviceSkipReason(options);
  if (skip !== undefined || options.server === undefined) return skipped(skip ?? '');
  let client: BtfhubClient;
  try {
    client = new BtfhubClient({
      ...options.client,
      baseUrl: options.server,
      onRetry: (event) => {
        options.log?.(
          `${event.method} ${event.url}: ${event.reason}, retry in ${event.delayMs} ms${event.retryAfter ? ' (Retry-After)' : ''}`,
        );
        options.client?.onRetry?.(event);
      },
    });
  } catch (err) {
    return failed(`${options.server}: not a service URL (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const result = await client.trim(options.objects, options.kernel, {
      timeoutMs: options.timeoutMs ?? DEFAULT_SERVICE_TIMEOUT_MS,
      onPending: (pending) => options.log?.(`the service is still trimming (job ${pending.jobId}); following it`),
    });
    const how = result.jobId !== undefined ? `job ${result.jobId}` : result.cache === 'hit' ? 'cache hit' : 'trimmed on request';
    return {
      ok: true,
      path: new URL('api/v1/btf', client.baseUrl).toString(),
      bytes: result.btf,
      form: 'trimmed',
      detail: `${how}, kernel ${result.kernel}, sha256 ${result.sha256}`,
    };
  } catch (err) {
    if (err instanceof BtfhubHttpError && err.code === 'kernel_not_found') {
      return failed(`the service has no BTF for this kernel: ${err.serverMessage}`);
    }
    if (err instanceof BtfhubError) return failed(err.message);
    throw err;
  }
}
