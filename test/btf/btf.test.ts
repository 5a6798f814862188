import t from 'tap';
import { Btf, BtfKind, CodecError, encodeBtf, StringTableBuilder, type BtfType } from '../../src/btf/index.js';
import { everyKind } from '../helpers/sample-types.js';
import { loadFixtures } from '../helpers/fixtures.js';

const typesOf = (btf: Btf): BtfType[] => [...btf.types()].map(([, type]) => type);

function header(blob: Uint8Array): DataView {
  return new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
}

t.test('every kind round-trips through encode and decode, both byte orders', async (t) => {
  const types = everyKind();
  for (const littleEndian of [true, false]) {
    const blob = encodeBtf(types, { littleEndian });
    t.same([...blob.subarray(0, 2)], littleEndian ? [0x9f, 0xeb] : [0xeb, 0x9f], 'magic in the chosen byte order');
    const btf = Btf.parse(blob);
    t.equal(btf.littleEndian, littleEndian);
    t.equal(btf.typeCount, types.length + 1);
    t.same(typesOf(btf), types, `types equal (${littleEndian ? 'LE' : 'BE'})`);
    t.same(encodeBtf(typesOf(btf), { littleEndian }), blob, 're-encoding gives the same bytes');
  }
});

t.test('the writer emits the libbpf header layout', async (t) => {
  const blob = encodeBtf(everyKind());
  const h = header(blob);
  t.equal(h.getUint8(2), 1, 'version');
  t.equal(h.getUint8(3), 0, 'flags');
  t.equal(h.getUint32(4, true), 24, 'hdr_len');
  t.equal(h.getUint32(8, true), 0, 'type_off');
  t.equal(h.getUint32(16, true), h.getUint32(12, true), 'str_off = type_len');
  t.equal(24 + h.getUint32(12, true) + h.getUint32(20, true), blob.length, 'no padding');
  t.equal(blob[blob.length - 1], 0, 'string section ends with NUL');
});

t.test('an empty type list is 25 bytes: header plus the empty string', async (t) => {
  const blob = encodeBtf([]);
  t.equal(blob.length, 25);
  t.equal(Btf.parse(blob).typeCount, 1);
});

t.test('accessors agree with the inflated types', async (t) => {
  const btf = Btf.parse(encodeBtf(everyKind()));
  t.equal(btf.kind(0), BtfKind.Unknown, 'void is kind 0');
  t.equal(btf.name(0), '');
  t.equal(btf.kind(5), BtfKind.Struct);
  t.equal(btf.vlen(5), 3);
  t.equal(btf.kindFlag(5), true);
  t.equal(btf.sizeOrType(5), 16);
  t.same(btf.member(5, 1), { name: 'flag', type: 1, bitOffset: 32, bitfieldSize: 3 });
  t.equal(btf.nameOffsetOfMember(5, 2), 0, 'anonymous member');
  t.equal(btf.describe(5), 'struct point (id 5)');
  t.equal(btf.describe(6), 'union (anon) (id 6)');
  t.throws(() => btf.type(0), CodecError, 'void has no record');
  t.throws(() => btf.type(99), /out of range/);
  t.throws(() => btf.kind(-1), /out of range/);
  t.equal(btf.type(7).kind, BtfKind.Enum);
  t.equal(btf.type(7), btf.type(7), 'inflated types are cached');
});

t.test('the essential-name index finds flavors, in id order, and only for CO-RE kinds', async (t) => {
  const types: BtfType[] = [
    { kind: BtfKind.Struct, name: 'task', size: 4, kindFlag: false, members: [] },
    { kind: BtfKind.Struct, name: 'task___v2', size: 4, kindFlag: false, members: [] },
    { kind: BtfKind.Typedef, name: 'task', type: 1 },
    { kind: BtfKind.Struct, name: 'task____four', size: 4, kindFlag: false, members: [] },
    { kind: BtfKind.Struct, name: '___task', size: 4, kindFlag: false, members: [] },
    { kind: BtfKind.Struct, name: 'a___b___c', size: 4, kindFlag: false, members: [] },
    { kind: BtfKind.FuncProto, name: '', returnType: 0, params: [] },
    { kind: BtfKind.Func, name: 'task', type: 7, linkage: 0 },
  ];
  const btf = Btf.parse(encodeBtf(types));
  t.same(btf.idsByEssentialName('task'), [1, 2, 3], 'flavor and typedef share the essential name; FUNC is not indexed');
  t.same(btf.idsByEssentialName('task___old'), [1, 2, 3], 'the query is reduced to its essential name too');
  t.same(btf.idsByEssentialName('task____four'), [4], 'four underscores are not a flavor separator');
  t.same(btf.idsByEssentialName('___task'), [5], 'a leading separator is not a flavor');
  t.same(btf.idsByEssentialName('a___b___zz'), [6], 'the right-most separator wins: a___b___c is a___b');
  t.same(btf.idsByEssentialName('a'), [], 'a___b___c is not a flavor of a');
  t.same(btf.idsByEssentialName('nope'), []);
  t.same(btf.scanByEssentialName('task', BtfKind.Func), [8], 'other kinds are found by a scan');
  t.notOk(Btf.isIndexedKind(BtfKind.Func));
});

