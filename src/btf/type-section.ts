/**
 * The decoder's one linear pass over a BTF type section (btf.ts calls it once per blob):
 * each record's byte offset, its size checked against the section, its name offset checked
 * against the string section, and for the kinds CO-RE matches by name, the hash of its
 * essential name (names.ts `hashEssentialBytes`).
 *
 * Why two small loops of their own: a kernel has ~125,000 records, and these loops are what V8
 * optimizes while they run (on-stack replacement) in a process that lives 100 ms. Inside the
 * Btf constructor, with its header checks and message templates, and with a call out for every
 * name, that optimization took 20-30 ms of compiler time and was thrown away twice, each time
 * a branch it had not seen yet was taken. So: one loop for the records (rare paths call out
 * and throw), one for the names that hashes the common name (short, no `___`) inline and only
 * lists the others, branch-free, for `StringSection.essentialHash` afterwards. A kernel's
 * decode went from ~50 to ~27 ms of CPU in a fresh process (docs/CODEC.md).
 *
 * Type record header (the kind-specific data that follows is `trailingSize` bytes, or for a
 * kind this codec does not know, the 2026 layout entry's info_sz + vlen x elem_sz):
 * | off | size | field                                                          |
 * |   0 |    4 | name_off (into the string section)                             |
 * |   4 |    4 | info: vlen bits 0-23, kind bits 24-30 (BTF_MAX_KIND), kflag 31 |
 * |   8 |    4 | size or type id                                                |
 */
import { checkLimit, CodecError } from './errors.js';
import { BTF_MAX_KIND, BtfKind, describeKind, trailingSize, usesWideVlen, type BtfLayoutEntry } from './kinds.js';
import type { CodecLimits } from './limits.js';
import { FNV_OFFSET, FNV_PRIME, HASH_WHOLE } from './names.js';
import type { StringSection } from './string-section.js';
import { workCounters } from './work-counters.js';

/** Bit `kind` is set for the kinds whose names CO-RE candidate search looks up (all below 32). */
export const INDEXED_KIND_BITS =
  (1 << BtfKind.Int) |
  (1 << BtfKind.Struct) |
  (1 << BtfKind.Union) |
  (1 << BtfKind.Enum) |
  (1 << BtfKind.Fwd) |
  (1 << BtfKind.Typedef) |
  (1 << BtfKind.Float) |
  (1 << BtfKind.Enum64);

export function isIndexedKind(kind: number): boolean {
  return Number.isInteger(kind) && kind >= 0 && kind < 32 && ((INDEXED_KIND_BITS >>> kind) & 1) === 1;
}

export interface TypeSectionInput {
  view: DataView;
  bytes: Uint8Array;
  littleEndian: boolean;
  /** The type section is bytes [typesStart, typesEnd). */
  typesStart: number;
  typesEnd: number;
  /** The string section starts at `strStart` in `bytes` and is `strings.length` bytes long. */
  strStart: number;
  strings: StringSection;
  layout: readonly BtfLayoutEntry[] | undefined;
  limits: CodecLimits;
}

export interface TypeSectionIndex {
  /** Type ids in use are 1..count-1 (0 is void). */
  count: number;
  /** offsets[id]: byte offset of the record of `id` in `bytes` (length `count`). */
  offsets: Uint32Array;
  /** hashes[id]: essential-name hash of an indexed type, else 0 (length `count`). */
  hashes: Uint32Array;
  /** indexed[id] is 1 for the types with a name of an indexed kind. */
  indexed: Uint8Array;
  indexedCount: number;
}

