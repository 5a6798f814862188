/**
 * The BTF decoder: raw BTF blobs (what /sys/kernel/btf/vmlinux and BTFHub `.btf` files hold)
 * and `.BTF` sections of ELF files, either byte order, classic or 2026 format
 * (docs/CODEC.md §3, §4).
 *
 * Lazy, like cilium/ebpf: `Btf.parse` makes one linear pass over the type section that
 * records each record's byte offset and, for the kinds CO-RE can match by name, a hash
 * index of essential names. A type is inflated into a `BtfType` value only when asked.
 * A decoded kernel therefore costs its raw bytes plus ~12 bytes per type.
 *
 * Header (24 bytes; 32 with the 2026 layout fields; longer only with zero extra bytes):
 * | off | size | field      |
 * |   0 |    2 | magic 0xEB9F (byte order of the blob) |
 * |   2 |    1 | version    |
 * |   3 |    1 | flags      |
 * |   4 |    4 | hdr_len    |
 * |   8 |    4 | type_off   | offsets are relative to the end of the header
 * |  12 |    4 | type_len   |
 * |  16 |    4 | str_off    |
 * |  20 |    4 | str_len    |
 * |  24 |    4 | layout_off | 2026: the layout section, between types and strings,
 * |  28 |    4 | layout_len |       4-byte aligned, 4 bytes per kind
 *
 * Layout entry (one per kind the encoder knew, kind 0 first):
 * | off | size | field                                              |
 * |   0 |    1 | info_sz: bytes of the single element after the header |
 * |   1 |    1 | elem_sz: bytes of each of the vlen elements           |
 * |   2 |    2 | flags (unused)                                        |
 *
 * Type record: 12-byte common header then kind-specific data (see kinds.ts `trailingSize`;
 * a kind this codec does not know: layout info_sz + vlen x elem_sz):
 * | off | size | field                                                              |
 * |   0 |    4 | name_off                                                           |
 * |   4 |    4 | info: vlen bits 0-23, kind bits 24-30, kind_flag bit 31 (2026;     |
 * |     |      |       classic BTF leaves bits 16-23 and 29-30 zero)                |
 * |   8 |    4 | size (INT, ENUM, STRUCT, UNION, DATASEC, FLOAT, ENUM64) or type id |
 */
import { findSection, isElf, parseElf, sectionData } from './elf.js';
import { checkLimit, clip, CodecError } from './errors.js';
import { BTF_MAX_KIND, BtfKind, describeKind, type BtfLayoutEntry } from './kinds.js';
import { resolveLimits, type CodecLimits } from './limits.js';
import { indexTypeSection, isIndexedKind } from './type-section.js';
import { essentialName, essentialNameHash } from './names.js';
import { StringSection } from './string-section.js';
import { buildEnumeratorLookup, buildMemberLookup, type EnumeratorLookup, type MemberLookup } from './type-lookup.js';
import type { BtfType, Member, TypeId } from './types.js';
import { workCounters } from './work-counters.js';

export const BTF_MAGIC = 0xeb9f;
const HEADER_LEN = 24;
/** Elements (members, enumerators) the lookups of one BTF may hold before they start over. */
const LOOKUP_ELEMENTS = 1 << 16;
/** The 2026 header: the classic one plus layout_off and layout_len. */
export const LAYOUT_HEADER_LEN = 32;
const MAX_STR_OFFSET = 0x7fffffff;

/** libbpf `determine_ptr_size`: INT names that reveal the target's `long` (and so pointer) size. */
const LONG_ALIASES = new Set([
  'long',
  'long int',
  'int long',
  'unsigned long',
  'long unsigned',
  'unsigned long int',
  'unsigned int long',
  'long unsigned int',
  'long int unsigned',
  'int unsigned long',
  'int long unsigned',
]);

export function isRawBtf(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && ((bytes[0] === 0x9f && bytes[1] === 0xeb) || (bytes[0] === 0xeb && bytes[1] === 0x9f));
}

export interface BtfParseOptions {
  /** Pointer size when known from the container (ELF class); raw BTF infers it like libbpf. */
  pointerSize?: number;
  /** Bounds (maxTypes, maxStringBytes; maxSections for an ELF); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
}

/**
 * An essential-name hash index over a set of type ids: bucket heads and per-id chain links
 * (-1 ends a chain), chains in increasing id order.
 */
class NameIndex {
  private readonly buckets: Int32Array;
  private readonly chain: Int32Array;

