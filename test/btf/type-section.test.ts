/**
 * The decoder's type-section pass (src/btf/type-section.ts) hashes most names inline and
 * leaves the rest to StringSection.essentialHash: whichever path a name takes, its hash must
 * be the careful one, or candidate search would miss types.
 */
import t from 'tap';
import { BtfKind, encodeBtf, type BtfType } from '../../src/btf/index.js';
import { resolveLimits } from '../../src/btf/limits.js';
import { StringSection } from '../../src/btf/string-section.js';
import { indexTypeSection, isIndexedKind } from '../../src/btf/type-section.js';
import { loadFixtures } from '../helpers/fixtures.js';

/** The pass over a raw BTF blob, and the careful hash of each indexed name for comparison. */
function passAndReference(blob: Uint8Array) {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const le = view.getUint16(0, true) === 0xeb9f;
  const hdrLen = view.getUint32(4, le);
  const typesStart = hdrLen + view.getUint32(8, le);
  const typesEnd = typesStart + view.getUint32(12, le);
  const strStart = hdrLen + view.getUint32(16, le);
  const strings = new StringSection(blob, strStart, view.getUint32(20, le));
  const pass = indexTypeSection({
    view,
    bytes: blob,
    littleEndian: le,
    typesStart,
    typesEnd,
    strStart,
    strings,
    layout: undefined,
    limits: resolveLimits(),
  });
  const reference = new StringSection(blob, strStart, strings.length);
  const expected: [number, number][] = [];
  const got: [number, number][] = [];
  const wronglyIndexed: number[] = [];
  for (let id = 1; id < pass.count; id++) {
    const off = pass.offsets[id]!;
    const nameOff = view.getUint32(off, le);
    const kind = (view.getUint32(off + 4, le) >>> 24) & 0x7f;
    const shouldIndex = nameOff !== 0 && isIndexedKind(kind);
    if (pass.indexed[id] !== (shouldIndex ? 1 : 0)) wronglyIndexed.push(id);
    if (!shouldIndex) continue;
    expected.push([id, reference.essentialHash(nameOff)]);
    got.push([id, pass.hashes[id]!]);
  }
  return { pass, expected, got, wronglyIndexed };
}

const struct = (name: string): BtfType => ({ kind: BtfKind.Struct, name, size: 4, kindFlag: false, members: [] });

t.test('every name hashes as StringSection hashes it, inline or not', async (t) => {
  const names = [
    'task',
    'task___v2',
    'a___b___c',
    '___lead',
    'tail___',
    'x__y',
    'x____y',
    '_',
    '__',
    '___',
    'a_b_c__d',
    'n'.repeat(63),
    'n'.repeat(64),
    'n'.repeat(65),
    `${'m'.repeat(70)}___flavor`,
    `${'q'.repeat(61)}___`,
    'z'.repeat(300),
  ];
  const types: BtfType[] = [
    ...names.map(struct),
    { kind: BtfKind.Typedef, name: 'u32___x', type: 1 },
    { kind: BtfKind.Int, name: 'unsigned int', size: 4, encoding: 0, bitOffset: 0, bits: 32 },
    { kind: BtfKind.FuncProto, name: '', returnType: 0, params: [] },
    { kind: BtfKind.Func, name: 'not_indexed___f', type: names.length + 3, linkage: 0 },
  ];
  for (const littleEndian of [true, false]) {
    const { pass, expected, got, wronglyIndexed } = passAndReference(encodeBtf(types, { littleEndian }));
    t.same(wronglyIndexed, [], 'indexed exactly the named types of CO-RE kinds');
    t.equal(pass.count, types.length + 1);
    t.equal(pass.indexedCount, names.length + 2, 'FUNC and FUNC_PROTO left out');
    t.same(got, expected, `hashes equal (${littleEndian ? 'LE' : 'BE'})`);
  }
});

t.test('the kernel: every indexed name, the same hash as the careful path', async (t) => {
  const fx = await loadFixtures();
  const { pass, expected, got, wronglyIndexed } = passAndReference(fx.vmlinux);
  t.same(wronglyIndexed, []);
  t.ok(pass.indexedCount > 1000, `${pass.indexedCount} names indexed`);
  t.same(got, expected);
});

t.test('kinds past 31 (2026 format) are never indexed', async (t) => {
  t.ok(isIndexedKind(BtfKind.Struct));
  t.ok(isIndexedKind(BtfKind.Enum64));
  t.notOk(isIndexedKind(BtfKind.Func));
  for (const kind of [32, 33, 36, 37, 40, 51, 127, -1, 1.5]) t.notOk(isIndexedKind(kind), `kind ${kind}`);
});