t.test('pointer size: from the long INT for raw BTF, 8 without one, from the ELF class otherwise', async (t) => {
  const long4: BtfType[] = [{ kind: BtfKind.Int, name: 'long int', size: 4, encoding: 1, bitOffset: 0, bits: 32 }];
  t.equal(Btf.parse(encodeBtf(long4)).pointerSize, 4);
  t.equal(Btf.parse(encodeBtf([{ kind: BtfKind.Int, name: 'char', size: 1, encoding: 2, bitOffset: 0, bits: 8 }])).pointerSize, 8);
  t.equal(Btf.fromRaw(encodeBtf(long4), { pointerSize: 8 }).pointerSize, 8, 'an explicit size wins');
});

t.test('a string table seeded from the input keeps offsets: byte-exact re-encoding', async (t) => {
  const types = everyKind();
  const blob = encodeBtf(types);
  const btf = Btf.parse(blob);
  const again = encodeBtf(typesOf(btf), { strings: StringTableBuilder.fromSection(btf.stringSection) });
  t.same(again, blob);
});

t.test('name offsets may point into the middle of another string', async (t) => {
  const blob = encodeBtf([{ kind: BtfKind.Int, name: 'unsigned int', size: 4, encoding: 0, bitOffset: 0, bits: 32 }]);
  const h = header(blob);
  // Point a second INT at "int" inside "unsigned int" by appending a record by hand.
  const typeLen = h.getUint32(12, true);
  const strLen = h.getUint32(20, true);
  const out = new Uint8Array(blob.length + 16);
  out.set(blob.subarray(0, 24 + typeLen));
  const v = new DataView(out.buffer);
  v.setUint32(24 + typeLen, 1 + 'unsigned '.length, true);
  v.setUint32(24 + typeLen + 4, BtfKind.Int << 24, true);
  v.setUint32(24 + typeLen + 8, 4, true);
  v.setUint32(24 + typeLen + 12, 32, true);
  out.set(blob.subarray(24 + typeLen), 24 + typeLen + 16);
  v.setUint32(12, typeLen + 16, true);
  v.setUint32(16, typeLen + 16, true);
  v.setUint32(20, strLen, true);
  const btf = Btf.parse(out);
  t.equal(btf.name(2), 'int');
  t.same(btf.idsByEssentialName('int'), [2]);
});

t.test('a 32-byte header (2026 UAPI layout fields) is read', async (t) => {
  const blob = encodeBtf(everyKind());
  const h = header(blob);
  const typeLen = h.getUint32(12, true);
  const out = new Uint8Array(blob.length + 8);
  out.set(blob.subarray(0, 24));
  out.set(blob.subarray(24), 32);
  new DataView(out.buffer).setUint32(4, 32, true);
  const btf = Btf.parse(out);
  t.same(typesOf(btf), everyKind());
  t.equal(typeLen > 0, true);
});

