import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Btf } from '../../src/btf/btf.js';
import { dumpRaw } from '../../src/btf/dump.js';
import { encodeBtf } from '../../src/btf/encode.js';
import { BtfKind } from '../../src/btf/kinds.js';
import type { BtfType } from '../../src/btf/types.js';
import { tempDir } from '../cli/fixtures/files.js';
import {
  KERNEL_BTF,
  bpftoolRawDump,
  buildSample,
  firstDifference,
  hasTool,
  isReadable,
  lineCount,
  sampleSkipReason,
} from '../cli/fixtures/oracle.js';

const noBpftool = hasTool('bpftool', ['version']) ? false : 'bpftool is not installed';
const noKernelBtf = noBpftool || (isReadable(KERNEL_BTF) ? false : `${KERNEL_BTF} is not readable`);
const noSample = sampleSkipReason() || false;

/** Every kind 1..19 and the value edge cases bpftool formats specially; ids are index + 1. */
const EVERY_KIND: BtfType[] = [
  /* 1 */ { kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
  /* 2 */ { kind: BtfKind.Int, name: 'char', size: 1, encoding: 2, bitOffset: 0, bits: 8 },
  /* 3 */ { kind: BtfKind.Int, name: '_Bool', size: 1, encoding: 4, bitOffset: 0, bits: 8 },
  /* 4 */ { kind: BtfKind.Int, name: 'unsigned int', size: 4, encoding: 0, bitOffset: 0, bits: 32 },
  /* 5 */ { kind: BtfKind.Int, name: 'odd', size: 2, encoding: 3, bitOffset: 3, bits: 9 },
  /* 6 */ { kind: BtfKind.Pointer, name: '', type: 0 },
  /* 7 */ { kind: BtfKind.Array, name: '', elemType: 2, indexType: 4, nelems: 16 },
  /* 8 */ { kind: BtfKind.Array, name: '', elemType: 1, indexType: 4, nelems: 0 },
  /* 9 */ {
    kind: BtfKind.Struct,
    name: 'bits',
    size: 16,
    kindFlag: true,
    members: [
      { name: 'whole', type: 1, bitOffset: 0, bitfieldSize: 0 },
      { name: 'low', type: 4, bitOffset: 32, bitfieldSize: 3 },
      { name: '', type: 10, bitOffset: 64, bitfieldSize: 0 },
      { name: 'tail', type: 8, bitOffset: 128, bitfieldSize: 0 },
    ],
  },
  /* 10 */ {
    kind: BtfKind.Union,
    name: '',
    size: 4,
    kindFlag: true,
    members: [
      { name: 'u', type: 4, bitOffset: 0, bitfieldSize: 0 },
      { name: 'flag', type: 4, bitOffset: 0, bitfieldSize: 1 },
    ],
  },
  /* 11 */ { kind: BtfKind.Struct, name: 'empty', size: 0, kindFlag: false, members: [] },
  /* 12 */ {
    kind: BtfKind.Enum,
    name: 'u32_enum',
    size: 4,
    signed: false,
    values: [
      { name: 'ZERO', value: 0 },
      { name: 'MAX', value: 0xffffffff },
      { name: 'HIGH_BIT', value: 0x80000000 },
    ],
  },
  /* 13 */ {
    kind: BtfKind.Enum,
    name: 's32_enum',
    size: 4,
    signed: true,
    values: [
      { name: 'MINUS_ONE', value: -1 },
      { name: 'MIN', value: -2147483648 },
      { name: 'MAX', value: 2147483647 },
    ],
  },
  /* 14 */ {
    kind: BtfKind.Enum64,
    name: 'u64_enum',
    size: 8,
    signed: false,
    values: [
      { name: 'HI_AND_LO', value: 0xffffffff00000001n },
      { name: 'TOP', value: 1n << 63n },
      { name: 'JUST_HI', value: 1n << 32n },
      { name: 'SMALL', value: 5n },
    ],
  },
  /* 15 */ {
    kind: BtfKind.Enum64,
    name: '',
    size: 8,
    signed: true,
    values: [
      { name: 'NEG_ONE', value: 0xffffffffffffffffn },
      { name: 'MIN', value: 1n << 63n },
      { name: 'POS', value: 0x100000002n },
    ],
  },
  /* 16 */ { kind: BtfKind.Fwd, name: 'fwd_s', union: false },
  /* 17 */ { kind: BtfKind.Fwd, name: 'fwd_u', union: true },
  /* 18 */ { kind: BtfKind.Typedef, name: 'u32', type: 4 },
  /* 19 */ { kind: BtfKind.Volatile, name: '', type: 18 },
  /* 20 */ { kind: BtfKind.Const, name: '', type: 19 },
  /* 21 */ { kind: BtfKind.Restrict, name: '', type: 6 },
  /* 22 */ {
    kind: BtfKind.FuncProto,
    name: '',
    returnType: 1,
    params: [
      { name: 'fmt', type: 21 },
      { name: '', type: 0 },
    ],
  },
  /* 23 */ { kind: BtfKind.FuncProto, name: '', returnType: 0, params: [] },
  /* 24 */ { kind: BtfKind.Func, name: 'f_static', type: 23, linkage: 0 },
  /* 25 */ { kind: BtfKind.Func, name: 'f_global', type: 22, linkage: 1 },
  /* 26 */ { kind: BtfKind.Func, name: 'f_extern', type: 22, linkage: 2 },
  /* 27 */ { kind: BtfKind.Func, name: 'f_odd', type: 23, linkage: 3 },
  /* 28 */ { kind: BtfKind.Var, name: 'v_static', type: 1, linkage: 0 },
  /* 29 */ { kind: BtfKind.Var, name: 'v_global', type: 9, linkage: 1 },
  /* 30 */ { kind: BtfKind.Var, name: 'v_extern', type: 4, linkage: 2 },
  /* 31 */ { kind: BtfKind.Var, name: 'v_odd', type: 4, linkage: 7 },
  /* 32 */ {
    kind: BtfKind.Datasec,
    name: '.data',
    size: 24,
    vars: [
      { type: 28, offset: 0, size: 4 },
      { type: 29, offset: 8, size: 16 },
      { type: 0, offset: 20, size: 0 },
      { type: 6, offset: 24, size: 8 },
    ],
  },
  /* 33 */ { kind: BtfKind.Float, name: 'double', size: 8 },
  /* 34 */ { kind: BtfKind.DeclTag, name: 'whole_tag', type: 9, componentIdx: -1, kindFlag: false },
  /* 35 */ { kind: BtfKind.DeclTag, name: 'member_tag', type: 9, componentIdx: 1, kindFlag: false },
  /* 36 */ { kind: BtfKind.DeclTag, name: 'param_tag', type: 25, componentIdx: 0, kindFlag: false },
  /* 37 */ { kind: BtfKind.TypeTag, name: 'user', type: 1, kindFlag: false },
];

const EVERY_KIND_DUMP = `[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
[2] INT 'char' size=1 bits_offset=0 nr_bits=8 encoding=CHAR
[3] INT '_Bool' size=1 bits_offset=0 nr_bits=8 encoding=BOOL
[4] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)
[5] INT 'odd' size=2 bits_offset=3 nr_bits=9 encoding=UNKN
[6] PTR '(anon)' type_id=0
[7] ARRAY '(anon)' type_id=2 index_type_id=4 nr_elems=16
[8] ARRAY '(anon)' type_id=1 index_type_id=4 nr_elems=0
[9] STRUCT 'bits' size=16 vlen=4
\t'whole' type_id=1 bits_offset=0
\t'low' type_id=4 bits_offset=32 bitfield_size=3
\t'(anon)' type_id=10 bits_offset=64
\t'tail' type_id=8 bits_offset=128
[10] UNION '(anon)' size=4 vlen=2
\t'u' type_id=4 bits_offset=0
\t'flag' type_id=4 bits_offset=0 bitfield_size=1
[11] STRUCT 'empty' size=0 vlen=0
[12] ENUM 'u32_enum' encoding=UNSIGNED size=4 vlen=3
\t'ZERO' val=0
\t'MAX' val=4294967295
\t'HIGH_BIT' val=2147483648
[13] ENUM 's32_enum' encoding=SIGNED size=4 vlen=3
\t'MINUS_ONE' val=-1
\t'MIN' val=-2147483648
\t'MAX' val=2147483647
[14] ENUM64 'u64_enum' encoding=UNSIGNED size=8 vlen=4
\t'HI_AND_LO' val=18446744069414584321ULL
\t'TOP' val=9223372036854775808ULL
\t'JUST_HI' val=4294967296ULL
\t'SMALL' val=5ULL
[15] ENUM64 '(anon)' encoding=SIGNED size=8 vlen=3
\t'NEG_ONE' val=-1LL
\t'MIN' val=-9223372036854775808LL
\t'POS' val=4294967298LL
[16] FWD 'fwd_s' fwd_kind=struct
[17] FWD 'fwd_u' fwd_kind=union
[18] TYPEDEF 'u32' type_id=4
[19] VOLATILE '(anon)' type_id=18
[20] CONST '(anon)' type_id=19
[21] RESTRICT '(anon)' type_id=6
[22] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2
\t'fmt' type_id=21
\t'(anon)' type_id=0
[23] FUNC_PROTO '(anon)' ret_type_id=0 vlen=0
[24] FUNC 'f_static' type_id=23 linkage=static
[25] FUNC 'f_global' type_id=22 linkage=global
[26] FUNC 'f_extern' type_id=22 linkage=extern
[27] FUNC 'f_odd' type_id=23 linkage=(unknown)
[28] VAR 'v_static' type_id=1, linkage=static
[29] VAR 'v_global' type_id=9, linkage=global
[30] VAR 'v_extern' type_id=4, linkage=extern
[31] VAR 'v_odd' type_id=4, linkage=(unknown)
[32] DATASEC '.data' size=24 vlen=4
\ttype_id=28 offset=0 size=4 (VAR 'v_static')
\ttype_id=29 offset=8 size=16 (VAR 'v_global')
\ttype_id=0 offset=20 size=0 (UNKNOWN '(anon)')
\ttype_id=6 offset=24 size=8 (PTR '(anon)')
[33] FLOAT 'double' size=8
[34] DECL_TAG 'whole_tag' type_id=9 component_idx=-1
[35] DECL_TAG 'member_tag' type_id=9 component_idx=1
[36] DECL_TAG 'param_tag' type_id=25 component_idx=0
[37] TYPE_TAG 'user' type_id=1
`;

t.test('every kind and value edge case, in bpftool 7.1.0 raw format', async (t) => {
  const bytes = encodeBtf(EVERY_KIND);
  t.equal(dumpRaw(Btf.parse(bytes)), EVERY_KIND_DUMP);

  t.test('bpftool prints the same text for the same bytes', { skip: noBpftool }, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'every-kind.btf');
    await writeFile(file, bytes);
    t.equal(bpftoolRawDump(file), EVERY_KIND_DUMP);
  });
});

