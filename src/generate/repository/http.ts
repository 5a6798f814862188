/**
 * Downloads for on-demand generation, bounded in size and time: repository indexes into
 * memory (`fetchIndex`), debug packages to a file, verified against the index's SHA256
 * before anyone uses them (`downloadVerified`). A file whose checksum differs is deleted and
 * reported as GenerateError('CHECKSUM').
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { GenerateError } from '../errors.js';

export type FetchFunction = typeof fetch;

export interface FetchBounds {
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The fetch to use; the global one by default. */
  fetch?: FetchFunction;
}

/** The body of `url`, or undefined on 404/410 (an index a repository does not offer in that form). */
export async function fetchIndex(url: string, bounds: FetchBounds): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  const got = await fetchBody(url, bounds, (chunk) => {
    chunks.push(chunk);
  });
  return got === undefined ? undefined : Buffer.concat(chunks);
}

export interface VerifiedDownload {
  path: string;
  bytes: number;
  sha256: string;
}

export interface DownloadOptions extends FetchBounds {
  /** The SHA256 the repository index gives (hex). */
  sha256: string;
  /** The size the index gives, if any: a different size fails before the checksum. */
  expectedBytes?: number;
}

/** Downloads `url` to `path`, counting and hashing as it streams; deletes it unless it verifies. */
export async function downloadVerified(url: string, path: string, options: DownloadOptions): Promise<VerifiedDownload> {
  const expected = options.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected))
    throw new GenerateError('INDEX', `${url}: the index's SHA256 '${options.sha256}' is not 64 hex digits`);
  const maxBytes = options.expectedBytes !== undefined ? Math.min(options.maxBytes, options.expectedBytes) : options.maxBytes;
  const hash = createHash('sha256');
  const out = createWriteStream(path, { flags: 'wx' });
  let bytes = 0;
  try {
    const status = await fetchBody(url, { ...options, maxBytes }, async (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
    }).catch((err: unknown) => {
      // The index said how big it is: more than that is the index's size bound, not ours.
      if (
        err instanceof GenerateError &&
        err.code === 'LIMIT' &&
        options.expectedBytes !== undefined &&
        options.expectedBytes < options.maxBytes
      ) {
        throw new GenerateError('CHECKSUM', `${url}: more than the ${options.expectedBytes} bytes the index gives`);
      }
      throw err;
    });
    out.end();
    await finished(out);
    if (status === undefined)
      throw new GenerateError('DOWNLOAD', `GET ${url}: 404 Not Found (the index lists a package the repository does not have)`);
    if (options.expectedBytes !== undefined && bytes !== options.expectedBytes) {
      throw new GenerateError('CHECKSUM', `${url}: ${bytes} bytes downloaded, the index gives ${options.expectedBytes}`);
    }
    const actual = hash.digest('hex');
    if (actual !== expected) throw new GenerateError('CHECKSUM', `${url}: SHA256 ${actual} does not match the index's ${expected}`);
    return { path, bytes, sha256: actual };
  } catch (err) {
    out.destroy();
    await rm(path, { force: true });
    throw err;
  }
}

/** GETs `url`, handing each chunk to `onChunk`; undefined on 404/410. Bounded by `bounds`. */
async function fetchBody(
  url: string,
  bounds: FetchBounds,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
): Promise<number | undefined> {
  const timeout = AbortSignal.timeout(bounds.timeoutMs);
  const signal = bounds.signal ? AbortSignal.any([bounds.signal, timeout]) : timeout;
  const doFetch = bounds.fetch ?? fetch;
  const timedOut = () => new GenerateError('TIMEOUT', `GET ${url}: no complete answer within ${bounds.timeoutMs} ms`);
  let response: Response;
  try {
    response = await doFetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    if (timeout.aborted) throw timedOut();
    if (bounds.signal?.aborted) throw bounds.signal.reason;
    throw new GenerateError('DOWNLOAD', `GET ${url}: ${describeFetchError(err)}`, { cause: err });
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new GenerateError('DOWNLOAD', `GET ${url}: ${response.status} ${response.statusText}`.trimEnd());
  }
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  if (length > bounds.maxBytes) {
    await response.body?.cancel();
    throw new GenerateError('LIMIT', `GET ${url}: ${length} bytes is more than the bound of ${bounds.maxBytes} bytes`);
  }
  let total = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.length;
        if (total > bounds.maxBytes) throw new GenerateError('LIMIT', `GET ${url}: more than the bound of ${bounds.maxBytes} bytes`);
        await onChunk(chunk);
      }
    }
  } catch (err) {
    await response.body?.cancel().catch(() => {});
    if (err instanceof GenerateError) throw err;
    if (timeout.aborted) throw timedOut();
    if (bounds.signal?.aborted) throw bounds.signal.reason;
    throw new GenerateError('DOWNLOAD', `GET ${url}: the transfer failed after ${total} bytes: ${describeFetchError(err)}`, { cause: err });
  }
  return response.status;
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