  constructor(
    /** hashes[id] for every id in the index. */
    readonly hashes: Uint32Array,
    /** indexed[id] is 1 for the ids in the index. */
    indexed: Uint8Array,
    count: number,
  ) {
    let bucketCount = 16;
    while (bucketCount < count * 2) bucketCount <<= 1;
    const buckets = new Int32Array(bucketCount).fill(-1);
    const chain = new Int32Array(hashes.length).fill(-1);
    const mask = bucketCount - 1;
    // Insert in reverse so every chain lists ids in increasing order, as candidate search needs.
    for (let t = hashes.length - 1; t >= 1; t--) {
      if (indexed[t] !== 1) continue;
      const b = hashes[t]! & mask;
      chain[t] = buckets[b]!;
      buckets[b] = t;
    }
    this.buckets = buckets;
    this.chain = chain;
  }

  get byteLength(): number {
    return this.buckets.byteLength + this.chain.byteLength + this.hashes.byteLength;
  }

  /** Ids whose hash is `hash`, in increasing order. */
  *idsWithHash(hash: number): IterableIterator<number> {
    for (let id = this.buckets[hash & (this.buckets.length - 1)]!; id !== -1; id = this.chain[id]!) {
      if (this.hashes[id] === hash) yield id;
    }
  }
}

export class Btf {
  /** Number of type ids including void: valid ids are 0..typeCount-1. */
  readonly typeCount: number;
  readonly littleEndian: boolean;
  /** The bytes of the blob, header first. */
  readonly bytes: Uint8Array;
  /** hdr_len: 24 (classic), 32 (2026), or more with zero extra bytes. */
  readonly headerLength: number;
  /** The 2026 layout section's entries, kind 0 first; undefined when there is none. */
  readonly layout: readonly BtfLayoutEntry[] | undefined;
  private readonly view: DataView;
  private readonly strStart: number;
  private readonly strLen: number;
  private readonly strings: StringSection;
  /** offsets[id] = byte offset of type `id`'s record inside `bytes`. */
  private readonly offsets: Uint32Array;
  private readonly typesEnd: number;
  /** Essential-name index of the kinds CO-RE candidate search matches by name. */
  private readonly index: NameIndex;
  /** The same for every other named type (FUNC, VAR, ...), built on first use. */
  private otherIndex: NameIndex | undefined;
  private ptrSize: number;
  private readonly cache = new Map<TypeId, BtfType>();
  /**
   * Member and enumerator lookups of big types, built on first use (type-lookup.ts). Bounded:
   * a decoded kernel is kept for many trims, so past LOOKUP_ELEMENTS elements they start over.
   */
  private readonly lookups = new Map<TypeId, MemberLookup | EnumeratorLookup>();
  private lookupElements = 0;

  /** Raw BTF or an ELF file with a `.BTF` section, told apart by their magic. */
  static parse(bytes: Uint8Array, options: Pick<BtfParseOptions, 'limits'> = {}): Btf {
    if (isRawBtf(bytes)) return Btf.fromRaw(bytes, options);
    if (isElf(bytes)) return Btf.fromElf(bytes, options);
    throw new CodecError('BTF', 'neither raw BTF (magic 0xEB9F) nor an ELF file');
  }

  static fromElf(bytes: Uint8Array, options: Pick<BtfParseOptions, 'limits'> = {}): Btf {
    const elf = parseElf(bytes, options);
    const section = findSection(elf, '.BTF');
    if (!section) throw new CodecError('MISSING_SECTION', 'ELF file has no .BTF section');
    return Btf.fromRaw(sectionData(bytes, section), { pointerSize: elf.bits === 32 ? 4 : 8, ...options });
  }

  static fromRaw(bytes: Uint8Array, options: BtfParseOptions = {}): Btf {
    return new Btf(bytes, options);
  }