export function indexTypeSection(input: TypeSectionInput): TypeSectionIndex {
  const { view, littleEndian: le, typesStart, typesEnd, strStart, strings, layout, limits } = input;
  // One map for the loop below whatever the caller passed (a Buffer, a Uint8Array): a second
  // one met after it was optimized would throw that code away.
  const bytes = new Uint8Array(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
  const typeLen = typesEnd - typesStart;
  // Room for every record the section could hold, but never more than the limit allows.
  const capacity = Math.min(Math.floor(typeLen / 12), limits.maxTypes) + 1;
  const offsets = new Uint32Array(capacity);
  const { count, end } = recordOffsets(view, le, typesStart, typesEnd, strings.length, offsets, layout, limits);
  workCounters.recordsRead += count - 1;
  if (end !== typesEnd) throw new CodecError('BTF', `BTF type section has ${typesEnd - end} trailing bytes at offset ${end}`);

  const names: NameHashes = {
    hashes: new Uint32Array(count),
    indexed: new Uint8Array(count),
    careful: new Uint32Array(count),
    indexedCount: 0,
  };
  hashShortNames(view, le, bytes, strStart, strings.length, count, offsets, names);
  // The names the inline hash left (a `___` in them, or long): 10 of a kernel's 14,000.
  for (let k = 0; names.careful[k] !== 0; k++) {
    const id = names.careful[k]!;
    names.hashes[id] = strings.essentialHash(view.getUint32(offsets[id]!, le));
  }
  // A view, not a copy: the copy was ~0.9 ms of a kernel's ~7 ms decode, most of it faulting
  // in 500 KB of new pages (bench cold's 5.5 MB kernels, the image's malloc settings). The
  // capacity's unused tail is never written, so it costs address space, not memory.
  return { count, offsets: offsets.subarray(0, count), hashes: names.hashes, indexed: names.indexed, indexedCount: names.indexedCount };
}

/** Fills offsets[1..] with the records' offsets, checking each; the id past the last, and where it ended. */
function recordOffsets(
  view: DataView,
  le: boolean,
  typesStart: number,
  typesEnd: number,
  strLen: number,
  offsets: Uint32Array,
  layout: readonly BtfLayoutEntry[] | undefined,
  limits: CodecLimits,
): { count: number; end: number } {
  const capacity = offsets.length;
  let off = typesStart;
  let id = 1;
  while (off + 12 <= typesEnd) {
    if (id === capacity) checkLimit(limits, 'maxTypes', id, 'BTF type count (at least)');
    const nameOff = view.getUint32(off, le);
    const info = view.getUint32(off + 4, le);
    const kind = (info >>> 24) & BTF_MAX_KIND;
    const vlen = info & 0xffffff;
    let trailing = trailingSize(kind, vlen);
    if (trailing < 0) trailing = unknownKindSize(layout, id, off, kind, vlen);
    else if (vlen > 0xffff && !usesWideVlen(kind)) throw reservedVlenError(id, off, kind, info);
    const end = off + 12 + trailing;
    if (end > typesEnd) throw recordError(id, off, kind, ' is truncated by the end of the type section');
    if (nameOff >= strLen) throw recordError(id, off, kind, `: name offset ${nameOff} is outside the string section (${strLen} bytes)`);
    offsets[id] = off;
    id++;
    off = end;
  }
  return { count: id, end: off };
}

interface NameHashes {
  hashes: Uint32Array;
  indexed: Uint8Array;
  /** Ids whose name the inline hash did not take, in order, then zeros. */
  careful: Uint32Array;
  indexedCount: number;
}

/**
 * Hashes the names of the indexed kinds that end within HASH_WHOLE bytes with no `___` in
 * them: FNV-1a of the whole name, which is `hashEssentialBytes` of it (their essential name is
 * all of them). Any other is listed in `careful`, branch-free, for StringSection to hash.
 */
function hashShortNames(
  view: DataView,
  le: boolean,
  bytes: Uint8Array,
  strStart: number,
  strLen: number,
  count: number,
  offsets: Uint32Array,
  names: NameHashes,
): void {
  const { hashes, indexed, careful } = names;
  const strEnd = strStart + strLen;
  // Locals, not the imported bindings: a module binding is re-checked on every read.
  const offsetBasis = FNV_OFFSET;
  const prime = FNV_PRIME;
  const whole = HASH_WHOLE;
  let indexedCount = 0;
  let carefulCount = 0;
  let scanned = 0;
  for (let id = 1; id < count; id++) {
    const off = offsets[id]!;
    const kind = (view.getUint32(off + 4, le) >>> 24) & BTF_MAX_KIND;
    if (kind >= 32 || ((INDEXED_KIND_BITS >>> kind) & 1) === 0) continue;
    const nameOff = view.getUint32(off, le);
    if (nameOff === 0) continue;
    let h = offsetBasis;
    let p = strStart + nameOff;
    const stop = Math.min(strEnd, p + whole);
    let underscores = 0;
    let c = 1;
    for (; p < stop; p++) {
      c = bytes[p]!;
      if (c === 0) break;
      if (c !== 95) underscores = 0;
      else if (++underscores === 3) break;
      h = Math.imul(h ^ c, prime);
    }
    hashes[id] = h >>> 0;
    indexed[id] = 1;
    indexedCount++;
    careful[carefulCount] = id;
    carefulCount += c === 0 ? 0 : 1;
    scanned += p - (strStart + nameOff) + 1;
  }
  names.indexedCount = indexedCount;
  workCounters.bytesScanned += scanned;
}

/** Size of the data after the header of a record of a kind this codec does not know. */
function unknownKindSize(layout: readonly BtfLayoutEntry[] | undefined, id: number, off: number, kind: number, vlen: number): number {
  const entry = layout?.[kind];
  if (!entry) {
    const described = layout ? ` (the layout section describes kinds 0..${layout.length - 1})` : ' (and no layout section describes it)';
    throw new CodecError('BTF', `type [${id}] at offset ${off}: unknown kind ${kind}${described}`);
  }
  return entry.infoSize + vlen * entry.elemSize;
}

// The rare paths of the loop, out of it (see the top of this file); messages as btf.ts words them.
function recordError(id: number, off: number, kind: number, problem: string): CodecError {
  return new CodecError('BTF', `type [${id}] ${describeKind(kind)} at offset ${off}${problem}`);
}

function reservedVlenError(id: number, off: number, kind: number, info: number): CodecError {
  const vlen = info & 0xffffff;
  return new CodecError(
    'BTF',
    `type [${id}] at offset ${off}: info 0x${(info >>> 0).toString(16)} sets reserved bits (vlen ${vlen} on ${describeKind(kind)}, whose vlen is at most 16 bits)`,
  );
}
