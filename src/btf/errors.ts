/**
 * Typed errors of the codec. Every malformed input ends in one of these, never in a
 * RangeError or a TypeError: the message says what is wrong and where (a byte offset in
 * the input, a type id, or an object/section/instruction for CO-RE).
 */
import type { CodecLimitName, CodecLimits } from './limits.js';

/** Which layer rejected the input. Lets callers map errors to HTTP statuses or exit codes. */
export type CodecErrorCode =
  | 'ELF' // not an ELF64 file, or a malformed section table
  | 'BTF' // malformed BTF blob (header, types, strings)
  | 'BTF_EXT' // malformed .BTF.ext
  | 'MISSING_SECTION' // an ELF without .BTF or .BTF.ext
  | 'CORE' // a CO-RE relocation that libbpf (and so bpftool) rejects
  | 'TRIM' // the trimmer hit a case bpftool aborts on (docs/CODEC.md §8.6)
  | 'ENCODE' // a type graph that cannot be written as BTF
  | 'LIMIT'; // the input is well-formed but larger than a configured bound (`limit` says which)

/** The bound an input went over (code 'LIMIT'). */
export interface CodecLimitExceeded {
  /** The `CodecLimits` field, e.g. 'maxRelocations'. */
  name: CodecLimitName;
  /** The bound in force. */
  value: number;
  /** What the input asked for, when known (a count or a byte size). */
  actual?: number;
}

export class CodecError extends Error {
  override readonly name = 'CodecError';
  /** Set for code 'LIMIT'; kept when the error is re-wrapped with more context. */
  readonly limit?: CodecLimitExceeded;
  constructor(
    readonly code: CodecErrorCode,
    message: string,
    options?: { cause?: unknown; limit?: CodecLimitExceeded },
  ) {
    super(message, options);
    const inherited = options?.cause instanceof CodecError ? options.cause.limit : undefined;
    const limit = options?.limit ?? inherited;
    if (limit) this.limit = limit;
  }
}

/** Throws a CodecError of `code` unless `condition` holds. */
export function check(condition: boolean, code: CodecErrorCode, message: () => string): asserts condition {
  if (!condition) throw new CodecError(code, message());
}

/** A string cut for an error message (names and access strings may be megabytes long). */
export function clip(s: string, max = 160): string {
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length} chars)`;
}

/** The LIMIT error for `name`: "<what> <actual> is over the limit maxX = <value>". */
export function limitError(name: CodecLimitName, value: number, actual: number, what: string): CodecError {
  return new CodecError('LIMIT', `${what}: ${actual} is over the limit ${name} = ${value}`, { limit: { name, value, actual } });
}

/** Throws `limitError` when `actual` exceeds the bound `name` of `limits`. */
export function checkLimit(limits: CodecLimits, name: CodecLimitName, actual: number, what: string): void {
  const value = limits[name];
  if (actual > value) throw limitError(name, value, actual, what);
}
