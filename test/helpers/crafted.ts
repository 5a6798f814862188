/**
 * A hand-made target "kernel" and a hand-made object type list that together reach the
 * CO-RE and btfgen edge cases of docs/CODEC.md §7-§8 (anonymous nesting, bitfields, legacy
 * bitfields, flavors and ambiguity, TYPE_TAG, FWD, enums of both widths, arrays, function
 * pointers).
 * Used by the differential cases and as fuzz seeds.
 */
import { BtfKind, encodeBtf } from '../../src/btf/index.js';
import { buildBpfObject, type RelocSpec } from './btf-ext-builder.js';
import { TypeList } from './type-builder.js';

// ---- the target kernel ----
export const T = new TypeList();
export const tInt = T.int('int');
T.int('unsigned int', 4, false);
T.int('long int', 8);
export const tChar = T.int('char', 1);
export const tAnonS = T.struct('', 8, [
  ['c', tInt, 0],
  ['d', tInt, 32],
]);
export const tAnonU = T.struct(
  '',
  8,
  [
    ['b', tInt, 0],
    ['', tAnonS, 0],
  ],
  true,
);
export const tSk = T.struct('sk', 12, [
  ['a', tInt, 0],
  ['', tAnonU, 32],
]);
T.struct('bf', 8, [
  ['x', tInt, 0, 3],
  ['y', tInt, 3, 5],
  ['z', tInt, 32],
]);
export const tInt3 = T.add({ kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 3 });
T.struct(
  'legacy',
  4,
  [
    ['lo', tInt3, 0],
    ['hi', tInt3, 3],
  ],
  false,
  false,
);
T.struct('dup', 8, [['f', tInt, 32]]);
T.struct('dup___2', 8, [['f', tInt, 32]]);
T.struct('amb', 8, [['f', tInt, 0]]);
T.struct('amb___2', 8, [['f', tInt, 32]]);
T.struct('pr', 8, [['g', tInt, 0]]);
T.struct('pr___2', 12, [
  ['f', tInt, 0],
  ['g', tInt, 64],
]);
// The first candidate has f, the second only g: a relocation on f prunes the second away.
T.struct('pz', 8, [['f', tInt, 0]]);
T.struct('pz___2', 8, [['g', tInt, 0]]);
export const tTag = T.add({ kind: BtfKind.TypeTag, name: 'rcu', type: tSk, kindFlag: false });
export const tPtrTag = T.ptr(tTag);
export const tPtrInt = T.ptr(tInt);
T.struct('tagged', 16, [
  ['p', tPtrInt, 0],
  ['tp', tPtrTag, 64],
]);
T.typedef('sk_rcu_p', tPtrTag);
T.typedef('pid_t', tInt);
T.typedef('sk_t', tSk);
export const tIdx = T.int('__ARRAY_SIZE_TYPE__', 4, false);
export const tA3 = T.array(tInt, tIdx, 3);
export const tA23 = T.array(tA3, tIdx, 2);
export const tASk = T.array(tSk, tIdx, 2);
export const tFlex = T.array(tInt, tIdx, 0);
T.struct('arr', 48, [
  ['m', tA23, 0],
  ['items', tASk, 192],
  ['flex', tFlex, 384],
]);
T.enumOf(
  'e',
  [
    ['E_A', 1],
    ['E_NEG', -1],
  ],
  4,
  true,
);
T.add({ kind: BtfKind.Enum64, name: 'e64', size: 8, signed: false, values: [{ name: 'BIG', value: 1n << 40n }] });
T.add({ kind: BtfKind.Enum64, name: 'ee', size: 8, signed: true, values: [{ name: 'X', value: 0xffffffffffffffffn }] });
T.enumOf('ee___2', [['X', -1]], 4, true);
export const tProto = T.add({ kind: BtfKind.FuncProto, name: '', returnType: tInt, params: [{ name: 'x', type: tInt }] });
export const tFnT = T.typedef('fn_t', tProto);
export const tOps = T.struct('ops', 16, [
  ['cb', T.ptr(tProto), 0],
  ['cb2', T.ptr(tFnT), 64],
]);
T.typedef('ops_p', T.ptr(tOps));
export const tFwd = T.add({ kind: BtfKind.Fwd, name: 'opaque', union: false });
T.typedef('opaque_p', T.ptr(tFwd));
T.struct('chars', 4, [['c', T.array(tChar, tIdx, 4), 0]]);
export const TARGET = encodeBtf(T.types);

