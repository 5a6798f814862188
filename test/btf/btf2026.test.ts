/**
 * The 2026 BTF format (docs/CODEC.md §4): the 32-byte header with a layout section, 24-bit
 * vlen and 7-bit kinds, and types of kinds the codec does not know, skipped by their layout
 * entry. Debian's bpftool 7.1 refuses all of these, so the oracle is indirect: each variant
 * is the machine's kernel BTF with the new things appended after its ids (written by hand,
 * test/helpers/btf-2026.ts), so every fixture's trim of it must equal bpftool's trim of the
 * original kernel, in both byte orders.
 */
import t, { type Test } from 'tap';
import {
  Btf,
  BtfKind,
  CodecError,
  CoreReloKind as K,
  dumpRaw,
  encodeBtf,
  parseBpfObject,
  STANDARD_LAYOUT,
  StringTableBuilder,
  trimBtf,
  verifyTrim,
  type BpfObject,
  type BtfType,
} from '../../src/btf/index.js';
import { buildBpfObject, buildBtfExt, buildObjectBtf } from '../helpers/btf-ext-builder.js';
import { buildElf } from '../helpers/elf-builder.js';
import { toBtf2026, type Btf2026Options } from '../helpers/btf-2026.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { everyKind } from '../helpers/sample-types.js';
import { TypeList } from '../helpers/type-builder.js';

const fixtures = await loadFixtures();
const objects = new Map<string, BpfObject>();
for (const [name, o] of fixtures.objects) objects.set(name, parseBpfObject(o.bytes, `${name}.bpf.o`));
const kernel = Btf.parse(fixtures.vmlinux);
const typesOf = (btf: Btf): BtfType[] => [...btf.types()].map(([, type]) => type);
/** The kernel in big-endian, written by the encoder (tested byte for byte in btf.test.ts). */
const kernelBe = encodeBtf(typesOf(kernel), { littleEndian: false, strings: StringTableBuilder.fromSection(kernel.stringSection) });

const UNKNOWN = { kind: 20, infoSize: 4, elemSize: 8, vlen: 3 };
const variants: [string, Btf2026Options][] = [
  ['layout only', { layout: true }],
  ['a DATASEC of 70,000 VARs', { datasecVars: 70_000 }],
  ['an unknown kind described by the layout', { layout: true, unknownKind: UNKNOWN }],
  ['all of it', { layout: true, datasecVars: 70_000, unknownKind: UNKNOWN }],
];

function trimsLikeBpftool(t: Test, label: string, target: Btf) {
  let compared = 0;
  for (const [name, oracle] of fixtures.oracle.single) {
    const ours = trimBtf(target, [objects.get(name)!]);
    if (!Buffer.from(ours).equals(Buffer.from(oracle))) t.fail(`${label}: ${name} differs from bpftool's trim of the original kernel`);
    compared++;
  }
  const all = [...fixtures.oracle.single.keys()]
    .filter((n) => n !== 'type_matches' && n !== 'type_matches_cases')
    .map((n) => objects.get(n)!);
  const ours = trimBtf(target, all);
  t.ok(
    Buffer.from(ours).equals(Buffer.from(fixtures.oracle.all)),
    `${label}: ${compared} fixtures alone and all together trim as bpftool trims the original kernel`,
  );
  t.equal(verifyTrim(target, Btf.parse(ours), all).mismatchCount, 0, `${label}: the trim verifies against the 2026 kernel`);
}

t.test('2026 variants of the kernel trim exactly as bpftool trims the original', async (t) => {
  for (const [label, options] of variants) {
    for (const [order, classic] of [
      ['LE', fixtures.vmlinux],
      ['BE', kernelBe],
    ] as const) {
      // Big-endian: the full set once, enough to cover the byte-order paths.
      if (order === 'BE' && label !== 'all of it') continue;
      const built = toBtf2026(classic, options);
      const btf = Btf.parse(built.bytes);
      const name = `${label} (${order})`;
      const appended = (options.datasecVars ? options.datasecVars + 1 : 0) + (options.unknownKind ? 1 : 0);
      t.equal(btf.typeCount, kernel.typeCount + appended, `${name}: the appended types have ids`);
      t.equal(btf.headerLength, options.layout ? 32 : 24, `${name}: header length`);
      if (built.datasecId) t.equal(btf.vlen(built.datasecId), 70_000, `${name}: the DATASEC's 24-bit vlen`);
      if (built.unknownId) t.equal(btf.kind(built.unknownId), 20, `${name}: the unknown kind keeps its number`);
      trimsLikeBpftool(t, name, btf);
    }
  }
});

