/** BTF kind numbers (UAPI `BTF_KIND_*`, docs/CODEC.md §3.3). */
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
  /**
   * Not a UAPI kind: what `Btf.type` inflates a type of a kind this codec does not know into
   * (2026 format, docs/CODEC.md §4.3). Its real number is `OpaqueType.rawKind`; `Btf.kind(id)`
   * returns the real number.
   */
  Opaque: -1,
} as const;
export type BtfKind = (typeof BtfKind)[keyof typeof BtfKind];

/** The highest kind this codec understands. */
export const MAX_KIND = 19;
/** The highest kind the 2026 info word can hold (7 bits). */
export const BTF_MAX_KIND = 0x7f;
/** The largest vlen: 16 bits in classic BTF, 24 bits since the 2026 format. */
export const BTF_MAX_VLEN = 0xffffff;

/** Names as bpftool prints them in `btf dump ... format raw`. */
export const KIND_NAMES: readonly string[] = [
  'UNKNOWN',
  'INT',
  'PTR',
  'ARRAY',
  'STRUCT',
  'UNION',
  'ENUM',
  'FWD',
  'TYPEDEF',
  'VOLATILE',
  'CONST',
  'RESTRICT',
  'FUNC',
  'FUNC_PROTO',
  'VAR',
  'DATASEC',
  'FLOAT',
  'DECL_TAG',
  'TYPE_TAG',
  'ENUM64',
];

/** The kind's name as bpftool's raw dump prints it: kinds it does not know print as UNKNOWN. */
export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? 'UNKNOWN';
}

/** The kind for messages: its name, or its number when it has none here ("kind 20"). */
export function describeKind(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/**
 * Kinds whose vlen counts trailing elements. FUNC keeps its linkage (0..2) in vlen; the
 * other kinds have no vlen at all. For those, the info bits that are vlen bits 16-23 stay
 * reserved: no producer sets them (docs/CODEC.md §4.2).
 */
export function usesWideVlen(kind: number): boolean {
  return (
    kind === BtfKind.Struct ||
    kind === BtfKind.Union ||
    kind === BtfKind.Enum ||
    kind === BtfKind.FuncProto ||
    kind === BtfKind.Datasec ||
    kind === BtfKind.Enum64
  );
}

/** One entry of the 2026 layout section: how to skip a record of that kind. */
export interface BtfLayoutEntry {
  /** Bytes of the single element after the 12-byte header. */
  infoSize: number;
  /** Bytes of each of the vlen elements after that. */
  elemSize: number;
  /** Unused so far; kept as read. */
  flags: number;
}

/** The layout of every kind this codec knows (0..19), as a 2026 encoder writes it. */
export const STANDARD_LAYOUT: readonly BtfLayoutEntry[] = Object.freeze(
  Array.from({ length: MAX_KIND + 1 }, (_, kind): BtfLayoutEntry => {
    const single = kind === 0 ? 0 : trailingSize(kind, 0);
    const perElement = kind === 0 ? 0 : trailingSize(kind, 1) - single;
    return Object.freeze({ infoSize: single, elemSize: perElement, flags: 0 });
  }),
);

/** INT encoding bits (`BTF_INT_*`). */
export const IntEncoding = { Signed: 1, Char: 2, Bool: 4 } as const;

/** Bytes of trailing data after the 12-byte common header, per kind and vlen (docs/CODEC.md §3.3). */
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

/** Same kind, or both enums: the kinds CO-RE treats as interchangeable (docs/CODEC.md §3.4). */
export function kindsCoreCompatible(a: number, b: number): boolean {
  return a === b || (isAnyEnum(a) && isAnyEnum(b));
}
