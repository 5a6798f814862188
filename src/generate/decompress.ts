/**
 * Streaming decompression of package contents (a .deb's data.tar.*, an RPM payload) with a
 * bound on the output: a small hostile file can expand without limit, so the output is
 * counted as it flows and the decompressor is killed past the bound (GenerateError 'LIMIT').
 * gzip is node:zlib; xz and zstd are the system's `xz` (as src/archive uses) and `zstd`
 * binaries through pipes, since Node 20's zlib has neither. Nothing is buffered beyond a
 * pipe's worth of chunks, whatever the package size.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { GenerateError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

/** Magic numbers of the compressions packages use, including the ones we refuse. */
const MAGICS: readonly { name: Compression | 'bzip2' | 'lzma'; bytes: readonly number[] }[] = [
  { name: 'gzip', bytes: [0x1f, 0x8b] },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { name: 'lzma', bytes: [0x5d, 0x00, 0x00] },
];

/** The compression whose magic starts `head`, or undefined (uncompressed, or unknown). */
export function sniffCompression(head: Uint8Array): Compression | 'bzip2' | 'lzma' | undefined {
  return MAGICS.find((m) => m.bytes.every((b, i) => head[i] === b))?.name;
}

export interface DecompressOptions {
  /** Kill the decompressor and fail with LIMIT once the output exceeds this many bytes. */
  maxOutputBytes: number;
  /** Aborting kills the decompressor; the generator then throws the signal's reason. */
  signal?: AbortSignal;
  /** Names the stream in messages ("data.tar.xz of pkg.deb"). */
  what: string;
  /** Executables, for tests and unusual installs. */
  xzPath?: string;
  zstdPath?: string;
}

/**
 * xz and zstd may allocate this much for their window; far above what packages use
 * (xz -9: 64 MiB, zstd -19: 8 MiB) and the same cap src/archive gives xz.
 */
const DECOMPRESS_MEMORY = '512MiB';

/** The decompressed bytes of `source`, as a stream of chunks. */
export function decompressChunks(
  compression: Compression,
  source: AsyncIterable<Uint8Array>,
  options: DecompressOptions,
): AsyncGenerator<Uint8Array> {
  switch (compression) {
    case 'none':
      return counted(source, options);
    case 'gzip':
      return gunzipChunks(source, options);
    case 'xz':
      return spawnedChunks(
        options.xzPath ?? 'xz',
        ['--decompress', '--stdout', `--memlimit-decompress=${DECOMPRESS_MEMORY}`],
        source,
        options,
      );
    case 'zstd':
      return spawnedChunks(
        options.zstdPath ?? 'zstd',
        ['--decompress', '--stdout', '--quiet', `--memory=${DECOMPRESS_MEMORY.replace('iB', 'B')}`],
        source,
        options,
      );
  }
}

async function* counted(source: AsyncIterable<Uint8Array>, options: DecompressOptions): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    throwIfAborted(options.signal);
    total += chunk.length;
    if (total > options.maxOutputBytes) throw limitError(options);
    yield chunk;
  }
}

async function* gunzipChunks(source: AsyncIterable<Uint8Array>, options: DecompressOptions): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source, { objectMode: false });
  const gunzip = createGunzip();
  let feedError: Error | undefined;
  const feeding = pipeline(input, gunzip).catch((err: unknown) => {
    feedError = err instanceof Error ? err : new Error(String(err));
  });
  let total = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      throwIfAborted(options.signal);
      total += chunk.length;
      if (total > options.maxOutputBytes) throw limitError(options);
      yield chunk;
    }
    await feeding;
    if (feedError !== undefined) throw feedError;
  } catch (err) {
    if (feedError instanceof GenerateError) throw feedError;
    if (err instanceof GenerateError || isAbortReason(err, options.signal)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    const code = /unexpected end/i.test(message) ? 'TRUNCATED' : 'CORRUPT';
    throw new GenerateError(code, `${options.what}: gzip: ${message}`, { cause: err });
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

async function* spawnedChunks(
  command: string,
  args: string[],
  source: AsyncIterable<Uint8Array>,
  options: DecompressOptions,
): AsyncGenerator<Uint8Array> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const kill = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', kill, { once: true });

  const input = Readable.from(source, { objectMode: false });
  let feedError: Error | undefined;
  // The decompressor stops reading when it meets corrupt data or is killed: the EPIPE on
  // its stdin is not the error to report, its exit status is. An error of the source
  // itself (a truncated package) is, and wins over what the decompressor says about it.
  child.stdin.on('error', () => {});
  const feeding = pipeline(input, child.stdin).catch((err: unknown) => {
    if (feedError === undefined && (err as NodeJS.ErrnoException).code !== 'EPIPE')
      feedError = err instanceof Error ? err : new Error(String(err));
  });

  let total = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      throwIfAborted(options.signal);
      total += chunk.length;
      if (total > options.maxOutputBytes) throw limitError(options);
      yield chunk;
    }
    const { code, signal, error } = await exited;
    await feeding;
    throwIfAborted(options.signal);
    if (feedError instanceof GenerateError) throw feedError;
    if (error) throw new GenerateError('CORRUPT', `${options.what}: cannot run ${command}: ${error.message}`, { cause: error });
    if (code !== 0) {
      const detail = stderr.trim().replace(/\s+/g, ' ') || `exit ${code ?? signal}`;
      const kind = /unexpected end|premature end|truncated|incomplete/i.test(detail) ? 'TRUNCATED' : 'CORRUPT';
      throw new GenerateError(kind, `${options.what}: ${command}: ${detail}`);
    }
    if (feedError !== undefined) throw feedError;
    finished = true;
  } finally {
    options.signal?.removeEventListener('abort', kill);
    if (!finished) kill();
    input.destroy();
    await exited;
  }
}

function limitError(options: DecompressOptions): GenerateError {
  return new GenerateError('LIMIT', `${options.what}: extracted data exceeds the bound of ${options.maxOutputBytes} bytes`);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

function isAbortReason(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && err === signal.reason;
}