  private constructor(bytes: Uint8Array, options: BtfParseOptions) {
    const limits = resolveLimits(options.limits);
    if (bytes.length < HEADER_LEN) throw btfError(`BTF header truncated: ${bytes.length} bytes, need ${HEADER_LEN}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magicLe = this.view.getUint16(0, true);
    if (magicLe === BTF_MAGIC) this.littleEndian = true;
    else if (this.view.getUint16(0, false) === BTF_MAGIC) this.littleEndian = false;
    else throw btfError(`bad BTF magic 0x${magicLe.toString(16)} at offset 0`);
    const le = this.littleEndian;
    const hdrLen = this.view.getUint32(4, le);
    const typeOff = this.view.getUint32(8, le);
    const typeLen = this.view.getUint32(12, le);
    const strOff = this.view.getUint32(16, le);
    const strLen = this.view.getUint32(20, le);
    if (hdrLen < HEADER_LEN) throw btfError(`BTF hdr_len ${hdrLen} at offset 4 is smaller than ${HEADER_LEN}`);
    if (hdrLen > bytes.length) throw btfError(`BTF hdr_len ${hdrLen} is past the end of the data (${bytes.length} bytes)`);
    this.headerLength = hdrLen;
    // A header longer than any we know is fine only when the fields we do not know are zero.
    for (let p = LAYOUT_HEADER_LEN; p < hdrLen; p++) {
      if (bytes[p] !== 0) throw btfError(`BTF header byte ${p} is not zero: hdr_len ${hdrLen} has fields this codec does not know`);
    }
    const metaLeft = bytes.length - hdrLen;
    if (strOff + strLen > metaLeft) {
      throw btfError(`BTF string section [${strOff}, +${strLen}) is outside the data (${metaLeft} bytes after the header)`);
    }
    if (typeOff + typeLen > strOff) throw btfError(`BTF type section [${typeOff}, +${typeLen}) overlaps the string section at ${strOff}`);
    if (typeOff % 4 !== 0) throw btfError(`BTF type_off ${typeOff} is not 4-byte aligned`);
    this.layout = hdrLen >= LAYOUT_HEADER_LEN ? readLayout(this.view, le, hdrLen, { typeOff, typeLen, strOff, metaLeft }) : undefined;
    const layout = this.layout;
    this.strStart = hdrLen + strOff;
    this.strLen = strLen;
    checkLimit(limits, 'maxStringBytes', strLen, 'BTF string section size');
    this.strings = new StringSection(bytes, this.strStart, strLen);
    if (strLen === 0 || strLen - 1 > MAX_STR_OFFSET || bytes[this.strStart + strLen - 1] !== 0) {
      throw btfError(`BTF string section at offset ${this.strStart} is empty or not NUL-terminated`);
    }
    if (bytes[this.strStart] !== 0) {
      throw btfError('BTF string section does not start with an empty string (split BTF needs a base BTF, which is not supported)');
    }

    // The one linear pass: record offsets, validate record sizes, hash indexable names (type-section.ts).
    const typesStart = hdrLen + typeOff;
    const typesEnd = typesStart + typeLen;
    const pass = indexTypeSection({
      view: this.view,
      bytes,
      littleEndian: le,
      typesStart,
      typesEnd,
      strStart: this.strStart,
      strings: this.strings,
      layout,
      limits,
    });
    this.typeCount = pass.count;
    this.typesEnd = typesEnd;
    this.offsets = pass.offsets;
    this.index = new NameIndex(pass.hashes, pass.indexed, pass.indexedCount);
    this.ptrSize = options.pointerSize ?? 0;
  }

  /**
   * Approximate bytes held by this decoded BTF (raw data plus indexes). The offsets are a view
   * into an array sized for the most records the section could hold: all of it is counted,
   * as a heap counts it, though the tail past the last record is never touched.
   */
  get memoryBytes(): number {
    return this.bytes.byteLength + this.offsets.buffer.byteLength + this.index.byteLength + (this.otherIndex?.byteLength ?? 0);
  }

  /** Pointer size of the target: the ELF class, else the size of its `long` INT, else 8 (libbpf). */
  get pointerSize(): number {
    if (this.ptrSize === 0) {
      this.ptrSize = 8;
      for (let id = 1; id < this.typeCount; id++) {
        if (this.kind(id) !== BtfKind.Int) continue;
        const size = this.sizeOrType(id);
        if ((size === 4 || size === 8) && LONG_ALIASES.has(this.name(id))) {
          this.ptrSize = size;
          break;
        }
      }
    }
    return this.ptrSize;
  }

  /** The raw string section (for byte-exact re-encoding). */
  get stringSection(): Uint8Array {
    return this.bytes.subarray(this.strStart, this.strStart + this.strLen);
  }

  /** The string at `offset` in the string section; validated. */
  string(offset: number): string {
    if (offset >= this.strLen || offset < 0) {
      throw btfError(`string offset ${offset} is outside the string section (${this.strLen} bytes)`);
    }
    return this.strings.string(offset);
  }

  /** Throws unless `id` names a type of this BTF (0, void, included). */
  checkId(id: TypeId, context?: () => string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.typeCount) {
      const where = context ? `${context()}: ` : '';
      throw btfError(`${where}type id ${id} is out of range (last id is ${this.typeCount - 1})`);
    }
  }

  private offsetOf(id: TypeId): number {
    if (id <= 0 || id >= this.typeCount || !Number.isInteger(id)) {
      this.checkId(id);
      throw btfError('void (type id 0) has no record');
    }
    return this.offsets[id]!;
  }

  /** Kind of `id` without inflating it; void is 0 (UNKNOWN). */
  kind(id: TypeId): number {
    if (id === 0) return BtfKind.Unknown;
    return (this.view.getUint32(this.offsetOf(id) + 4, this.littleEndian) >>> 24) & BTF_MAX_KIND;
  }

  vlen(id: TypeId): number {
    if (id === 0) return 0;
    return this.view.getUint32(this.offsetOf(id) + 4, this.littleEndian) & 0xffffff;
  }

  kindFlag(id: TypeId): boolean {
    if (id === 0) return false;
    return this.view.getUint32(this.offsetOf(id) + 4, this.littleEndian) >>> 31 === 1;
  }

  /** The third header word: a byte size or a referenced type id, depending on the kind. */
  sizeOrType(id: TypeId): number {
    if (id === 0) return 0;
    return this.view.getUint32(this.offsetOf(id) + 8, this.littleEndian);
  }

  nameOffset(id: TypeId): number {
    if (id === 0) return 0;
    return this.view.getUint32(this.offsetOf(id), this.littleEndian);
  }

  name(id: TypeId): string {
    return id === 0 ? '' : this.string(this.nameOffset(id));
  }

  /** "struct task_struct (id 123)" style label for error messages. */
  describe(id: TypeId): string {
    if (id === 0) return 'void (id 0)';
    const kind = describeKind(this.kind(id)).toLowerCase();
    const name = this.name(id);
    return `${kind} ${clip(name) || '(anon)'} (id ${id})`;
  }

  /**
   * Ids of the types whose essential name (name without `___flavor`) equals that of
   * `name`, in increasing id order. Only INT, STRUCT, UNION, ENUM, FWD, TYPEDEF, FLOAT and
   * ENUM64 are indexed; other kinds are found by a linear scan (`scanByEssentialName`).
   */
  idsByEssentialName(name: string): TypeId[] {
    return this.lookUp(this.index, name, () => true);
  }

  /**
   * The same for the kinds the main index leaves out (FUNC, VAR, ...), of kind `kind`: a
   * second index over every other named type, built on the first call (one pass).
   */
  scanByEssentialName(name: string, kind: number): TypeId[] {
    if (this.otherIndex === undefined) {
      const hashes = new Uint32Array(this.typeCount);
      const named = new Uint8Array(this.typeCount);
      let count = 0;
      for (let id = 1; id < this.typeCount; id++) {
        const nameOff = this.nameOffset(id);
        if (nameOff === 0 || isIndexedKind(this.kind(id))) continue;
        hashes[id] = this.strings.essentialHash(nameOff);
        named[id] = 1;
        count++;
      }
      workCounters.recordsRead += this.typeCount;
      this.otherIndex = new NameIndex(hashes, named, count);
    }
    return this.lookUp(this.otherIndex, name, (id) => this.kind(id) === kind);
  }

  private lookUp(index: NameIndex, name: string, keep: (id: TypeId) => boolean): TypeId[] {
    const want = essentialName(name);
    const ids: TypeId[] = [];
    // Types that share a name offset share the answer: compare each offset's bytes once.
    const checked = new Map<number, boolean>();
    for (const id of index.idsWithHash(essentialNameHash(name))) {
      if (!keep(id)) continue;
      const nameOff = this.nameOffset(id);
      let same = checked.get(nameOff);
      if (same === undefined) {
        // Equal hashes: compare the essential names themselves (lengths first, then bytes in place).
        same = this.strings.essentialLength(nameOff) === want.length && this.strings.equalsPrefix(nameOff, want);
        checked.set(nameOff, same);
      }
      if (same) ids.push(id);
    }
    return ids;
  }

  /** True when the essential-name index covers `kind`. */
  static isIndexedKind(kind: number): boolean {
    return isIndexedKind(kind);
  }

  /**
   * Member `index` of struct/union `id`, read without inflating the whole type
   * (task_struct has hundreds of members; CO-RE walks touch a few).
   */
  member(id: TypeId, index: number): Member {
    const base = this.offsetOf(id) + 12 + index * 12;
    const le = this.littleEndian;
    const raw = this.view.getUint32(base + 8, le);
    const kflag = this.kindFlag(id);
    const type = this.view.getUint32(base + 4, le);
    this.checkId(type, () => `${this.describe(id)} member ${index}`);
    return {
      name: this.string(this.view.getUint32(base, le)),
      type,
      bitOffset: kflag ? raw & 0xffffff : raw,
      bitfieldSize: kflag ? raw >>> 24 : 0,
    };
  }

  /** True when the string at `offset` equals `s`, compared byte by byte without decoding. */
  stringEquals(offset: number, s: string): boolean {
    if (offset >= this.strLen || offset < 0) this.string(offset);
    return this.strings.equals(offset, s);
  }

  /** Raw fields of member `index` of struct/union `id`: name offset, type id, bit offset. */
  memberNameOffset(id: TypeId, index: number): number {
    return this.view.getUint32(this.offsetOf(id) + 12 + index * 12, this.littleEndian);
  }

  memberType(id: TypeId, index: number): TypeId {
    const type = this.view.getUint32(this.offsetOf(id) + 16 + index * 12, this.littleEndian);
    this.checkId(type, () => `${this.describe(id)} member ${index}`);
    return type;
  }

  /** Bitfield size of member `index` (0 when not a bitfield, always 0 without kind_flag). */
  memberBitfieldSize(id: TypeId, index: number): number {
    if (!this.kindFlag(id)) return 0;
    return this.view.getUint32(this.offsetOf(id) + 20 + index * 12, this.littleEndian) >>> 24;
  }

  memberBitOffset(id: TypeId, index: number): number {
    const raw = this.view.getUint32(this.offsetOf(id) + 20 + index * 12, this.littleEndian);
    return this.kindFlag(id) ? raw & 0xffffff : raw;
  }

  /** Name offset of enumerator `index` of ENUM or ENUM64 `id`. */
  enumeratorNameOffset(id: TypeId, index: number): number {
    const stride = this.kind(id) === BtfKind.Enum64 ? 12 : 8;
    return this.view.getUint32(this.offsetOf(id) + 12 + index * stride, this.littleEndian);
  }

  /**
   * Value of enumerator `index` of ENUM or ENUM64 `id`, as libbpf reads it into a u64: an
   * ENUM's 32 bits sign-extended (whatever the enum's signedness), an ENUM64's 64 bits.
   */
  enumeratorValue(id: TypeId, index: number): bigint {
    const at = this.offsetOf(id) + 12;
    const le = this.littleEndian;
    if (this.kind(id) === BtfKind.Enum64) {
      const e = at + index * 12;
      return (BigInt(this.view.getUint32(e + 8, le)) << 32n) | BigInt(this.view.getUint32(e + 4, le));
    }
    return BigInt.asUintN(64, BigInt(this.view.getInt32(at + index * 8 + 4, le)));
  }

  /** Name lookup over the members of struct/union `id` (built once; see type-lookup.ts). */
  memberLookup(id: TypeId): MemberLookup {
    let lookup = this.lookups.get(id) as MemberLookup | undefined;
    if (lookup === undefined) {
      lookup = buildMemberLookup(this.vlen(id), (i) => this.validName(this.memberNameOffset(id, i)));
      this.keepLookup(id, lookup);
    }
    return lookup;
  }

  /** Name lookup over the enumerators of ENUM/ENUM64 `id`. */
  enumeratorLookup(id: TypeId): EnumeratorLookup {
    let lookup = this.lookups.get(id) as EnumeratorLookup | undefined;
    if (lookup === undefined) {
      lookup = buildEnumeratorLookup(this.vlen(id), (i) => this.validName(this.enumeratorNameOffset(id, i)));
      this.keepLookup(id, lookup);
    }
    return lookup;
  }

  private keepLookup(id: TypeId, lookup: MemberLookup | EnumeratorLookup): void {
    const elements = this.vlen(id);
    workCounters.recordsRead += elements;
    if (this.lookupElements + elements > LOOKUP_ELEMENTS) {
      this.lookups.clear();
      this.lookupElements = 0;
    }
    this.lookups.set(id, lookup);
    this.lookupElements += elements;
  }

  private validName(offset: number): string | undefined {
    return offset < this.strLen ? this.string(offset) : undefined;
  }

  /** A fresh, uncached copy of type `id` that the caller may modify. */
  typeCopy(id: TypeId): BtfType {
    return this.inflate(id);
  }

  /** name_off of member `index` of struct/union `id` (0 = anonymous member). */
  nameOffsetOfMember(id: TypeId, index: number): number {
    return this.view.getUint32(this.offsetOf(id) + 12 + index * 12, this.littleEndian);
  }

  /**
   * The u32 right after the 12-byte header of `id`, whatever its kind (0 past the end of
   * the type section). libbpf 1.1 reads INT encoding this way for FIELD_SIGNED.
   */
  rawWordAfterHeader(id: TypeId): number {
    const at = this.offsetOf(id) + 12;
    return at + 4 <= this.typesEnd ? this.view.getUint32(at, this.littleEndian) : 0;
  }

  /** The whole type, inflated (cached while the cache is small). */
  type(id: TypeId): BtfType {
    let t = this.cache.get(id);
    if (t === undefined) {
      t = this.inflate(id);
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(id, t);
    }
    return t;
  }

  /** Every type, ids 1..typeCount-1, inflated one at a time (not cached). */
  *types(): IterableIterator<[TypeId, BtfType]> {
    for (let id = 1; id < this.typeCount; id++) yield [id, this.inflate(id)];
  }

  private inflate(id: TypeId): BtfType {
    const off = this.offsetOf(id);
    const le = this.littleEndian;
    const v = this.view;
    const info = v.getUint32(off + 4, le);
    const kind = (info >>> 24) & BTF_MAX_KIND;
    const vlen = info & 0xffffff;
    const kflag = info >>> 31 === 1;
    const third = v.getUint32(off + 8, le);
    const name = this.string(v.getUint32(off, le));
    workCounters.recordsRead += vlen;
    workCounters.objectsBuilt += 1 + vlen;
    const data = off + 12;
    const ref = (t: number, what: string): TypeId => {
      this.checkId(t, () => `type [${id}] ${describeKind(kind)} '${clip(name)}' ${what}`);
      return t;
    };
    switch (kind) {
      case BtfKind.Int: {
        const enc = v.getUint32(data, le);
        return { kind, name, size: third, encoding: (enc >>> 24) & 0x0f, bitOffset: (enc >>> 16) & 0xff, bits: enc & 0xff };
      }
      case BtfKind.Pointer:
        return { kind, name, type: ref(third, 'pointee') };
      case BtfKind.Array:
        return {
          kind,
          name,
          elemType: ref(v.getUint32(data, le), 'element type'),
          indexType: ref(v.getUint32(data + 4, le), 'index type'),
          nelems: v.getUint32(data + 8, le),
        };
      case BtfKind.Struct:
      case BtfKind.Union: {
        const members: Member[] = [];
        for (let i = 0; i < vlen; i++) {
          const m = data + i * 12;
          const raw = v.getUint32(m + 8, le);
          members.push({
            name: this.string(v.getUint32(m, le)),
            type: ref(v.getUint32(m + 4, le), `member ${i}`),
            bitOffset: kflag ? raw & 0xffffff : raw,
            bitfieldSize: kflag ? raw >>> 24 : 0,
          });
        }
        return { kind, name, size: third, kindFlag: kflag, members };
      }
      case BtfKind.Enum: {
        const values = [];
        for (let i = 0; i < vlen; i++) {
          const e = data + i * 8;
          values.push({ name: this.string(v.getUint32(e, le)), value: kflag ? v.getInt32(e + 4, le) : v.getUint32(e + 4, le) });
        }
        return { kind, name, size: third, signed: kflag, values };
      }
      case BtfKind.Enum64: {
        const values = [];
        for (let i = 0; i < vlen; i++) {
          const e = data + i * 12;
          const lo = BigInt(v.getUint32(e + 4, le));
          const hi = BigInt(v.getUint32(e + 8, le));
          values.push({ name: this.string(v.getUint32(e, le)), value: (hi << 32n) | lo });
        }
        return { kind, name, size: third, signed: kflag, values };
      }
      case BtfKind.Fwd:
        return { kind, name, union: kflag };
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
        return { kind, name, type: ref(third, 'target') };
      case BtfKind.TypeTag:
        return { kind, name, type: ref(third, 'target'), kindFlag: kflag };
      case BtfKind.Func:
        return { kind, name, type: ref(third, 'prototype'), linkage: vlen };
      case BtfKind.FuncProto: {
        const params = [];
        for (let i = 0; i < vlen; i++) {
          const p = data + i * 8;
          params.push({ name: this.string(v.getUint32(p, le)), type: ref(v.getUint32(p + 4, le), `parameter ${i}`) });
        }
        return { kind, name, returnType: ref(third, 'return type'), params };
      }
      case BtfKind.Var:
        return { kind, name, type: ref(third, 'type'), linkage: v.getUint32(data, le) };
      case BtfKind.Datasec: {
        const vars = [];
        for (let i = 0; i < vlen; i++) {
          const s = data + i * 12;
          vars.push({ type: ref(v.getUint32(s, le), `variable ${i}`), offset: v.getUint32(s + 4, le), size: v.getUint32(s + 8, le) });
        }
        return { kind, name, size: third, vars };
      }
      case BtfKind.Float:
        return { kind, name, size: third };
      case BtfKind.DeclTag:
        return { kind, name, type: ref(third, 'tagged type'), componentIdx: v.getInt32(data, le), kindFlag: kflag };
      default: {
        // Only kinds the layout section described got past the decode pass.
        const end = id + 1 < this.typeCount ? this.offsets[id + 1]! : this.typesEnd;
        return {
          kind: BtfKind.Opaque,
          rawKind: kind,
          name,
          kindFlag: kflag,
          vlen,
          sizeOrType: third,
          data: this.bytes.slice(data, end),
          littleEndian: le,
        };
      }
    }
  }
}

/**
 * The 2026 layout section (docs/CODEC.md §4.1), checked: 4-byte aligned, a whole number of
 * 4-byte entries, at most one per kind the info word can hold, inside the data, and between
 * the type and string sections. Undefined when layout_len is 0.
 */
function readLayout(
  view: DataView,
  le: boolean,
  hdrLen: number,
  sections: { typeOff: number; typeLen: number; strOff: number; metaLeft: number },
): BtfLayoutEntry[] | undefined {
  const layoutOff = view.getUint32(24, le);
  const layoutLen = view.getUint32(28, le);
  if (layoutLen === 0) return undefined;
  const where = `BTF layout section [${layoutOff}, +${layoutLen})`;
  if (layoutOff % 4 !== 0) throw btfError(`${where}: layout_off is not 4-byte aligned`);
  if (layoutLen % 4 !== 0) throw btfError(`${where}: layout_len is not a multiple of 4 (one 4-byte entry per kind)`);
  if (layoutLen / 4 > BTF_MAX_KIND + 1)
    throw btfError(`${where}: describes ${layoutLen / 4} kinds, more than the ${BTF_MAX_KIND + 1} the info word can number`);
  if (layoutOff + layoutLen > sections.metaLeft)
    throw btfError(`${where} is outside the data (${sections.metaLeft} bytes after the header)`);
  if (layoutOff < sections.typeOff + sections.typeLen) {
    throw btfError(`${where} overlaps the type section [${sections.typeOff}, +${sections.typeLen}): it must sit between types and strings`);
  }
  if (layoutOff + layoutLen > sections.strOff)
    throw btfError(`${where} overlaps the string section at ${sections.strOff}: it must sit between types and strings`);
  const entries: BtfLayoutEntry[] = [];
  for (let at = hdrLen + layoutOff; at < hdrLen + layoutOff + layoutLen; at += 4) {
    entries.push({ infoSize: view.getUint8(at), elemSize: view.getUint8(at + 1), flags: view.getUint16(at + 2, le) });
  }
  return entries;
}

function btfError(message: string): CodecError {
  return new CodecError('BTF', message);
}
