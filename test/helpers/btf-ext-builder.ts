/**
 * Writes .BTF.ext blobs and whole "BPF objects" (ELF with .BTF + .BTF.ext) from hand-made
 * types and relocation records, so tests can reach CO-RE cases no compiler emits
 * (ambiguous candidates, legacy bitfields, TYPE_TAG chains, hostile inputs), and run
 * bpftool on exactly the same bytes.
 */
import { encodeBtf, StringTableBuilder, type BtfType } from '../../src/btf/index.js';
import { buildElf } from './elf-builder.js';

export interface RelocSpec {
  insnOff: number;
  typeId: number;
  access: string;
  kind: number;
}

export interface ExtSpec {
  littleEndian?: boolean;
  hdrLen?: 24 | 32;
  /** Record size of core relocations (16 by default; larger tests the stride). */
  coreRecSize?: number;
  funcRecSize?: number;
  funcInfo?: { section: string; records: { insnOff: number; typeId: number }[] }[];
  lineInfo?: { section: string; records: { insnOff: number; fileNameOff: number; lineOff: number; line: number; column: number }[] }[];
  coreRelos?: { section: string; records: RelocSpec[] }[];
}

/** Encodes the BTF with a string table that also holds the section names and access strings. */
export function buildObjectBtf(
  types: BtfType[],
  extraStrings: string[],
  littleEndian = true,
): { btf: Uint8Array; strings: StringTableBuilder } {
  const strings = new StringTableBuilder();
  // Intern type names first so the string table order is deterministic, then the extras.
  const btf = encodeBtf(types, { littleEndian, strings });
  const before = strings.byteLength;
  for (const s of extraStrings) strings.add(s);
  if (strings.byteLength === before) return { btf, strings };
  return { btf: encodeBtf(types, { littleEndian, strings }), strings };
}

export function buildBtfExt(spec: ExtSpec, strings: StringTableBuilder): Uint8Array {
  const le = spec.littleEndian ?? true;
  const hdrLen = spec.hdrLen ?? 32;
  const words: number[] = [];
  const sub = <R>(blocks: { section: string; records: R[] }[] | undefined, recSize: number, write: (r: R) => number[]) => {
    if (!blocks || blocks.length === 0) return [] as number[];
    const out = [recSize];
    for (const b of blocks) {
      out.push(strings.add(b.section), b.records.length);
      for (const r of b.records) {
        const rec = write(r);
        while (rec.length * 4 < recSize) rec.push(0);
        out.push(...rec);
      }
    }
    return out;
  };
  const func = sub(spec.funcInfo, spec.funcRecSize ?? 8, (r) => [r.insnOff, r.typeId]);
  const line = sub(spec.lineInfo, 16, (r) => [r.insnOff, r.fileNameOff, r.lineOff, (r.line << 10) | r.column]);
  const core = sub(spec.coreRelos, spec.coreRecSize ?? 16, (r) => [r.insnOff, r.typeId, strings.add(r.access), r.kind]);
  // A loop, not a spread: hostile inputs have more words than a call takes arguments.
  for (const part of [func, line, core]) for (const word of part) words.push(word);
  const out = new Uint8Array(hdrLen + words.length * 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  out[3] = 0;
  v.setUint32(4, hdrLen, le);
  v.setUint32(8, 0, le);
  v.setUint32(12, func.length * 4, le);
  v.setUint32(16, func.length * 4, le);
  v.setUint32(20, line.length * 4, le);
  if (hdrLen >= 32) {
    v.setUint32(24, (func.length + line.length) * 4, le);
    v.setUint32(28, core.length * 4, le);
  }
  words.forEach((w, i) => v.setUint32(hdrLen + i * 4, w >>> 0, le));
  return out;
}

/** A BPF object: ELF with .BTF (types + every string the ext needs) and .BTF.ext. */
export function buildBpfObject(types: BtfType[], ext: ExtSpec, options: { littleEndian?: boolean } = {}): Uint8Array {
  const le = options.littleEndian ?? true;
  const extras: string[] = [];
  for (const blocks of [ext.funcInfo, ext.lineInfo, ext.coreRelos]) for (const b of blocks ?? []) extras.push(b.section);
  for (const b of ext.coreRelos ?? []) for (const r of b.records) extras.push(r.access);
  const { btf, strings } = buildObjectBtf(types, extras, le);
  const extBytes = buildBtfExt({ ...ext, littleEndian: le }, strings);
  return buildElf({
    littleEndian: le,
    sections: [
      { name: '.text', data: new Uint8Array(8) },
      { name: '.BTF', data: btf },
      { name: '.BTF.ext', data: extBytes },
    ],
  });
}
