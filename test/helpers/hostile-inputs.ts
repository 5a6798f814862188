/**
 * Families of hostile-but-well-formed inputs for the codec, each at a chosen size: what an
 * attacker uploads to make a parser do work out of proportion to the bytes sent (shared
 * megabyte-long names, thousands of sections, relocations repeated a million times, ...).
 * test/btf/linear.test.ts runs each family at a few sizes and checks the codec's work
 * counters grow linearly; the fuzzers (test/fuzz/codec-fuzz.ts) mutate them.
 */
import { BtfKind, encodeBtf, parseElf, type BtfType } from '../../src/btf/index.js';
import { buildBpfObject, type RelocSpec } from './btf-ext-builder.js';
import { buildElf } from './elf-builder.js';
import { TypeList } from './type-builder.js';

const FIELD_BYTE_OFFSET = 0;

/** A long name with a flavor separator in the middle ("aaa...___bbb..."), `length` bytes. */
export function longName(length: number, letter = 'a'): string {
  const half = Math.max(1, Math.floor((length - 3) / 2));
  return `${letter.repeat(half)}___${'b'.repeat(Math.max(1, length - 3 - half))}`;
}

/**
 * An ELF64 file of `sections` empty sections whose names all point into one `nameLength`-byte
 * name: at its start (`distinct` false), or each at its own offset inside it.
 */
export function elfWithSharedSectionNames(sections: number, nameLength: number, distinct: boolean): Uint8Array {
  const name = longName(nameLength);
  const shstr = new Uint8Array(1 + name.length + 1 + '.shstrtab'.length + 1);
  for (let i = 0; i < name.length; i++) shstr[1 + i] = name.charCodeAt(i);
  const shstrtabName = 1 + name.length + 1;
  for (let i = 0; i < '.shstrtab'.length; i++) shstr[shstrtabName + i] = '.shstrtab'.charCodeAt(i);
  const count = sections + 2; // null section, the shared-name sections, .shstrtab
  const shoff = Math.ceil((64 + shstr.length) / 8) * 8;
  const out = new Uint8Array(shoff + count * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 1, true);
  v.setUint16(18, 247, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, count, true);
  v.setUint16(62, count - 1, true);
  out.set(shstr, 64);
  for (let i = 1; i <= sections; i++) {
    const at = shoff + i * 64;
    v.setUint32(at, distinct ? 1 + ((i * 7919) % name.length) : 1, true);
    v.setUint32(at + 4, 1, true);
    v.setBigUint64(at + 24, 64n, true);
  }
  const last = shoff + (count - 1) * 64;
  v.setUint32(last, shstrtabName, true);
  v.setUint32(last + 4, 3, true);
  v.setBigUint64(last + 24, 64n, true);
  v.setBigUint64(last + 32, BigInt(shstr.length), true);
  return out;
}

/**
 * Raw BTF: an `int`, then `types` empty structs whose names all point into one `nameLength`-
 * byte name (at its start, or each at its own offset inside it).
 */
export function btfWithSharedNames(types: number, nameLength: number, distinct: boolean): Uint8Array {
  const name = longName(nameLength);
  const int: BtfType = { kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 };
  const base = encodeBtf([int, { kind: BtfKind.Struct, name, size: 4, kindFlag: false, members: [] }]);
  const h = new DataView(base.buffer);
  const typeLen = h.getUint32(12, true);
  const strLen = h.getUint32(20, true);
  const strings = base.subarray(24 + typeLen, 24 + typeLen + strLen);
  const nameOff = h.getUint32(24 + 16, true); // the struct's name
  const out = new Uint8Array(24 + 16 + types * 12 + strLen);
  const v = new DataView(out.buffer);
  out.set(base.subarray(0, 24 + 16));
  for (let i = 0; i < types; i++) {
    const at = 24 + 16 + i * 12;
    v.setUint32(at, distinct ? nameOff + ((i * 7919) % name.length) : nameOff, true);
    v.setUint32(at + 4, BtfKind.Struct << 24, true);
    v.setUint32(at + 8, 4, true);
  }
  out.set(strings, 24 + 16 + types * 12);
  v.setUint32(12, 16 + types * 12, true);
  v.setUint32(16, 16 + types * 12, true);
  return out;
}

/** `count` structs with short distinct names, each with one int member. */
export function manyTypes(count: number): BtfType[] {
  const list = new TypeList();
  const int = list.int('int');
  for (let i = 0; i < count; i++) list.struct(`s${i}`, 4, [['v', int, 0]]);
  return list.types;
}

/** An object with relocations on `n` of the structs of `manyTypes` (one field each). */
export function objectOnManyTypes(n: number): Uint8Array {
  const records: RelocSpec[] = [];
  for (let i = 0; i < n; i++) records.push({ insnOff: i * 8, typeId: i + 2, access: '0:0', kind: FIELD_BYTE_OFFSET });
  return buildBpfObject(manyTypes(n), { coreRelos: [{ section: 'kprobe/many', records }] });
}

/**
 * A copy of a real object whose CO-RE sub-section repeats its section blocks `times` times
 * (a .BTF.ext of a million relocations from a real one of a few hundred).
 */