t.test('big-endian BTF dumps like its little-endian twin', async (t) => {
  t.equal(dumpRaw(Btf.parse(encodeBtf(EVERY_KIND, { littleEndian: false }))), EVERY_KIND_DUMP);
});

t.test('a BTF with no types dumps as nothing', async (t) => {
  t.equal(dumpRaw(Btf.parse(encodeBtf([]))), '');
});

t.test('a type name at a non-zero offset of an empty string prints as empty, not (anon)', async (t) => {
  // Hand-built: strings "\0x\0"; type 1 is a TYPEDEF named at offset 2, the final NUL.
  const strings = [0, 0x78, 0];
  const types = [2, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0];
  const header = [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0, 3, 0, 0, 0];
  const bytes = new Uint8Array([...header, ...types, ...strings]);
  t.equal(dumpRaw(Btf.parse(bytes)), "[1] TYPEDEF '' type_id=1\n");

  t.test('as bpftool does', { skip: noBpftool }, async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'empty-name.btf'), bytes);
    t.equal(bpftoolRawDump(join(dir, 'empty-name.btf')), "[1] TYPEDEF '' type_id=1\n");
  });
});

t.test('the running kernel BTF, line for line against bpftool', { skip: noKernelBtf }, async (t) => {
  const dir = await tempDir(t);
  // A copy, so bpftool and we read the same bytes.
  const copy = join(dir, 'vmlinux.btf');
  await writeFile(copy, await readFile(KERNEL_BTF));
  const reference = bpftoolRawDump(copy);
  const ours = dumpRaw(Btf.parse(await readFile(copy)));
  t.equal(firstDifference(ours, reference), undefined, 'no line differs');
  t.equal(lineCount(ours), lineCount(reference), `${lineCount(reference)} lines`);
});

t.test('a compiled CO-RE object, line for line against bpftool', { skip: noSample }, async (t) => {
  const sample = await buildSample();
  t.teardown(sample.cleanup);
  const reference = bpftoolRawDump(sample.object);
  const ours = dumpRaw(Btf.parse(await readFile(sample.object)));
  t.equal(firstDifference(ours, reference), undefined, 'no line differs');
  t.equal(lineCount(ours), lineCount(reference), `${lineCount(reference)} lines`);
  for (const kind of ['VAR', 'DATASEC', 'FUNC', 'DECL_TAG', 'TYPE_TAG', 'FWD']) {
    t.match(ours, new RegExp(`^\\[\\d+\\] ${kind} `, 'm'), `the object has a ${kind}`);
  }
});