t.test('decode(encode(x)) reproduces a 2026 BTF byte for byte, layout included', async (t) => {
  for (const classic of [fixtures.vmlinux, kernelBe]) {
    const { bytes, unknownId } = toBtf2026(classic, { layout: true, datasecVars: 70_000, unknownKind: UNKNOWN });
    const btf = Btf.parse(bytes);
    const opaque = btf.type(unknownId!);
    t.match(
      opaque,
      { kind: BtfKind.Opaque, rawKind: 20, name: 'mystery', vlen: 3, sizeOrType: 0x1234 },
      'the unknown kind is an opaque type',
    );
    t.equal(opaque.kind === BtfKind.Opaque && opaque.data.length, 4 + 3 * 8, 'its data is info_sz + vlen x elem_sz');
    const again = encodeBtf(typesOf(btf), {
      strings: StringTableBuilder.fromSection(btf.stringSection),
      layout: btf.layout,
      littleEndian: btf.littleEndian,
    });
    t.ok(Buffer.from(again).equals(Buffer.from(bytes)), `${btf.littleEndian ? 'LE' : 'BE'}: byte-identical (${bytes.length} bytes)`);
  }
  // A 32-byte header without a layout (what a 2026 libbpf writes when asked for no layout).
  const plain = encodeBtf(everyKind(), { headerLength: 32 });
  const decoded = Btf.parse(plain);
  t.equal(decoded.headerLength, 32);
  t.equal(decoded.layout, undefined);
  t.same(encodeBtf(typesOf(decoded), { headerLength: 32 }), plain);
  t.throws(() => encodeBtf([], { layout: STANDARD_LAYOUT, headerLength: 24 }), /32-byte header/);
});

t.test('the raw dump prints vlen above 65,535 whole', async (t) => {
  const { bytes, datasecId } = toBtf2026(encodeBtf(everyKind()), { datasecVars: 70_000 });
  const lines = dumpRaw(Btf.parse(bytes)).split('\n');
  const at = lines.findIndex((l) => l.startsWith(`[${datasecId}] `));
  t.equal(lines[at], `[${datasecId}] DATASEC '.data.huge' size=280000 vlen=70000`);
  t.equal(lines[at + 70_000], `\ttype_id=${datasecId! - 1} offset=279996 size=4 (VAR 'huge_var')`, 'the last of its 70,000 variables');
});

t.test('the encoder: 24-bit vlen, a classic header by default, opaque types keep their byte order', async (t) => {
  const list = new TypeList();
  const int = list.int('int');
  const many = list.add({
    kind: BtfKind.Enum,
    name: 'wide',
    size: 4,
    signed: false,
    values: Array.from({ length: 70_000 }, (_, i) => ({ name: `E${i}`, value: i })),
  });
  const blob = encodeBtf(list.types);
  t.equal(new DataView(blob.buffer).getUint32(4, true), 24, 'the default header is 24 bytes');
  const btf = Btf.parse(blob);
  t.equal(btf.vlen(many), 70_000);
  t.equal(
    btf.type(many).kind === BtfKind.Enum && btf.type(many).kind === BtfKind.Enum
      ? (btf.type(many) as { values: unknown[] }).values.length
      : 0,
    70_000,
  );
  t.equal(btf.kind(int), BtfKind.Int);
  const tooMany: BtfType = {
    kind: BtfKind.Struct,
    name: 's',
    size: 4,
    kindFlag: false,
    members: Array.from({ length: 0x1000000 }, () => ({ name: '', type: 1, bitOffset: 0, bitfieldSize: 0 })),
  };
  t.throws(() => encodeBtf([tooMany]), /more than 16777215/);
  const opaque: BtfType = {
    kind: BtfKind.Opaque,
    rawKind: 21,
    name: 'x',
    kindFlag: true,
    vlen: 1,
    sizeOrType: 0,
    data: new Uint8Array(4),
    littleEndian: true,
  };
  t.throws(() => encodeBtf([opaque], { littleEndian: false, layout: STANDARD_LAYOUT }), /cannot change byte order/);
  const layout = [...STANDARD_LAYOUT, { infoSize: 0, elemSize: 0, flags: 0 }, { infoSize: 0, elemSize: 4, flags: 7 }];
  const round = Btf.parse(encodeBtf([opaque], { layout }));
  t.match(round.type(1), { kind: BtfKind.Opaque, rawKind: 21, kindFlag: true, vlen: 1 });
  t.equal(round.layout?.[21]?.flags, 7, 'layout flags are kept');
});

