/**
 * Essential names and the flavor convention (docs/CODEC.md §7.2, libbpf
 * `bpf_core_essential_name_len`).
 *
 * A flavor separator sits at position i when s[i] != '_', s[i+1..i+3] == "___" and
 * s[i+4] != '_'. The right-most separator wins: `a___b___c` -> `a___b`; `foo____bar`
 * (four underscores) and `___x` are unchanged.
 */
import { workCounters } from './work-counters.js';

export function essentialNameLength(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== 95 &&
      name.charCodeAt(i + 1) === 95 &&
      name.charCodeAt(i + 2) === 95 &&
      name.charCodeAt(i + 3) === 95 &&
      name.charCodeAt(i + 4) !== 95
    ) {
      return i + 1;
    }
  }
  return n;
}

export function essentialName(name: string): string {
  const len = essentialNameLength(name);
  return len === name.length ? name : name.slice(0, len);
}

/** True when a flavor separator starts at `i` of bytes [.., end): the test above, on bytes. */
export function isFlavorSeparatorAt(bytes: Uint8Array, i: number): boolean {
  return bytes[i] !== 95 && bytes[i + 1] === 95 && bytes[i + 2] === 95 && bytes[i + 3] === 95 && bytes[i + 4] !== 95;
}

/**
 * Essential length of the name in bytes [start, end): the right-most separator in it, found
 * by a backward scan (callers bound `end - start`; long names go through StringSection).
 */
export function essentialLengthOfBytes(bytes: Uint8Array, start: number, end: number): number {
  for (let i = end - 5; i >= start; i--) {
    if (isFlavorSeparatorAt(bytes, i)) {
      workCounters.bytesScanned += end - i;
      return i + 1 - start;
    }
  }
  workCounters.bytesScanned += end - start;
  return end - start;
}

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;
/** Names up to this long are hashed whole; longer ones by their length and both ends. */
export const HASH_WHOLE = 64;
const HASH_END = 32;

/**
 * The hash of an essential name in bytes [start, end) for the name index: FNV-1a of the
 * whole name up to 64 bytes, else of its length, first 32 and last 32 bytes. Bounded work per
 * name is what keeps indexing linear when thousands of types share one megabyte-long name;
 * names that collide are told apart by a full comparison. Must agree with
 * `essentialNameHash(string)` below.
 */
export function hashEssentialBytes(bytes: Uint8Array, start: number, end: number): number {
  const len = end - start;
  let h = FNV_OFFSET;
  if (len <= HASH_WHOLE) {
    for (let j = start; j < end; j++) h = Math.imul(h ^ bytes[j]!, FNV_PRIME);
    workCounters.bytesScanned += len;
    return h >>> 0;
  }
  h = Math.imul(h ^ (len & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((len >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (len >>> 16), FNV_PRIME);
  for (let j = start; j < start + HASH_END; j++) h = Math.imul(h ^ bytes[j]!, FNV_PRIME);
  for (let j = end - HASH_END; j < end; j++) h = Math.imul(h ^ bytes[j]!, FNV_PRIME);
  workCounters.bytesScanned += 2 * HASH_END;
  return h >>> 0;
}

/** `hashEssentialBytes` of the essential part of `name` (a latin1 string: one char per byte). */
export function essentialNameHash(name: string): number {
  const len = essentialNameLength(name);
  let h = FNV_OFFSET;
  if (len <= HASH_WHOLE) {
    for (let i = 0; i < len; i++) h = Math.imul(h ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
    return h >>> 0;
  }
  h = Math.imul(h ^ (len & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((len >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (len >>> 16), FNV_PRIME);
  for (let i = 0; i < HASH_END; i++) h = Math.imul(h ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
  for (let i = len - HASH_END; i < len; i++) h = Math.imul(h ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
  return h >>> 0;
}

/**
 * The essential-name hash of the NUL-terminated name at `start` of `bytes`, read in place.
 * For a single name (tests, one-off lookups); the decoder goes through StringSection, which
 * also handles names that share bytes.
 */
export function essentialHashAt(bytes: Uint8Array, start: number): number {
  let end = start;
  while (bytes[end] !== 0) end++;
  workCounters.bytesScanned += end - start;
  return hashEssentialBytes(bytes, start, start + essentialLengthOfBytes(bytes, start, end));
}