export function withRepeatedRelocations(object: Uint8Array, times: number): Uint8Array {
  const elf = parseElf(object);
  const btf = elf.sections.find((s) => s.name === '.BTF')!;
  const ext = elf.sections.find((s) => s.name === '.BTF.ext')!;
  const extBytes = object.subarray(ext.offset, ext.offset + ext.size);
  const v = new DataView(extBytes.buffer, extBytes.byteOffset, extBytes.byteLength);
  const hdrLen = v.getUint32(4, true);
  const coreOff = v.getUint32(24, true);
  const coreLen = v.getUint32(28, true);
  const start = hdrLen + coreOff;
  const recSize = extBytes.subarray(start, start + 4);
  const blocks = extBytes.subarray(start + 4, start + coreLen);
  const newCoreLen = 4 + blocks.length * times;
  const out = new Uint8Array(hdrLen + coreOff + newCoreLen);
  out.set(extBytes.subarray(0, hdrLen + coreOff));
  out.set(recSize, start);
  for (let k = 0; k < times; k++) out.set(blocks, start + 4 + k * blocks.length);
  new DataView(out.buffer).setUint32(28, newCoreLen, true);
  return buildElf({
    sections: [
      { name: '.BTF', data: object.slice(btf.offset, btf.offset + btf.size) },
      { name: '.BTF.ext', data: out },
    ],
  });
}

/** A target with `struct big` of `members` int members, and an object reading every one of them. */
export function longMemberLists(members: number): { target: Uint8Array; object: Uint8Array } {
  const struct = (list: TypeList, int: number) =>
    list.struct(
      'big',
      members * 4,
      Array.from({ length: members }, (_, i): [string, number, number] => [`m${i}`, int, i * 32]),
    );
  const t = new TypeList();
  struct(t, t.int('int'));
  const l = new TypeList();
  const big = struct(l, l.int('int'));
  // In reverse: each relocation's member sits further from where a scan from the last one stopped.
  const records: RelocSpec[] = Array.from({ length: members }, (_, i) => ({
    insnOff: i * 8,
    typeId: big,
    access: `0:${members - 1 - i}`,
    kind: FIELD_BYTE_OFFSET,
  }));
  return { target: encodeBtf(t.types), object: buildBpfObject(l.types, { coreRelos: [{ section: 'kprobe/big', records }] }) };
}

/**
 * A target and an object with the same chain of `depth` typedefs (t0 -> t1 -> ... -> struct
 * s), and one relocation rooted at each typedef of the chain.
 */
export function deepTypedefChains(depth: number): { target: Uint8Array; object: Uint8Array } {
  const chain = (list: TypeList): number[] => {
    const int = list.int('int');
    const s = list.struct('s', 4, [['a', int, 0]]);
    // t_{depth-1} -> s, t_{k} -> t_{k+1}: ids are assigned in push order, so build from the end.
    const ids: number[] = new Array<number>(depth);
    let next = s;
    for (let k = depth - 1; k >= 0; k--) next = ids[k] = list.typedef(`t${k}`, next);
    return ids;
  };
  const t = new TypeList();
  chain(t);
  const l = new TypeList();
  const roots = chain(l);
  const records: RelocSpec[] = roots.map((typeId, k) => ({ insnOff: k * 8, typeId, access: '0:0', kind: FIELD_BYTE_OFFSET }));
  return { target: encodeBtf(t.types), object: buildBpfObject(l.types, { coreRelos: [{ section: 'kprobe/chain', records }] }) };
}

/**
 * An object whose CO-RE sub-section has `blocks` section blocks of one relocation each, named
 * `sec<i>`, or all named one `sharedNameLength`-byte name when that is given.
 */
export function manyExtSections(blocks: number, sharedNameLength?: number): Uint8Array {
  const l = new TypeList();
  const int = l.int('int');
  const sk = l.struct('sk', 8, [
    ['c', int, 0],
    ['a', int, 32],
  ]);
  const shared = sharedNameLength === undefined ? undefined : longName(sharedNameLength, 's');
  const coreRelos = Array.from({ length: blocks }, (_, i) => ({
    section: shared ?? `sec${i}`,
    records: [{ insnOff: 0, typeId: sk, access: '0:1', kind: FIELD_BYTE_OFFSET }],
  }));
  return buildBpfObject(l.types, { coreRelos });
}

/**
 * An object with `roots` distinct (same-named) root structs and one relocation on each, all
 * sharing one access string of `accessLength` bytes ("0:000...0001": the long run of leading
 * zeros is still index 1).
 */
export function sharedLongAccessString(roots: number, accessLength: number): Uint8Array {
  const l = new TypeList();
  const int = l.int('int');
  const ids = Array.from({ length: roots }, () =>
    l.struct('sk', 8, [
      ['c', int, 0],
      ['a', int, 32],
    ]),
  );
  const access = `0:${'0'.repeat(Math.max(1, accessLength - 3))}1`;
  const records: RelocSpec[] = ids.map((typeId, i) => ({ insnOff: i * 8, typeId, access, kind: FIELD_BYTE_OFFSET }));
  return buildBpfObject(l.types, { coreRelos: [{ section: 'kprobe/access', records }] });
}