/** A small 2026 BTF to break: int, then an opaque kind-20 type, with a layout section. */
function small2026(littleEndian = true) {
  const classic = encodeBtf(everyKind(), { littleEndian });
  return toBtf2026(classic, { layout: true, unknownKind: { kind: 20, infoSize: 0, elemSize: 4, vlen: 2 } }).bytes;
}

t.test('header and layout section checks, both byte orders', async (t) => {
  for (const le of [true, false]) {
    const good = small2026(le);
    const v0 = new DataView(good.buffer);
    const typeLen = v0.getUint32(12, le);
    const layoutOff = v0.getUint32(24, le);
    const layoutLen = v0.getUint32(28, le);
    t.ok(Btf.parse(good).typeCount > 1, 'the good one decodes');
    const mutate = (f: (v: DataView, b: Uint8Array) => void, extend = 0) => {
      const b = new Uint8Array(good.length + extend);
      b.set(good);
      f(new DataView(b.buffer), b);
      return b;
    };
    /** The same BTF with a longer header whose extra bytes are `fill`. */
    const longHeader = (fill: number) => {
      const b = new Uint8Array(good.length + 8);
      b.set(good.subarray(0, 32));
      b.fill(fill, 32, 40);
      b.set(good.subarray(32), 40);
      new DataView(b.buffer).setUint32(4, 40, le);
      return b;
    };
    t.equal(Btf.parse(longHeader(0)).headerLength, 40, 'a longer header with zero extra bytes is read');
    const cases: [string, Uint8Array, RegExp][] = [
      ['non-zero bytes past the known header', longHeader(1), /header byte 32 is not zero/],
      ['misaligned layout_off', mutate((v) => v.setUint32(24, layoutOff + 2, le)), /layout_off is not 4-byte aligned/],
      ['layout_len not a multiple of 4', mutate((v) => v.setUint32(28, layoutLen - 2, le)), /not a multiple of 4/],
      ['layout past the end of the data', mutate((v) => v.setUint32(24, 1 << 20, le)), /outside the data/],
      ['layout overlapping the types', mutate((v) => v.setUint32(24, typeLen - 4, le)), /overlaps the type section/],
      ['layout overlapping the strings', mutate((v) => v.setUint32(28, layoutLen + 8, le)), /overlaps the string section/],
      [
        'more layout entries than kinds',
        mutate((v) => {
          v.setUint32(28, 129 * 4, le);
          v.setUint32(16, layoutOff + 129 * 4, le);
        }, 129 * 4),
        /more than the 128/,
      ],
      [
        'an unknown kind past the layout entries',
        mutate((v) => v.setUint32(28, 20 * 4, le)),
        /unknown kind 20 \(the layout section describes kinds 0..19\)/,
      ],
      // Kind 20's entry: elem_sz is its second byte.
      [
        'a huge element size',
        mutate((_v, b) => {
          b[32 + layoutOff + 20 * 4 + 1] = 255;
        }),
        /truncated by the end of the type section/,
      ],
      ['no layout at all', mutate((v) => v.setUint32(28, 0, le)), /unknown kind 20 \(and no layout section describes it\)/],
    ];
    for (const [what, bytes, message] of cases) {
      let thrown: unknown;
      try {
        Btf.parse(bytes);
      } catch (err) {
        thrown = err;
      }
      t.ok(thrown instanceof CodecError && thrown.code === 'BTF', `${what} (${le ? 'LE' : 'BE'}): CodecError BTF`);
      t.match((thrown as Error | undefined)?.message, message, `${what} (${le ? 'LE' : 'BE'})`);
    }
  }
});

