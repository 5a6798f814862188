/**
 * A hand-made type list that holds every BTF kind 1..19 and the encoding edge cases
 * (vlen 0 struct, kflag bitfields, variadic FUNC_PROTO, DECL_TAG -1 and >= 0, signed enum
 * with negative values, ENUM64 with high bits), for codec round trips.
 */
import { BtfKind, type BtfType } from '../../src/btf/index.js';

export function everyKind(): BtfType[] {
  return [
    /* 1 */ { kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
    /* 2 */ { kind: BtfKind.Pointer, name: '', type: 5 },
    /* 3 */ { kind: BtfKind.Array, name: '', elemType: 1, indexType: 1, nelems: 16 },
    /* 4 */ { kind: BtfKind.Struct, name: 'empty', size: 8, kindFlag: false, members: [] },
    /* 5 */ {
      kind: BtfKind.Struct,
      name: 'point',
      size: 16,
      kindFlag: true,
      members: [
        { name: 'x', type: 1, bitOffset: 0, bitfieldSize: 0 },
        { name: 'flag', type: 1, bitOffset: 32, bitfieldSize: 3 },
        { name: '', type: 6, bitOffset: 64, bitfieldSize: 0 },
      ],
    },
    /* 6 */ { kind: BtfKind.Union, name: '', size: 8, kindFlag: false, members: [{ name: 'u', type: 1, bitOffset: 0, bitfieldSize: 0 }] },
    /* 7 */ {
      kind: BtfKind.Enum,
      name: 'e',
      size: 4,
      signed: true,
      values: [
        { name: 'NEG', value: -5 },
        { name: 'POS', value: 7 },
      ],
    },
    /* 8 */ { kind: BtfKind.Fwd, name: 'fwd_union', union: true },
    /* 9 */ { kind: BtfKind.Typedef, name: 'int_t', type: 1 },
    /* 10 */ { kind: BtfKind.Volatile, name: '', type: 9 },
    /* 11 */ { kind: BtfKind.Const, name: '', type: 10 },
    /* 12 */ { kind: BtfKind.Restrict, name: '', type: 2 },
    /* 13 */ {
      kind: BtfKind.FuncProto,
      name: '',
      returnType: 1,
      params: [
        { name: 'a', type: 1 },
        { name: '', type: 0 },
      ],
    },
    /* 14 */ { kind: BtfKind.Func, name: 'f', type: 13, linkage: 1 },
    /* 15 */ { kind: BtfKind.Var, name: 'v', type: 1, linkage: 1 },
    /* 16 */ { kind: BtfKind.Datasec, name: '.data', size: 4, vars: [{ type: 15, offset: 0, size: 4 }] },
    /* 17 */ { kind: BtfKind.Float, name: 'double', size: 8 },
    /* 18 */ { kind: BtfKind.DeclTag, name: 'tag_whole', type: 14, componentIdx: -1, kindFlag: false },
    /* 19 */ { kind: BtfKind.DeclTag, name: 'tag_param', type: 14, componentIdx: 0, kindFlag: false },
    /* 20 */ { kind: BtfKind.TypeTag, name: 'user', type: 1, kindFlag: false },
    /* 21 */ {
      kind: BtfKind.Enum64,
      name: 'e64',
      size: 8,
      signed: false,
      values: [
        { name: 'BIG', value: 0xfedcba9876543210n },
        { name: 'SMALL', value: 1n },
      ],
    },
    /* 22 */ { kind: BtfKind.Enum, name: 'u', size: 4, signed: false, values: [{ name: 'TOP', value: 0xffffffff }] },
    /* 23 */ { kind: BtfKind.Fwd, name: 'fwd_struct', union: false },
    /* 24 */ {
      kind: BtfKind.Struct,
      name: 'legacy',
      size: 4,
      kindFlag: false,
      members: [{ name: 'b', type: 1, bitOffset: 3, bitfieldSize: 0 }],
    },
  ];
}
