/**
 * gzip decompression with a bound on the output, for inputs from the network (a gzipped
 * upload). zlib stops inflating once `maxOutputLength` is reached, so a small hostile
 * file (a few KiB inflating to gigabytes) costs at most the limit: ArchiveError('LIMIT').
 * A damaged stream is ArchiveError('GZIP').
 */
import { createGunzip, gunzip } from 'node:zlib';
import { ArchiveError } from './errors.js';
import type { DecompressOptions } from './xz.js';

/** `1F 8B 08`: the gzip magic and the deflate method, the only one gzip defines. */
export const GZIP_MAGIC: readonly number[] = [0x1f, 0x8b, 0x08];

export function isGzip(bytes: Uint8Array): boolean {
  return GZIP_MAGIC.every((b, i) => bytes[i] === b);
}

export interface GzipOptions extends Pick<DecompressOptions, 'maxOutputBytes'> {
  /**
   * Told the size of each piece of output as it is produced, before the next is inflated;
   * throwing stops the inflation and rejects with that error (a caller's memory budget
   * counts a gzip bomb as it grows, not once it is whole).
   */
  onOutput?: (bytes: number) => void;
}

export function decompressGzip(input: Uint8Array, options: GzipOptions): Promise<Uint8Array> {
  const { maxOutputBytes, onOutput } = options;
  if (onOutput === undefined) {
    return new Promise((resolve, reject) => {
      // One byte more than allowed: output of exactly the limit is fine, anything beyond is not.
      gunzip(input, { maxOutputLength: Math.max(1, Math.min(maxOutputBytes + 1, 2 ** 32)) }, (err, out) => {
        if (err === null) {
          if (out.length > maxOutputBytes) reject(limitError(maxOutputBytes));
          else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
          return;
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') reject(limitError(maxOutputBytes));
        else reject(new ArchiveError('GZIP', `gzip: ${err.message}`, { cause: err }));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const inflater = createGunzip();
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      inflater.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    inflater.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxOutputBytes) return fail(limitError(maxOutputBytes));
      try {
        onOutput(chunk.length);
      } catch (error) {
        return fail(error);
      }
      chunks.push(chunk);
    });
    inflater.on('error', (err) => fail(new ArchiveError('GZIP', `gzip: ${err.message}`, { cause: err })));
    inflater.on('end', () => {
      if (failed) return;
      const out = Buffer.concat(chunks, size);
      resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    });
    inflater.end(input);
  });
}

function limitError(maxOutputBytes: number): ArchiveError {
  return new ArchiveError('LIMIT', `gzip: decompressed data exceeds the limit of ${maxOutputBytes} bytes`);
}