t.test('vlen bits 16-23 stay reserved on kinds without a vlen', async (t) => {
  // INT at 24 (16 bytes), FUNC_PROTO without parameters at 40 (12 bytes), FUNC at 52.
  const blob = encodeBtf([
    { kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
    { kind: BtfKind.FuncProto, name: '', returnType: 1, params: [] },
    { kind: BtfKind.Func, name: 'f', type: 2, linkage: 1 },
  ]);
  const withInfo = (at: number, info: number) => {
    const b = blob.slice();
    new DataView(b.buffer).setUint32(at + 4, info, true);
    return b;
  };
  t.equal(Btf.parse(withInfo(52, (BtfKind.Func << 24) | 2)).vlen(3), 2, 'a FUNC keeps its linkage in vlen');
  t.throws(() => Btf.parse(withInfo(24, (BtfKind.Int << 24) | 0x10000)), /reserved bits \(vlen 65536 on INT/);
  t.throws(() => Btf.parse(withInfo(52, (BtfKind.Func << 24) | 0x10001)), /reserved bits \(vlen 65537 on FUNC/);
});

t.test('a type of an unknown kind is opaque: an error only when CO-RE or the trimmer must look inside it', async (t) => {
  // Target: int, a pointer to the unknown kind (id 6), a struct holding it, and an array
  // type whose index type is the unknown kind (CO-RE compares element types, not index types).
  const target = new TypeList();
  const tInt = target.int('int');
  const unknownId = 6;
  const tPtr = target.ptr(unknownId);
  target.struct('holder', 16, [
    ['a', tInt, 0],
    ['p', tPtr, 64],
  ]);
  target.typedef('mystery_arr', target.array(tInt, unknownId, 4));
  const built = toBtf2026(encodeBtf(target.types), {
    layout: true,
    unknownKind: { kind: 20, infoSize: 4, elemSize: 0, vlen: 0, name: 'mystery' },
  });
  t.equal(built.unknownId, unknownId);
  const targetBtf = Btf.parse(built.bytes);
  t.equal(targetBtf.describe(unknownId), 'kind 20 mystery (id 6)');
  t.ok(dumpRaw(targetBtf).split('\n').includes("[6] UNKNOWN 'mystery'"), 'dumped as bpftool dumps kinds it does not know');

  const local = new TypeList();
  const lInt = local.int('int');
  const lHolder = local.struct('holder', 16, [
    ['a', lInt, 0],
    ['p', local.ptr(lInt), 64],
  ]);
  const lArr = local.typedef('mystery_arr', local.array(lInt, lInt, 4));
  const relos = (list: { typeId: number; access: string; kind: number }[]) => list.map((r, i) => ({ insnOff: i * 8, ...r }));
  const obj = (list: { typeId: number; access: string; kind: number }[]) =>
    parseBpfObject(buildBpfObject(local.types, { coreRelos: [{ section: 'kprobe/x', records: relos(list) }] }), 'opaque.bpf.o');
  // A field next to the pointer, and the pointer itself: the pointee is not looked at (it becomes void).
  const out = Btf.parse(
    trimBtf(targetBtf, [
      obj([
        { typeId: lHolder, access: '0:0', kind: K.FieldByteOffset },
        { typeId: lHolder, access: '0:1', kind: K.FieldByteOffset },
      ]),
    ]),
  );
  t.equal(out.typeCount, 4, 'int, the pointer and the struct are kept; the opaque type is not');
  // Keeping the array type means keeping its index type: that is looking inside the unknown kind.
  t.throws(
    () => trimBtf(targetBtf, [obj([{ typeId: lArr, access: '0', kind: K.TypeExists }])]),
    /opaque\.bpf\.o: .* unsupported kind: kind 20 \(kind 20 mystery \(id 6\)\)/,
  );

  // An object whose own BTF has the unknown kind (a newer compiler): fine until a relocation sizes it.
  const { btf: localBtf, strings } = buildObjectBtf(local.types, ['kprobe/x', '0']);
  const local2026 = toBtf2026(localBtf, { layout: true, unknownKind: { kind: 20, infoSize: 0, elemSize: 0, vlen: 0, name: 'mystery' } });
  const ext = buildBtfExt(
    {
      coreRelos: [
        {
          section: 'kprobe/x',
          records: relos([
            { typeId: lHolder, access: '0', kind: K.FieldByteOffset },
            { typeId: local2026.unknownId!, access: '0', kind: K.FieldByteOffset },
          ]),
        },
      ],
    },
    strings,
  );
  const object = parseBpfObject(
    buildElf({
      sections: [
        { name: '.BTF', data: local2026.bytes },
        { name: '.BTF.ext', data: ext },
      ],
    }),
    'newer.bpf.o',
  );
  t.equal(object.btf.kind(local2026.unknownId!), 20);
  t.throws(
    () => trimBtf(targetBtf, [object]),
    /newer\.bpf\.o: section kprobe\/x, insn #1 .*relo #1 byte_off of kind 20 mystery \(id \d+\).*cannot size kind 20 mystery/,
  );
});
