/**
 * The BTF encoder: a list of `BtfType` values in, a raw BTF blob out (docs/CODEC.md §3.5 and
 * docs/CODEC.md §8.5): 24-byte header (version 1, flags 0, type_off 0, str_off = type_len), the type
 * records, then the string section. Strings are interned in record order (type name first,
 * then member / enumerator / parameter names), which is the order libbpf's btf__add_* calls
 * produce, so trimmed output matches bpftool byte for byte.
 *
 * 2026 format (docs/CODEC.md §4), when asked: a 32-byte header and a layout section between
 * the types and the strings (`layout`), vlen up to 0xffffff, and opaque types of kinds this
 * codec does not know written back as they were read. The default stays the classic 24-byte
 * header, as bpftool writes, so that agents with an older libbpf can read the output.
 */
import { clip, CodecError } from './errors.js';
import { BTF_MAX_VLEN, BtfKind, describeKind, trailingSize, type BtfLayoutEntry } from './kinds.js';
import { StringTableBuilder } from './strings.js';
import type { BtfType } from './types.js';
import { BTF_MAGIC, LAYOUT_HEADER_LEN } from './btf.js';

export interface EncodeOptions {
  /** Byte order of the output; little-endian (what x86 and arm64 hosts produce) by default. */
  littleEndian?: boolean;
  /** Start from this string table (e.g. `StringTableBuilder.fromSection`) instead of an empty one. */
  strings?: StringTableBuilder;
  /**
   * Write a 2026 layout section with these entries (kind 0 first; `STANDARD_LAYOUT` for the
   * kinds this codec knows), and so the 32-byte header. A decoded BTF's `layout` re-encodes
   * it as it was.
   */
  layout?: readonly BtfLayoutEntry[];
  /** 24 (classic, the default without a layout) or 32 (2026: layout fields, zero without a layout). */
  headerLength?: 24 | 32;
}

const HEADER_LEN = 24;

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
    case BtfKind.Opaque:
      return t.vlen;
    default:
      return 0;
  }
}

/** The kind number written in the record (an opaque type keeps its own). */
function rawKindOf(t: BtfType): number {
  return t.kind === BtfKind.Opaque ? t.rawKind : t.kind;
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
    case BtfKind.Opaque:
      return t.kindFlag;
    default:
      return false;
  }
}

/** types[i] is written as type id i + 1. */
export function encodeBtf(types: readonly BtfType[], options: EncodeOptions = {}): Uint8Array {
  const le = options.littleEndian ?? true;
  const strings = options.strings ?? new StringTableBuilder();
  const layout = options.layout;
  if (layout && options.headerLength === HEADER_LEN)
    throw new CodecError('ENCODE', 'a layout section needs the 32-byte header (headerLength 32)');
  const headerLength = layout ? LAYOUT_HEADER_LEN : (options.headerLength ?? HEADER_LEN);
  let typeLen = 0;
  types.forEach((t, index) => {
    const vlen = vlenOf(t);
    const what = () => `type [${index + 1}] ${describeKind(rawKindOf(t))} '${clip(t.name)}'`;
    if (vlen > BTF_MAX_VLEN) throw new CodecError('ENCODE', `${what()} has ${vlen} elements, more than ${BTF_MAX_VLEN}`);
    if (t.kind === BtfKind.Opaque) {
      if (t.data.length > 0 && t.littleEndian !== le) {
        throw new CodecError('ENCODE', `${what()}: a kind this codec does not know cannot change byte order (its fields are unknown)`);
      }
      typeLen += 12 + t.data.length;
    } else {
      typeLen += 12 + trailingSize(t.kind, vlen);
    }
  });
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
    u32((kflag ? 0x80000000 : 0) | (rawKindOf(t) << 24) | vlen);
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
              throw new CodecError(
                'ENCODE',
                `type [${id}] '${clip(t.name)}': member '${clip(m.name)}' offset ${m.bitOffset}/${m.bitfieldSize} does not fit kind_flag encoding`,
              );
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
      case BtfKind.Opaque:
        u32(t.sizeOrType);
        typeBytes.set(t.data, off);
        off += t.data.length;
        break;
    }
  });

  // Types (a multiple of 4 bytes), then the layout section if any, then the strings.
  const layoutLen = layout ? layout.length * 4 : 0;
  const out = new Uint8Array(headerLength + typeLen + layoutLen + strings.byteLength);
  const h = new DataView(out.buffer);
  h.setUint16(0, BTF_MAGIC, le);
  h.setUint8(2, 1);
  h.setUint8(3, 0);
  h.setUint32(4, headerLength, le);
  h.setUint32(8, 0, le);
  h.setUint32(12, typeLen, le);
  h.setUint32(16, typeLen + layoutLen, le);
  h.setUint32(20, strings.byteLength, le);
  if (headerLength >= LAYOUT_HEADER_LEN) {
    h.setUint32(24, layout ? typeLen : 0, le);
    h.setUint32(28, layoutLen, le);
  }
  out.set(typeBytes, headerLength);
  layout?.forEach((entry, kind) => {
    const at = headerLength + typeLen + kind * 4;
    h.setUint8(at, entry.infoSize);
    h.setUint8(at + 1, entry.elemSize);
    h.setUint16(at + 2, entry.flags, le);
  });
  strings.write(out, headerLength + typeLen + layoutLen);
  return out;
}
