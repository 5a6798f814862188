/**
 * Typed errors of the archive layer (BTFHub `.btf.tar.xz` files). Like the codec's
 * CodecError, a malformed or hostile input ends in one of these, never in a RangeError,
 * so callers can map `code` to an exit status or an HTTP status.
 */

export type ArchiveErrorCode =
  | 'TAR' // malformed or truncated tar data
  | 'XZ' // xz could not decompress or compress (corrupt stream, xz missing)
  | 'GZIP' // not a valid gzip stream
  | 'LIMIT' // decompressed data larger than the caller allows
  | 'UNSAFE_ENTRY' // absolute path, '..' segment, or a link: not safe to extract
  | 'FORMAT'; // not one of the file layouts we accept

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
  constructor(
    readonly code: ArchiveErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