t.test('malformed BTF is a typed error that says where', async (t) => {
  const good = encodeBtf(everyKind());
  const mutate = (f: (v: DataView, b: Uint8Array) => void, length = good.length) => {
    const b = new Uint8Array(length);
    b.set(good.subarray(0, Math.min(length, good.length)));
    f(new DataView(b.buffer), b);
    return b;
  };
  const typeLen = header(good).getUint32(12, true);
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated header', good.subarray(0, 10), /header truncated/],
    ['bad magic', mutate((v) => v.setUint16(0, 0x1234, true)), /bad BTF magic/],
    ['hdr_len too small', mutate((v) => v.setUint32(4, 8, true)), /hdr_len 8/],
    ['hdr_len past the end', mutate((v) => v.setUint32(4, 1 << 30, true)), /past the end/],
    ['string section outside', mutate((v) => v.setUint32(20, 1 << 20, true)), /string section .* outside/],
    ['types overlap strings', mutate((v) => v.setUint32(12, typeLen + 4, true)), /overlaps/],
    [
      'unaligned type_off',
      mutate((v) => {
        v.setUint32(8, 2, true);
        v.setUint32(12, typeLen - 2, true);
      }),
      /not 4-byte aligned/,
    ],
    [
      'strings not NUL-terminated',
      mutate((_v, b) => {
        b[b.length - 1] = 0x41;
      }),
      /not NUL-terminated/,
    ],
    [
      'split BTF',
      mutate((_v, b) => {
        b[24 + typeLen] = 0x41;
      }),
      /split BTF/,
    ],
    ['unknown kind', mutate((v) => v.setUint32(24 + 4, 25 << 24, true)), /unknown kind 25/],
    ['reserved info bits', mutate((v) => v.setUint32(24 + 4, (1 << 24) | (1 << 20), true)), /reserved bits/],
    ['name offset out of range', mutate((v) => v.setUint32(24, 0xffffff, true)), /name offset 16777215/],
    [
      'truncated record',
      mutate((v) => {
        v.setUint32(12, typeLen - 4, true);
      }),
      /truncated by the end of the type section|trailing bytes/,
    ],
    [
      'huge vlen',
      mutate((v) => v.setUint32(24 + 16 + 4, (BtfKind.Struct << 24) | 0xffff, true)),
      /type \[2\] STRUCT at offset 40 is truncated/,
    ],
    ['dangling type id', mutate((v) => v.setUint32(24 + 16 + 8, 9999, true)), /./],
  ];
  for (const [what, bytes, message] of cases) {
    if (what === 'dangling type id') {
      // Decoding is lazy: the index pass accepts it, following the id is what fails.
      const btf = Btf.parse(bytes);
      t.throws(() => btf.type(2), /type id 9999 is out of range/, what);
      continue;
    }
    t.throws(() => Btf.fromRaw(bytes), message, what);
    try {
      Btf.fromRaw(bytes);
    } catch (err) {
      t.ok(err instanceof CodecError && err.code === 'BTF', `${what}: CodecError BTF`);
    }
  }
  t.throws(() => Btf.parse(new Uint8Array([1, 2, 3, 4])), /neither raw BTF/);
});

t.test('the machine kernel BTF: index, byte-exact round trip, big-endian round trip', async (t) => {
  // The machine's own kernel BTF, or the committed prebuilt copy where /sys/kernel/btf is missing.
  const raw = (await loadFixtures()).vmlinux;
  const btf = Btf.parse(raw);
  t.ok(btf.typeCount > 10000, `${btf.typeCount} types`);
  t.ok(btf.memoryBytes < 2 * raw.length, `decoded size ${btf.memoryBytes} is under 2x raw ${raw.length}`);
  const task = btf.idsByEssentialName('task_struct').filter((id) => btf.kind(id) === BtfKind.Struct);
  t.equal(task.length, 1, 'one struct task_struct');
  t.equal(btf.pointerSize, 8);
  const types = typesOf(btf);
  const exact = encodeBtf(types, { strings: StringTableBuilder.fromSection(btf.stringSection), littleEndian: btf.littleEndian });
  t.ok(Buffer.from(exact).equals(Buffer.from(raw)), 'decode + encode reproduces the kernel BTF byte for byte');
  const be = encodeBtf(types, { littleEndian: false });
  const fromBe = Btf.parse(be);
  t.equal(fromBe.littleEndian, false);
  t.equal(fromBe.typeCount, btf.typeCount);
  let mismatches = 0;
  const bigintAsText = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);
  for (const [id, type] of fromBe.types())
    if (JSON.stringify(type, bigintAsText) !== JSON.stringify(types[id - 1], bigintAsText)) mismatches++;
  t.equal(mismatches, 0, 'the big-endian copy decodes to the same types');
  t.ok(
    Buffer.from(encodeBtf([...fromBe.types()].map(([, x]) => x))).equals(Buffer.from(encodeBtf(types))),
    'BE target re-encodes to the same LE output',
  );
});
