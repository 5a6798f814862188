/**
 * The raw type listing of `bpftool btf dump file FILE format raw`, character for
 * character as bpftool 7.1.0 prints it (bpftool `btf.c` `dump_btf_type`), so our BTF can be
 * diffed against bpftool's and a dump is a readable fixture.
 *
 * 2026 format (docs/CODEC.md §4): vlen is printed whole (24 bits), and a type of a kind this
 * codec does not know prints as current bpftool prints kinds it does not know
 * (`btf_kind_safe`): `[id] UNKNOWN 'name'`, with nothing after the name.
 *
 * One header line per type, `[id] KIND 'name'` then kind-specific fields, and one
 * tab-indented line per member, enumerator, parameter or section variable. The quirks are
 * bpftool's and kept on purpose: `'(anon)'` for an empty name, a comma after a VAR's type id,
 * `bitfield_size` only when non-zero, an `LL`/`ULL` suffix on ENUM64 values only.
 *
 * Strings come from the codec decoded as latin1, one char per byte; write the result as
 * latin1 to reproduce bpftool's bytes for names that are not ASCII.
 */
import type { Btf } from './btf.js';
import { BtfKind, kindName } from './kinds.js';
import type { BtfType, TypeId } from './types.js';

/** The whole listing, ids 1..typeCount-1, each line ending in '\n'. */
export function dumpRaw(btf: Btf): string {
  const lines: string[] = [];
  for (const [id, type] of btf.types()) lines.push(dumpType(btf, id, type));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** One type: its header line plus any indented lines, without the final newline. */
export function dumpType(btf: Btf, id: TypeId, t: BtfType): string {
  return `[${id}] ${kindName(t.kind === BtfKind.Opaque ? t.rawKind : t.kind)} '${typeName(btf, id)}'${details(btf, t)}`;
}

function details(btf: Btf, t: BtfType): string {
  switch (t.kind) {
    case BtfKind.Int:
      return ` size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${intEncoding(t.encoding)}`;
    case BtfKind.Pointer:
    case BtfKind.Const:
    case BtfKind.Volatile:
    case BtfKind.Restrict:
    case BtfKind.Typedef:
    case BtfKind.TypeTag:
      return ` type_id=${t.type}`;
    case BtfKind.Array:
      return ` type_id=${t.elemType} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
    case BtfKind.Struct:
    case BtfKind.Union:
      return (
        ` size=${t.size} vlen=${t.members.length}` +
        t.members
          .map((m) => {
            const bitfield = m.bitfieldSize !== 0 ? ` bitfield_size=${m.bitfieldSize}` : '';
            return `\n\t'${anon(m.name)}' type_id=${m.type} bits_offset=${m.bitOffset}${bitfield}`;
          })
          .join('')
      );
    case BtfKind.Enum:
      // printf %d for signed enums, %u otherwise: the same 32 bits read two ways.
      return (
        ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}` +
        t.values.map((v) => `\n\t'${anon(v.name)}' val=${t.signed ? v.value | 0 : v.value >>> 0}`).join('')
      );
    case BtfKind.Enum64:
      // printf %lldLL / %lluULL: the suffix is part of bpftool's output.
      return (
        ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}` +
        t.values
          .map((v) => {
            const value = t.signed ? `${BigInt.asIntN(64, v.value)}LL` : `${BigInt.asUintN(64, v.value)}ULL`;
            return `\n\t'${anon(v.name)}' val=${value}`;
          })
          .join('')
      );
    case BtfKind.Fwd:
      return ` fwd_kind=${t.union ? 'union' : 'struct'}`;
    case BtfKind.Func:
      return ` type_id=${t.type} linkage=${linkage(t.linkage)}`;
    case BtfKind.FuncProto:
      return (
        ` ret_type_id=${t.returnType} vlen=${t.params.length}` + t.params.map((p) => `\n\t'${anon(p.name)}' type_id=${p.type}`).join('')
      );
    case BtfKind.Var:
      return ` type_id=${t.type}, linkage=${linkage(t.linkage)}`;
    case BtfKind.Datasec:
      return (
        ` size=${t.size} vlen=${t.vars.length}` +
        t.vars
          .map((v) => `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${kindName(btf.kind(v.type))} '${typeName(btf, v.type)}')`)
          .join('')
      );
    case BtfKind.Float:
      return ` size=${t.size}`;
    case BtfKind.DeclTag:
      return ` type_id=${t.type} component_idx=${t.componentIdx}`;
    case BtfKind.Opaque:
      return '';
  }
}

/** bpftool `btf_int_enc_str`: the encoding nibble, one flag at most. */
function intEncoding(encoding: number): string {
  switch (encoding) {
    case 0:
      return '(none)';
    case 1:
      return 'SIGNED';
    case 2:
      return 'CHAR';
    case 4:
      return 'BOOL';
    default:
      return 'UNKN';
  }
}

/** FUNC (in vlen) and VAR linkage share their values and bpftool's names for them. */
function linkage(value: number): string {
  return ['static', 'global', 'extern'][value] ?? '(unknown)';
}

/**
 * bpftool prints '(anon)' for name offset 0 only; an offset pointing at an empty string
 * prints ''. Types expose their offset, so they are exact; members, enumerators and
 * parameters come as strings, and an empty one is taken to be offset 0 (what every
 * producer writes).
 */
function typeName(btf: Btf, id: TypeId): string {
  return btf.nameOffset(id) === 0 ? '(anon)' : btf.name(id);
}

function anon(name: string): string {
  return name === '' ? '(anon)' : name;
}
