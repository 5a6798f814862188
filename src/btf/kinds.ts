/** BTF kind numbers (UAPI `BTF_KIND_*`, spec §2.3). */
export const BtfKind = {
  Unknown: 0,
  Int: 1,
  Pointer: 2,
  Array: 3,
  Struct: 4,
  Union: 5,
  Enum: 6,
  Fwd: 7,
  Typedef: 8,
  Volatile: 9,
  Const: 10,
  Restrict: 11,
  Func: 12,
  FuncProto: 13,
  Var: 14,
  Datasec: 15,
  Float: 16,
  DeclTag: 17,
  TypeTag: 18,
  Enum64: 19,
} as const;
export type BtfKind = (typeof BtfKind)[keyof typeof BtfKind];

/** The highest kind this codec understands. */
export const MAX_KIND = 19;

/** Names as bpftool prints them in `btf dump ... format raw`. */
export const KIND_NAMES: readonly string[] = [
  'UNKNOWN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE',
  'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64',
];

/** INT encoding bits (`BTF_INT_*`). */
export const IntEncoding = { Signed: 1, Char: 2, Bool: 4 } as const;

/** Bytes of trailing data after the 12-byte common header, per kind and vlen (spec §2.3). */
export function trailingSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.Int:
    case BtfKind.Var:
    case BtfKind.DeclTag:
      return 4;
    case BtfKind.Array:
      return 12;
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.Datasec:
    case BtfKind.Enum64:
      return 12 * vlen;
    case BtfKind.Enum:
    case BtfKind.FuncProto:
      return 8 * vlen;
    case BtfKind.Pointer:
    case BtfKind.Fwd:
    case BtfKind.Typedef:
    case BtfKind.Volatile:
    case BtfKind.Const:
    case BtfKind.Restrict:
    case BtfKind.Func:
    case BtfKind.Float:
    case BtfKind.TypeTag:
      return 0;
    default:
      return -1;
  }
}

/** VOLATILE, CONST, RESTRICT, TYPE_TAG (libbpf `btf_is_mod`). */
export function isModifier(kind: number): boolean {
  return kind === BtfKind.Volatile || kind === BtfKind.Const || kind === BtfKind.Restrict || kind === BtfKind.TypeTag;
}

export function isComposite(kind: number): boolean {
  return kind === BtfKind.Struct || kind === BtfKind.Union;
}

export function isAnyEnum(kind: number): boolean {
  return kind === BtfKind.Enum || kind === BtfKind.Enum64;
}

/** Same kind, or both enums: the kinds CO-RE treats as interchangeable (spec §2.4). */
export function kindsCoreCompatible(a: number, b: number): boolean {
  return a === b || (isAnyEnum(a) && isAnyEnum(b));
}
