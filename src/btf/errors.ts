/**
 * Typed errors of the codec. Every malformed input ends in one of these, never in a
 * RangeError or a TypeError: the message says what is wrong and where (a byte offset in
 * the input, a type id, or an object/section/instruction for CO-RE).
 */

/** Which layer rejected the input. Lets callers map errors to HTTP statuses or exit codes. */
export type CodecErrorCode =
  | 'ELF' // not an ELF64 file, or a malformed section table
  | 'BTF' // malformed BTF blob (header, types, strings)
  | 'BTF_EXT' // malformed .BTF.ext
  | 'MISSING_SECTION' // an ELF without .BTF or .BTF.ext
  | 'CORE' // a CO-RE relocation that libbpf (and so bpftool) rejects
  | 'TRIM' // the trimmer hit a case bpftool aborts on (spec §6.7)
  | 'ENCODE'; // a type graph that cannot be written as BTF

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws a CodecError of `code` unless `condition` holds. */
export function check(condition: boolean, code: CodecErrorCode, message: () => string): asserts condition {
  if (!condition) throw new CodecError(code, message());
}
