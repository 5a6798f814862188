import t from 'tap';
import { CodecError, findSection, parseElf, sectionData } from '../../src/btf/index.js';
import { buildElf } from '../helpers/elf-builder.js';

const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

t.test('both classes and byte orders: header, section table, names, data', async (t) => {
  for (const bits of [32, 64] as const) {
    for (const littleEndian of [true, false]) {
      const elf = buildElf({
        bits,
        littleEndian,
        machine: 247,
        sections: [
          { name: '.text', data: bytes('code') },
          { name: '.BTF', data: bytes('btf!') },
        ],
      });
      const parsed = parseElf(elf);
      const label = `ELF${bits} ${littleEndian ? 'LE' : 'BE'}`;
      t.equal(parsed.bits, bits, label);
      t.equal(parsed.littleEndian, littleEndian, label);
      t.equal(parsed.machine, 247, label);
      t.same(
        parsed.sections.map((s) => s.name),
        ['', '.text', '.BTF', '.shstrtab'],
        label,
      );
      const btf = findSection(parsed, '.BTF');
      t.ok(btf, label);
      t.same(sectionData(elf, btf!), bytes('btf!'), label);
    }
  }
});

t.test('extended numbering: e_shnum 0 and e_shstrndx SHN_XINDEX read from section 0', async (t) => {
  const elf = buildElf({ extendedNumbering: true, sections: [{ name: '.BTF', data: bytes('x') }] });
  const parsed = parseElf(elf);
  t.same(
    parsed.sections.map((s) => s.name),
    ['', '.BTF', '.shstrtab'],
  );
});

t.test('a repeated section name: the last one wins, as in libbpf', async (t) => {
  const elf = buildElf({
    sections: [
      { name: '.BTF', data: bytes('first') },
      { name: '.BTF', data: bytes('second') },
    ],
  });
  t.same(sectionData(elf, findSection(parseElf(elf), '.BTF')!), bytes('second'));
  t.equal(findSection(parseElf(elf), '.BTF.ext'), undefined);
});

t.test('NOBITS sections have no file bytes; compressed sections are refused', async (t) => {
  const elf = buildElf({
    sections: [
      { name: '.bss', data: new Uint8Array(0), type: 8 },
      { name: '.BTF', data: bytes('z'), flags: 0x800 },
    ],
  });
  const parsed = parseElf(elf);
  t.same(sectionData(elf, findSection(parsed, '.bss')!), new Uint8Array(0));
  t.throws(() => sectionData(elf, findSection(parsed, '.BTF')!), /compressed/);
});

t.test('no section table is an ELF with no sections', async (t) => {
  const elf = buildElf({ sections: [] });
  const v = new DataView(elf.buffer);
  v.setBigUint64(40, 0n, true);
  t.same(parseElf(elf).sections, []);
});

t.test('malformed ELF is a typed error naming the offset', async (t) => {
  const good = buildElf({ sections: [{ name: '.BTF', data: bytes('abcd') }] });
  const v = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const copy = (f: (b: Uint8Array) => void) => {
    const b = good.slice();
    f(b);
    return b;
  };
  const shoff = Number(v(good).getBigUint64(40, true));
  const cases: [string, Uint8Array, RegExp][] = [
    ['not an ELF', bytes('hello world, this is not an ELF file at all'), /bad magic at offset 0/],
    ['truncated header', good.subarray(0, 40), /header truncated/],
    [
      'bad class',
      copy((b) => {
        b[4] = 9;
      }),
      /class 9 at offset 4/,
    ],
    [
      'bad data encoding',
      copy((b) => {
        b[5] = 3;
      }),
      /data encoding 3 at offset 5/,
    ],
    ['section table past the end', copy((b) => v(b).setBigUint64(40, BigInt(good.length), true)), /past the end/],
    ['huge e_shoff', copy((b) => v(b).setBigUint64(40, 1n << 60n, true)), /out of range|past the end/],
    ['small e_shentsize', copy((b) => v(b).setUint16(58, 10, true)), /e_shentsize 10/],
    ['e_shstrndx out of range', copy((b) => v(b).setUint16(62, 77, true)), /e_shstrndx 77/],
    ['section name offset out of range', copy((b) => v(b).setUint32(shoff + 64, 9999, true)), /name offset 9999/],
    ['section data outside the file', copy((b) => v(b).setBigUint64(shoff + 64 + 32, 1n << 40n, true)), /outside the file/],
  ];
  for (const [what, input, message] of cases) {
    let thrown: unknown;
    try {
      const parsed = parseElf(input);
      for (const s of parsed.sections) sectionData(input, s);
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof CodecError && thrown.code === 'ELF', `${what}: CodecError ELF`);
    t.match((thrown as Error | undefined)?.message, message, what);
  }
});
