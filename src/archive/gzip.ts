/**
 * gzip decompression with a bound on the output, for inputs from the network (a gzipped
 * upload). zlib stops inflating once `maxOutputLength` is reached, so a small hostile
 * file (a few KiB inflating to gigabytes) costs at most the limit: ArchiveError('LIMIT').
 * A damaged stream is ArchiveError('GZIP').
 */
import { gunzip } from 'node:zlib';
import { ArchiveError } from './errors.js';
import type { DecompressOptions } from './xz.js';

/** `1F 8B 08`: the gzip magic and the deflate method, the only one gzip defines. */
export const GZIP_MAGIC: readonly number[] = [0x1f, 0x8b, 0x08];

export function isGzip(bytes: Uint8Array): boolean {
  return GZIP_MAGIC.every((b, i) => bytes[i] === b);
}

export function decompressGzip(input: Uint8Array, options: Pick<DecompressOptions, 'maxOutputBytes'>): Promise<Uint8Array> {
  const { maxOutputBytes } = options;
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

function limitError(maxOutputBytes: number): ArchiveError {
  return new ArchiveError('LIMIT', `gzip: decompressed data exceeds the limit of ${maxOutputBytes} bytes`);
}
