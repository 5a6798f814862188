/**
 * 2026-format BTF built by hand from a classic one (docs/CODEC.md §4): the bytes are written
 * here with a DataView, not by the codec's encoder, so the decoder is tested against an
 * independent writer. Everything new is appended after the existing ids, so what CO-RE and
 * the trimmer see of the original types is unchanged: a trim of the result must equal
 * bpftool's trim of the original.
 */
import { Btf, BtfKind, STANDARD_LAYOUT, type BtfLayoutEntry } from '../../src/btf/index.js';

export interface Btf2026Options {
  /** Write the 32-byte header and a layout section (STANDARD_LAYOUT, plus the unknown kind's entry). */
  layout?: boolean;
  /** Append this many VARs and one DATASEC holding them all (vlen above 65,535 needs 24 bits). */
  datasecVars?: number;
  /** Append one type of this kind, which the codec does not know, described by the layout section. */
  unknownKind?: { kind: number; infoSize: number; elemSize: number; vlen: number; name?: string };
}

export interface Btf2026 {
  bytes: Uint8Array;
  /** Ids of the appended types. */
  datasecId?: number;
  unknownId?: number;
  layout?: BtfLayoutEntry[];
}

/**
 * `classic` (24-byte header, type_off 0, strings right after the types, either byte order)
 * with the 2026 additions asked for, in the same byte order.
 */
export function toBtf2026(classic: Uint8Array, options: Btf2026Options): Btf2026 {
  const source = Btf.parse(classic);
  const le = source.littleEndian;
  const v = new DataView(classic.buffer, classic.byteOffset, classic.byteLength);
  if (v.getUint32(4, le) !== 24 || v.getUint32(8, le) !== 0 || v.getUint32(16, le) !== v.getUint32(12, le)) {
    throw new Error('toBtf2026 wants a classic BTF laid out as libbpf writes it');
  }
  const typeLen = v.getUint32(12, le);
  const strLen = v.getUint32(20, le);
  const types = classic.subarray(24, 24 + typeLen);
  const strings = classic.subarray(24 + typeLen, 24 + typeLen + strLen);
  const intId = source.idsByEssentialName('int').find((id) => source.kind(id) === BtfKind.Int) ?? 0;

  // New strings, appended to the old ones.
  const extra: string[] = [];
  const stringOffset = (s: string) => {
    const before = strLen + extra.reduce((n, x) => n + x.length + 1, 0);
    extra.push(s);
    return before;
  };
  const words: number[] = [];
  const result: Btf2026 = { bytes: new Uint8Array(0) };
  let nextId = source.typeCount;
  const vars = options.datasecVars ?? 0;
  if (vars > 0) {
    const varName = stringOffset('huge_var');
    const firstVar = nextId;
    for (let i = 0; i < vars; i++) words.push(varName, BtfKind.Var << 24, intId, 1);
    nextId += vars;
    words.push(stringOffset('.data.huge'), (BtfKind.Datasec << 24) | vars, vars * 4);
    for (let i = 0; i < vars; i++) words.push(firstVar + i, i * 4, 4);
    result.datasecId = nextId++;
  }
  let layout: BtfLayoutEntry[] | undefined;
  if (options.layout) layout = STANDARD_LAYOUT.map((e) => ({ ...e }));
  const unknown = options.unknownKind;
  let opaqueBytes = new Uint8Array(0);
  if (unknown) {
    if (!layout) throw new Error('an unknown kind needs the layout section');
    while (layout.length <= unknown.kind) layout.push({ infoSize: 0, elemSize: 0, flags: 0 });
    layout[unknown.kind] = { infoSize: unknown.infoSize, elemSize: unknown.elemSize, flags: 0 };
    const name = stringOffset(unknown.name ?? 'mystery');
    opaqueBytes = new Uint8Array(12 + unknown.infoSize + unknown.vlen * unknown.elemSize);
    const ov = new DataView(opaqueBytes.buffer);
    ov.setUint32(0, name, le);
    ov.setUint32(4, (unknown.kind << 24) | unknown.vlen, le);
    ov.setUint32(8, 0x1234, le);
    for (let i = 12; i < opaqueBytes.length; i++) opaqueBytes[i] = (i * 37) & 0xff;
    result.unknownId = nextId;
  }
  result.layout = layout;

  const newTypeLen = typeLen + words.length * 4 + opaqueBytes.length;
  const layoutLen = layout ? layout.length * 4 : 0;
  const extraLen = extra.reduce((n, x) => n + x.length + 1, 0);
  const hdrLen = layout ? 32 : 24;
  const out = new Uint8Array(hdrLen + newTypeLen + layoutLen + strLen + extraLen);
  const o = new DataView(out.buffer);
  o.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  o.setUint32(4, hdrLen, le);
  o.setUint32(8, 0, le);
  o.setUint32(12, newTypeLen, le);
  o.setUint32(16, newTypeLen + layoutLen, le);
  o.setUint32(20, strLen + extraLen, le);
  if (layout) {
    o.setUint32(24, newTypeLen, le);
    o.setUint32(28, layoutLen, le);
  }
  let at = hdrLen;
  out.set(types, at);
  at += typeLen;
  for (const w of words) {
    o.setUint32(at, w >>> 0, le);
    at += 4;
  }
  out.set(opaqueBytes, at);
  at += opaqueBytes.length;
  for (const entry of layout ?? []) {
    out[at] = entry.infoSize;
    out[at + 1] = entry.elemSize;
    o.setUint16(at + 2, entry.flags, le);
    at += 4;
  }
  out.set(strings, at);
  at += strLen;
  for (const s of extra) {
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    out[at++] = 0;
  }
  result.bytes = out;
  return result;
}
