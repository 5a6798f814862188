/**
 * The one error type of kernel BTF generation. Every way a generation can fail (a file that
 * is no package, a package without a vmlinux, a bound exceeded, pahole failing, a download
 * whose checksum differs) ends in a GenerateError whose `code` a caller can map to an exit
 * status, an HTTP status or a `.failed` marker, and whose message names the cause and the
 * input (file, entry, offset, URL).
 */

export type GenerateErrorCode =
  | 'INPUT' // the input file cannot be read (missing, a directory, no permission)
  | 'NOT_A_PACKAGE' // not a vmlinux ELF, .deb/.ddeb or RPM
  | 'UNSUPPORTED' // a package form we recognise but do not read (bzip2 data, RPM large-file cpio)
  | 'TRUNCATED' // the input ends before a header or an entry it declares
  | 'CORRUPT' // a malformed header, a decompressor rejecting its input
  | 'LIMIT' // a bound on input size, extracted size or header size was exceeded
  | 'TIMEOUT' // extraction (or the whole generation) ran past its time bound
  | 'NO_VMLINUX' // the package holds no vmlinux where distributions put it
  | 'RELEASE_MISMATCH' // --kernel disagrees with the release the vmlinux path names
  | 'BAD_RELEASE' // a kernel release that is not usable as a name
  | 'NO_DWARF' // the vmlinux has no DWARF to make BTF from
  | 'PAHOLE' // pahole missing, failing, or writing nothing
  | 'PAHOLE_TIMEOUT' // pahole ran past its time bound and was killed
  | 'BAD_BTF' // pahole's output does not decode, or lacks the core kernel types
  | 'NOT_FOUND' // no configured repository has a debug package for the kernel
  | 'INDEX' // a repository index is missing or malformed
  | 'DOWNLOAD' // an HTTP download failed
  | 'CHECKSUM' // a download's SHA256 differs from the index's
  | 'RECENTLY_FAILED'; // the negative cache holds a recent failure for this kernel

/** What a `.failed` marker or a job's failure record holds: enough to tell a user why. */
export interface GenerateFailure {
  code: GenerateErrorCode;
  /** One line for people: the error's message. */
  reason: string;
  /** When the failure happened (ISO 8601). */
  at: string;
}

export class GenerateError extends Error {
  override readonly name = 'GenerateError';
  constructor(
    readonly code: GenerateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** A human reason, without the code: what a `.failed` marker shows. */
  get reason(): string {
    return this.message;
  }

  toFailure(at: Date = new Date()): GenerateFailure {
    return { code: this.code, reason: this.message, at: at.toISOString() };
  }
}

/** `err` with `context: ` before its message when it is a GenerateError; other errors unchanged. */
export function withContext(err: unknown, context: string): unknown {
  if (err instanceof GenerateError) return new GenerateError(err.code, `${context}: ${err.message}`, { cause: err.cause });
  return err;
}
