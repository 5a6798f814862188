import t from 'tap';
import { Btf, BtfKind, CodecError, parseBpfObject, parseBtfExt, type BtfType } from '../../src/btf/index.js';
import { buildBpfObject, buildBtfExt, buildObjectBtf, type ExtSpec } from '../helpers/btf-ext-builder.js';
import { buildElf } from '../helpers/elf-builder.js';

const types: BtfType[] = [
  { kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
  {
    kind: BtfKind.Struct,
    name: 'task_struct',
    size: 8,
    kindFlag: false,
    members: [{ name: 'pid', type: 1, bitOffset: 0, bitfieldSize: 0 }],
  },
  { kind: BtfKind.FuncProto, name: '', returnType: 1, params: [] },
  { kind: BtfKind.Func, name: 'prog', type: 3, linkage: 1 },
];

const spec: ExtSpec = {
  funcInfo: [{ section: 'kprobe/x', records: [{ insnOff: 0, typeId: 4 }] }],
  lineInfo: [{ section: 'kprobe/x', records: [{ insnOff: 8, fileNameOff: 1, lineOff: 1, line: 42, column: 7 }] }],
  coreRelos: [
    {
      section: 'kprobe/x',
      records: [
        { insnOff: 16, typeId: 2, access: '0:0', kind: 0 },
        { insnOff: 24, typeId: 2, access: '0', kind: 8 },
      ],
    },
    { section: 'tp/y', records: [{ insnOff: 0, typeId: 2, access: '0:0', kind: 2 }] },
  ],
};

function parse(ext: ExtSpec) {
  const extras = ['kprobe/x', 'tp/y', '0:0', '0'];
  const { btf, strings } = buildObjectBtf(types, extras, ext.littleEndian ?? true);
  const bytes = buildBtfExt(ext, strings);
  return { bytes, btf: Btf.parse(btf), result: () => parseBtfExt(bytes, Btf.parse(btf)) };
}

t.test('func_info, line_info and CO-RE records per section, both byte orders', async (t) => {
  for (const littleEndian of [true, false]) {
    const ext = parse({ ...spec, littleEndian }).result();
    t.equal(ext.littleEndian, littleEndian);
    t.same(ext.funcInfo, [{ section: 'kprobe/x', records: [{ insnOff: 0, typeId: 4 }] }]);
    t.same(ext.lineInfo[0]!.records[0], { insnOff: 8, fileNameOff: 1, lineOff: 1, line: 42, column: 7 });
    t.same(
      ext.coreRelos.map((s) => [s.section, s.records.map((r) => [r.insnOff, r.typeId, r.access, r.kind])]),
      [
        [
          'kprobe/x',
          [
            [16, 2, '0:0', 0],
            [24, 2, '0', 8],
          ],
        ],
        ['tp/y', [[0, 2, '0:0', 2]]],
      ],
    );
    t.ok(ext.hasCoreRelos);
  }
});

t.test('records are read with stride rec_size; extra bytes are ignored', async (t) => {
  const ext = parse({ ...spec, coreRecSize: 20, funcRecSize: 12 }).result();
  t.same(
    ext.coreRelos[0]!.records.map((r) => r.insnOff),
    [16, 24],
  );
  t.same(
    ext.coreRelos[1]!.records.map((r) => r.access),
    ['0:0'],
  );
  t.same(ext.funcInfo[0]!.records, [{ insnOff: 0, typeId: 4 }]);
});

t.test('a 24-byte header has no CO-RE part', async (t) => {
  const ext = parse({ ...spec, hdrLen: 24 }).result();
  t.same(ext.coreRelos, []);
  t.notOk(ext.hasCoreRelos);
  t.equal(ext.funcInfo.length, 1);
});

t.test('malformed .BTF.ext is a typed error naming the offset', async (t) => {
  const { bytes, btf } = parse(spec);
  const mutate = (f: (v: DataView, b: Uint8Array) => void, b = bytes.slice()) => {
    f(new DataView(b.buffer), b);
    return b;
  };
  // The core_relo sub-section starts at hdr_len + core_relo_off.
  const v0 = new DataView(bytes.buffer);
  const coreStart = 32 + v0.getUint32(24, true);
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated', bytes.subarray(0, 6), /header truncated/],
    ['bad magic', mutate((v) => v.setUint16(0, 0x1111, true)), /bad magic/],
    [
      'bad version',
      mutate((_v, b) => {
        b[2] = 2;
      }),
      /version 2/,
    ],
    [
      'bad flags',
      mutate((_v, b) => {
        b[3] = 1;
      }),
      /flags/,
    ],
    ['hdr_len past end', mutate((v) => v.setUint32(4, 4096, true)), /past the end/],
    ['no data', bytes.subarray(0, 32), /no data/],
    ['hdr_len too small', mutate((v) => v.setUint32(4, 16, true)), /smaller than 24/],
    ['misaligned sub-section', mutate((v) => v.setUint32(24, v.getUint32(24, true) + 2, true)), /not 4-byte aligned/],
    ['sub-section outside', mutate((v) => v.setUint32(28, 1 << 20, true)), /outside the section/],
    ['record size too small', mutate((v) => v.setUint32(coreStart, 8, true)), /record size 8/],
    ['record size not a multiple of 4', mutate((v) => v.setUint32(coreStart, 18, true)), /record size 18/],
    ['zero records', mutate((v) => v.setUint32(coreStart + 8, 0, true)), /zero records/],
    ['too many records', mutate((v) => v.setUint32(coreStart + 8, 1000, true)), /declares 1000 records/],
    ['bad section name', mutate((v) => v.setUint32(coreStart + 4, 1 << 20, true)), /section name offset/],
    ['bad access string', mutate((v) => v.setUint32(coreStart + 12 + 8, 1 << 20, true)), /access string offset/],
    [
      'only a record size',
      mutate((v) => {
        v.setUint32(28, 4, true);
      }),
      /no records/,
    ],
    [
      'record size missing',
      mutate((v) => {
        v.setUint32(28, 0, true);
        v.setUint32(20, 0, true);
        v.setUint32(12, 2, true);
        v.setUint32(8, 0, true);
      }),
      /record size not found|outside/,
    ],
    [
      'truncated section header',
      mutate(
        (v) => {
          v.setUint32(28, v.getUint32(28, true) + 4, true);
        },
        new Uint8Array([...bytes, 0, 0, 0, 0]),
      ),
      /truncated section header/,
    ],
  ];
  for (const [what, input, message] of cases) {
    let thrown: unknown;
    try {
      parseBtfExt(input, btf);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof CodecError && thrown.code === 'BTF_EXT', `${what}: CodecError BTF_EXT`);
    t.match((thrown as Error | undefined)?.message, message, what);
  }
});

