/**
 * The semantic BTF type model: one small value per type, references by type id.
 *
 * These are what `Btf.type(id)` inflates and what `encodeBtf` writes. Names are strings
 * (the string table is an encoding detail); every field needed to write the record back
 * bit for bit is kept (kind flags, linkage, raw member offsets via bitOffset/bitfieldSize).
 */
import type { BtfKind } from './kinds.js';

/** A type id: 0 is void, 1..n-1 index the type section in order. */
export type TypeId = number;

export interface IntType {
  kind: typeof BtfKind.Int;
  name: string;
  /** Byte size. */
  size: number;
  /** `IntEncoding` bits: signed, char, bool. */
  encoding: number;
  /** Bit offset inside the storage (0 in all modern producers). */
  bitOffset: number;
  /** Number of value bits. */
  bits: number;
}

export interface PointerType {
  kind: typeof BtfKind.Pointer;
  name: string;
  type: TypeId;
}

export interface ArrayType {
  kind: typeof BtfKind.Array;
  name: string;
  elemType: TypeId;
  indexType: TypeId;
  nelems: number;
}

export interface Member {
  name: string;
  type: TypeId;
  bitOffset: number;
  /** 0 when the member is not a bitfield (always 0 in kflag=0 composites). */
  bitfieldSize: number;
}

export interface CompositeType {
  kind: typeof BtfKind.Struct | typeof BtfKind.Union;
  name: string;
  size: number;
  /** kflag: member offsets carry a bitfield size in their top 8 bits. */
  kindFlag: boolean;
  members: Member[];
}

export interface EnumValue {
  name: string;
  /** The stored 32-bit value, as signed (s32) when the enum is signed, else as u32. */
  value: number;
}

export interface EnumType {
  kind: typeof BtfKind.Enum;
  name: string;
  size: number;
  /** kflag: values are signed. */
  signed: boolean;
  values: EnumValue[];
}

export interface Enum64Value {
  name: string;
  /** (hi << 32) | lo, as unsigned 64-bit. */
  value: bigint;
}

export interface Enum64Type {
  kind: typeof BtfKind.Enum64;
  name: string;
  size: number;
  signed: boolean;
  values: Enum64Value[];
}

export interface FwdType {
  kind: typeof BtfKind.Fwd;
  name: string;
  /** kflag: forward declaration of a union rather than a struct. */
  union: boolean;
}

/** TYPEDEF, VOLATILE, CONST, RESTRICT: a name (typedef only) and a target. */
export interface RefType {
  kind: typeof BtfKind.Typedef | typeof BtfKind.Volatile | typeof BtfKind.Const | typeof BtfKind.Restrict;
  name: string;
  type: TypeId;
}

export interface TypeTagType {
  kind: typeof BtfKind.TypeTag;
  name: string;
  type: TypeId;
  /** kflag (2025+ "attribute" form). */
  kindFlag: boolean;
}

export interface FuncType {
  kind: typeof BtfKind.Func;
  name: string;
  /** The FUNC_PROTO. */
  type: TypeId;
  /** Stored in vlen: 0 static, 1 global, 2 extern. */
  linkage: number;
}

export interface FuncParam {
  name: string;
  type: TypeId;
}

export interface FuncProtoType {
  kind: typeof BtfKind.FuncProto;
  name: string;
  returnType: TypeId;
  /** A variadic prototype ends with a `{ name: '', type: 0 }` parameter. */
  params: FuncParam[];
}

export interface VarType {
  kind: typeof BtfKind.Var;
  name: string;
  type: TypeId;
  linkage: number;
}

export interface DatasecVar {
  type: TypeId;
  offset: number;
  size: number;
}

export interface DatasecType {
  kind: typeof BtfKind.Datasec;
  name: string;
  size: number;
  vars: DatasecVar[];
}

export interface FloatType {
  kind: typeof BtfKind.Float;
  name: string;
  size: number;
}

export interface DeclTagType {
  kind: typeof BtfKind.DeclTag;
  name: string;
  type: TypeId;
  /** -1: the whole type/func/var; otherwise a member or parameter index. */
  componentIdx: number;
  kindFlag: boolean;
}

/**
 * A type of a kind this codec does not know (2026 format: skipped using the layout section).
 * Kept as read so it keeps its id and re-encodes byte for byte; what it means is unknown, so
 * CO-RE and the trimmer refuse to look inside it.
 */
export interface OpaqueType {
  kind: typeof BtfKind.Opaque;
  /** The kind number in the record. */
  rawKind: number;
  name: string;
  kindFlag: boolean;
  vlen: number;
  /** The third header word (a size or a type id: which, only its kind knows). */
  sizeOrType: number;
  /** The bytes after the 12-byte header (layout info_sz + vlen x elem_sz), in `littleEndian` order. */
  data: Uint8Array;
  littleEndian: boolean;
}

export type BtfType =
  | IntType
  | PointerType
  | ArrayType
  | CompositeType
  | EnumType
  | Enum64Type
  | FwdType
  | RefType
  | TypeTagType
  | FuncType
  | FuncProtoType
  | VarType
  | DatasecType
  | FloatType
  | DeclTagType
  | OpaqueType;
