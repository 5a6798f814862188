/**
 * The BTF encoder: a list of `BtfType` values in, a raw BTF blob out (spec §2.5, §6.6):
 * 24-byte header (version 1, flags 0, type_off 0, str_off = type_len), the type records,
 * then the string section. Strings are interned in record order (type name first, then
 * member / enumerator / parameter names), which is the order libbpf's btf__add_* calls
 * produce, so trimmed output matches bpftool byte for byte.
 */
import { clip, CodecError } from './errors.js';
import { BtfKind, KIND_NAMES, trailingSize } from './kinds.js';
import { StringTableBuilder } from './strings.js';
import type { BtfType } from './types.js';
import { BTF_MAGIC } from './btf.js';

export interface EncodeOptions {
  /** Byte order of the output; little-endian (what x86 and arm64 hosts produce) by default. */
  littleEndian?: boolean;
  /** Start from this string table (e.g. `StringTableBuilder.fromSection`) instead of an empty one. */
  strings?: StringTableBuilder;
}

const HEADER_LEN = 24;
const MAX_VLEN = 0xffff;

function vlenOf(t: BtfType): number {
  switch (t.kind) {
    case BtfKind.Struct:
    case BtfKind.Union:
      return t.members.length;
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return t.values.length;
    case BtfKind.FuncProto:
      return t.params.length;
    case BtfKind.Datasec:
      return t.vars.length;
    case BtfKind.Func:
      return t.linkage;
    default:
      return 0;
  }
}

function kindFlagOf(t: BtfType): boolean {
  switch (t.kind) {
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.TypeTag:
    case BtfKind.DeclTag:
      return t.kindFlag;
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return t.signed;
    case BtfKind.Fwd:
      return t.union;
    default:
      return false;
  }
}

/** types[i] is written as type id i + 1. */
export function encodeBtf(types: readonly BtfType[], options: EncodeOptions = {}): Uint8Array {
  const le = options.littleEndian ?? true;
  const strings = options.strings ?? new StringTableBuilder();
  let typeLen = 0;
  for (const t of types) {
    const vlen = vlenOf(t);
    if (vlen > MAX_VLEN) throw new CodecError('ENCODE', `${KIND_NAMES[t.kind]} '${clip(t.name)}' has ${vlen} elements, more than ${MAX_VLEN}`);
    typeLen += 12 + trailingSize(t.kind, vlen);
  }
  // Strings are interned while writing; the buffer is sized after, so write types to a scratch view first.
  const typeBytes = new Uint8Array(typeLen);
  const v = new DataView(typeBytes.buffer);
  let off = 0;
  const u32 = (x: number) => {
    v.setUint32(off, x >>> 0, le);
    off += 4;
  };
  types.forEach((t, index) => {
    const id = index + 1;
    const vlen = vlenOf(t);
    const kflag = kindFlagOf(t);
    u32(strings.add(t.name));
    u32((kflag ? 0x80000000 : 0) | (t.kind << 24) | vlen);
    switch (t.kind) {
      case BtfKind.Int:
        u32(t.size);
        u32(((t.encoding & 0x0f) << 24) | ((t.bitOffset & 0xff) << 16) | (t.bits & 0xff));
        break;
      case BtfKind.Pointer:
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.TypeTag:
      case BtfKind.Func:
        u32(t.type);
        break;
      case BtfKind.Array:
        u32(0);
        u32(t.elemType);
        u32(t.indexType);
        u32(t.nelems);
        break;
      case BtfKind.Struct:
      case BtfKind.Union:
        u32(t.size);
        for (const m of t.members) {
          u32(strings.add(m.name));
          u32(m.type);
          if (t.kindFlag) {
            if (m.bitOffset > 0xffffff || m.bitfieldSize > 0xff) {
              throw new CodecError('ENCODE', `type [${id}] '${clip(t.name)}': member '${clip(m.name)}' offset ${m.bitOffset}/${m.bitfieldSize} does not fit kind_flag encoding`);
            }
            u32(m.bitOffset | (m.bitfieldSize << 24));
          } else {
            if (m.bitfieldSize !== 0) {
              throw new CodecError('ENCODE', `type [${id}] '${clip(t.name)}': member '${clip(m.name)}' is a bitfield but kind_flag is 0`);
            }
            u32(m.bitOffset);
          }
        }
        break;
      case BtfKind.Enum:
        u32(t.size);
        for (const e of t.values) {
          u32(strings.add(e.name));
          u32(e.value);
        }
        break;
      case BtfKind.Enum64:
        u32(t.size);
        for (const e of t.values) {
          u32(strings.add(e.name));
          u32(Number(BigInt.asUintN(64, e.value) & 0xffffffffn));
          u32(Number(BigInt.asUintN(64, e.value) >> 32n));
        }
        break;
      case BtfKind.Fwd:
        u32(0);
        break;
      case BtfKind.FuncProto:
        u32(t.returnType);
        for (const p of t.params) {
          u32(strings.add(p.name));
          u32(p.type);
        }
        break;
      case BtfKind.Var:
        u32(t.type);
        u32(t.linkage);
        break;
      case BtfKind.Datasec:
        u32(t.size);
        for (const s of t.vars) {
          u32(s.type);
          u32(s.offset);
          u32(s.size);
        }
        break;
      case BtfKind.Float:
        u32(t.size);
        break;
      case BtfKind.DeclTag:
        u32(t.type);
        v.setInt32(off, t.componentIdx, le);
        off += 4;
        break;
    }
  });

  const out = new Uint8Array(HEADER_LEN + typeLen + strings.byteLength);
  const h = new DataView(out.buffer);
  h.setUint16(0, BTF_MAGIC, le);
  h.setUint8(2, 1);
  h.setUint8(3, 0);
  h.setUint32(4, HEADER_LEN, le);
  h.setUint32(8, 0, le);
  h.setUint32(12, typeLen, le);
  h.setUint32(16, typeLen, le);
  h.setUint32(20, strings.byteLength, le);
  out.set(typeBytes, HEADER_LEN);
  strings.write(out, HEADER_LEN + typeLen);
  return out;
}