t.test('objects: .BTF and .BTF.ext are found through the section names', async (t) => {
  const obj = parseBpfObject(buildBpfObject(types, spec), 'x.bpf.o');
  t.equal(obj.name, 'x.bpf.o');
  t.equal(obj.btf.typeCount, types.length + 1);
  t.equal(obj.ext.coreRelos.length, 2);
  const be = parseBpfObject(buildBpfObject(types, spec, { littleEndian: false }), 'be.bpf.o');
  t.equal(be.btf.littleEndian, false);
  t.equal(be.ext.coreRelos[0]!.records[0]!.access, '0:0');
});

t.test('objects: missing sections and non-objects are refused with the file name', async (t) => {
  const { btf } = buildObjectBtf(types, []);
  const noExt = buildElf({ sections: [{ name: '.BTF', data: btf }] });
  const noBtf = buildElf({ sections: [{ name: '.text', data: new Uint8Array(8) }] });
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['no .BTF.ext', noExt, 'MISSING_SECTION', /a\.o: section \.BTF\.ext not found/],
    ['no .BTF', noBtf, 'MISSING_SECTION', /a\.o: section \.BTF not found/],
    ['raw BTF', btf, 'MISSING_SECTION', /a\.o: is raw BTF/],
    ['not ELF', new Uint8Array([1, 2, 3, 4, 5]), 'ELF', /a\.o: not an ELF/],
  ];
  for (const [what, input, code, message] of cases) {
    let thrown: unknown;
    try {
      parseBpfObject(input, 'a.o');
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof CodecError && thrown.code === code, `${what}: ${code}`);
    t.match((thrown as Error | undefined)?.message, message, what);
  }
});