// ---- local (object) types, one list shared by all cases ----
export const L = new TypeList();
export const lInt = L.int('int');
export const lSkFlat = L.struct('sk', 8, [
  ['c', lInt, 0],
  ['a', lInt, 32],
]);
export const lInner = L.struct('', 4, [['f', lInt, 0]]);
export const lDupNested = L.struct('dup', 4, [['', lInner, 0]]);
export const lBf = L.struct('bf', 8, [
  ['x', lInt, 0, 3],
  ['y', lInt, 3, 5],
  ['z', lInt, 32],
]);
export const lLegacy = L.struct('legacy', 4, [['hi', lInt, 0]]);
export const lDup = L.struct('dup___x', 4, [['f', lInt, 0]]);
export const lAmb = L.struct('amb', 4, [['f', lInt, 0]]);
export const lPr = L.struct('pr', 8, [
  ['f', lInt, 0],
  ['g', lInt, 32],
]);
export const lPz = L.struct('pz', 8, [
  ['f', lInt, 0],
  ['g', lInt, 32],
]);
export const lAnon = L.struct('', 4, [['a', lInt, 0]]);
export const lSkPtr = L.ptr(L.struct('sk', 4, [['a', lInt, 0]]));
export const lTagged = L.struct('tagged', 16, [
  ['p', L.ptr(lInt), 0],
  ['tp', lSkPtr, 64],
]);
export const lSkRcuP = L.typedef('sk_rcu_p', lSkPtr);
export const lPid = L.typedef('pid_t', lInt);
export const lSkT = L.typedef('sk_t', L.struct('sk', 4, [['a', lInt, 0]]));
export const lIdx = L.int('__ARRAY_SIZE_TYPE__', 4, false);
export const lArr = L.struct('arr', 48, [
  ['m', L.array(L.array(lInt, lIdx, 3), lIdx, 2), 0],
  ['items', L.array(L.struct('sk', 4, [['a', lInt, 0]]), lIdx, 2), 192],
  ['flex', L.array(lInt, lIdx, 0), 384],
]);
export const lE = L.enumOf('e', [
  ['E_NEG', 0],
  ['E_MISSING', 9],
]);
export const lE64 = L.enumOf('e64', [['BIG', 0]]);
export const lEe = L.enumOf('ee', [['X', 0]]);
export const lProto = L.add({ kind: BtfKind.FuncProto, name: '', returnType: lInt, params: [{ name: 'x', type: lInt }] });
export const lOps = L.struct('ops', 8, [['cb', L.ptr(lProto), 0]]);
export const lOpsP = L.typedef('ops_p', L.ptr(lOps));
export const lOpaqueP = L.typedef('opaque_p', L.ptr(L.add({ kind: BtfKind.Fwd, name: 'opaque', union: false })));
export const lMissing = L.struct('no_such_struct', 4, [['a', lInt, 0]]);
export const lSkMissingField = L.struct('sk___old', 4, [['gone', lInt, 0]]);
export const lChars = L.struct('chars', 4, [['c', L.array(L.int('char', 1), lIdx, 4), 0]]);

export const r = (typeId: number, access: string, kind: number, insn = 0): RelocSpec => ({ insnOff: insn * 8, typeId, access, kind });
export const object = (relos: RelocSpec[], section = 'kprobe/test') =>
  buildBpfObject(L.types, { coreRelos: [{ section, records: relos }] });
