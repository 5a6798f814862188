/**
 * Reading a table of NUL-terminated strings (a BTF string section, an ELF section name table)
 * with work linear in the table, whatever offsets the records use (docs/CODEC.md §11).
 *
 * Offsets may point anywhere, including into the middle of another string, and a hostile
 * input can point 40,000 records at one megabyte-long string, or at 40,000 different places
 * inside it. So nothing here scans from an offset to the end of its string more than once
 * per string:
 * - a short string (NUL within 128 bytes of the offset) is read directly: bounded work;
 * - a long one is located through an index of the table's NUL bytes (built once, in one
 *   pass, the first time a long string is met), decoded once per string, and every offset
 *   inside it gets a slice of that one decoded string (V8 slices share the characters);
 * - its right-most flavor separator is found once per string, so any offset's essential name
 *   and hash cost a lookup and at most 64 bytes.
 * Decoded strings are cached per offset (bounded cache; a miss costs at most 128 bytes).
 *
 * Strings are latin1 (one char per input byte), which keeps any byte sequence intact through
 * decode and encode.
 */
import { essentialLengthOfBytes, FNV_OFFSET, FNV_PRIME, HASH_WHOLE, hashEssentialBytes, isFlavorSeparatorAt } from './names.js';
import { workCounters } from './work-counters.js';

/** Offsets whose NUL is this close are "short": read directly, never indexed. */
const SHORT = 128;
/**
 * Entries of the per-offset string cache before it is emptied: a decoded kernel lives long in
 * the service, so the cache is bounded; a miss costs at most 128 bytes (long strings stay
 * shared through `longStrings`).
 */
const CACHE_ENTRIES = 1 << 14;
/** String.fromCharCode takes its arguments on the stack: decode long strings in chunks. */
const DECODE_CHUNK = 8192;

export class StringSection {
  /** Sorted offsets (relative to the table) of every NUL byte; built on the first long string. */
  private nuls: Uint32Array | undefined;
  private readonly decoded = new Map<number, string>();
  /** Long strings decoded whole, by the offset of their first byte. */
  private readonly longStrings = new Map<number, string>();
  /** Right-most flavor separator (absolute position, -1 for none) of long strings, by start. */
  private readonly separators = new Map<number, number>();

  /** The table is `bytes[start, start + length)`. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
    readonly length: number,
  ) {}

  /**
   * Offset (relative) of the NUL ending the string at `offset`, or -1 when the table has no
   * NUL at or after it. `offset` must be inside the table.
   */
  end(offset: number): number {
    const bytes = this.bytes;
    const base = this.start;
    const stop = Math.min(this.length, offset + SHORT);
    for (let p = offset; p < stop; p++) {
      if (bytes[base + p] === 0) {
        workCounters.bytesScanned += p - offset + 1;
        return p;
      }
    }
    workCounters.bytesScanned += stop - offset;
    if (stop === this.length) return -1;
    const k = this.nulIndexAtOrAfter(offset);
    return k < 0 ? -1 : this.nulTable()[k]!;
  }

  /** The string at `offset` (inside the table, NUL-terminated: callers check with `end`). */
  string(offset: number): string {
    let s = this.decoded.get(offset);
    if (s !== undefined) return s;
    const end = this.end(offset);
    if (end < 0) throw new RangeError(`no NUL after string offset ${offset}`);
    if (end - offset <= SHORT) {
      s = this.decode(offset, end);
    } else {
      const first = this.startOfLongString(offset);
      let whole = this.longStrings.get(first);
      if (whole === undefined) {
        whole = this.decode(first, end);
        this.longStrings.set(first, whole);
      }
      s = offset === first ? whole : whole.slice(offset - first);
    }
    if (this.decoded.size >= CACHE_ENTRIES) this.decoded.clear();
    this.decoded.set(offset, s);
    return s;
  }

  /** True when the string at `offset` equals `s`, compared in place (bounded by `s.length`). */
  equals(offset: number, s: string): boolean {
    const bytes = this.bytes;
    let p = this.start + offset;
    const limit = this.start + this.length;
    for (let i = 0; i < s.length; i++, p++) {
      if (p >= limit || bytes[p] !== s.charCodeAt(i)) {
        workCounters.bytesScanned += i + 1;
        return false;
      }
    }
    workCounters.bytesScanned += s.length + 1;
    return p < limit && bytes[p] === 0;
  }

  /** True when the string at `offset` starts with `prefix` (compared in place). */
  equalsPrefix(offset: number, prefix: string): boolean {
    const bytes = this.bytes;
    const p = this.start + offset;
    if (offset + prefix.length > this.length) return false;
    for (let i = 0; i < prefix.length; i++) {
      if (bytes[p + i] !== prefix.charCodeAt(i)) {
        workCounters.bytesScanned += i + 1;
        return false;
      }
    }
    workCounters.bytesScanned += prefix.length;
    return true;
  }

  /** Length of the essential name (flavor suffix dropped) of the string at `offset`. */
  essentialLength(offset: number): number {
    const end = this.end(offset);
    if (end < 0) throw new RangeError(`no NUL after string offset ${offset}`);
    return this.essentialEnd(offset, end) - offset;
  }

  /** `hashEssentialBytes` of the essential name of the string at `offset`. */
  essentialHash(offset: number): number {
    // Fast path, one pass over a short name (every real one): FNV-1a as it goes, remembering
    // the hash at the start of each underscore run, which is the essential name's hash when
    // that run turns out to be the right-most flavor separator.
    const bytes = this.bytes;
    const start = this.start + offset;
    const stop = this.start + Math.min(this.length, offset + SHORT);
    let h = FNV_OFFSET;
    let saved = 0;
    let essential = -1;
    let essentialHash = 0;
    let run = 0;
    let runStart = 0;
    for (let j = start; j < stop; j++) {
      const c = bytes[j]!;
      if (c === 0) {
        workCounters.bytesScanned += j - start + 1;
        const length = essential >= 0 ? essential : j - start;
        if (length > HASH_WHOLE) return hashEssentialBytes(bytes, start, start + length);
        return (essential >= 0 ? essentialHash : h) >>> 0;
      }
      if (c === 95) {
        if (run === 0) {
          saved = h;
          runStart = j;
        }
        run++;
      } else {
        if (run === 3 && runStart > start) {
          essential = runStart - start;
          essentialHash = saved;
        }
        run = 0;
      }
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    const end = this.end(offset);
    if (end < 0) throw new RangeError(`no NUL after string offset ${offset}`);
    return hashEssentialBytes(this.bytes, this.start + offset, this.start + this.essentialEnd(offset, end));
  }

  /** Where the essential name of the string [offset, end) ends. */
  private essentialEnd(offset: number, end: number): number {
    if (end - offset <= SHORT) return offset + essentialLengthOfBytes(this.bytes, this.start + offset, this.start + end);
    const first = this.startOfLongString(offset);
    let separator = this.separators.get(first);
    if (separator === undefined) {
      separator = -1;
      const base = this.start;
      for (let i = end - 5; i >= first; i--) {
        if (isFlavorSeparatorAt(this.bytes, base + i)) {
          separator = i;
          break;
        }
      }
      workCounters.bytesScanned += end - Math.max(first, separator);
      this.separators.set(first, separator);
    }
    // A separator before `offset` is not part of this (suffix) name.
    return separator >= offset ? separator + 1 : end;
  }

  /** First byte of the string that contains `offset` (a long one: the NUL index exists). */
  private startOfLongString(offset: number): number {
    const k = this.nulIndexAtOrAfter(offset);
    return k > 0 ? this.nulTable()[k - 1]! + 1 : 0;
  }

  private decode(from: number, to: number): string {
    const bytes = this.bytes.subarray(this.start + from, this.start + to);
    workCounters.charsDecoded += to - from;
    // apply() takes the typed array as it is; a spread walks it through the iterator protocol,
    // which made decoding names twice as slow in a fresh process (the CLI's case).
    if (bytes.length <= DECODE_CHUNK) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    let s = '';
    for (let i = 0; i < bytes.length; i += DECODE_CHUNK)
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + DECODE_CHUNK) as unknown as number[]);
    return s;
  }

  private nulTable(): Uint32Array {
    if (this.nuls === undefined) {
      const table = this.bytes.subarray(this.start, this.start + this.length);
      let count = 0;
      for (let p = table.indexOf(0); p >= 0; p = table.indexOf(0, p + 1)) count++;
      const nuls = new Uint32Array(count);
      let k = 0;
      for (let p = table.indexOf(0); p >= 0; p = table.indexOf(0, p + 1)) nuls[k++] = p;
      workCounters.bytesScanned += 2 * this.length;
      this.nuls = nuls;
    }
    return this.nuls;
  }

  /** Index in the NUL table of the first NUL at or after `offset`, or -1. */
  private nulIndexAtOrAfter(offset: number): number {
    const nuls = this.nulTable();
    let lo = 0;
    let hi = nuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (nuls[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < nuls.length ? lo : -1;
  }
}
