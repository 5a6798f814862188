/**
 * Writes small ELF files for tests: a header, the given sections and a section name table,
 * in either class and byte order. Enough to wrap hand-made .BTF/.BTF.ext into a "BPF object"
 * that both our codec and bpftool read.
 */
export interface SectionSpec {
  name: string;
  data: Uint8Array;
  /** SHT_PROGBITS (1) by default. */
  type?: number;
  flags?: number;
}

export interface ElfSpec {
  bits?: 32 | 64;
  littleEndian?: boolean;
  /** EM_BPF (247) by default. */
  machine?: number;
  sections: SectionSpec[];
  /** Write e_shnum = 0 and e_shstrndx = SHN_XINDEX, with the real values in section 0. */
  extendedNumbering?: boolean;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function buildElf(spec: ElfSpec): Uint8Array {
  const bits = spec.bits ?? 64;
  const le = spec.littleEndian ?? true;
  const ehsize = bits === 64 ? 64 : 52;
  const shentsize = bits === 64 ? 64 : 40;

  // Section name table: "\0" + names + ".shstrtab".
  const names: number[] = [];
  let shstr = '\0';
  for (const s of spec.sections) {
    names.push(shstr.length);
    shstr += s.name + '\0';
  }
  const shstrtabName = shstr.length;
  shstr += '.shstrtab\0';
  const shstrBytes = new Uint8Array([...shstr].map((c) => c.charCodeAt(0)));

  const all = [
    ...spec.sections.map((s, i) => ({ ...s, nameOff: names[i]! })),
    { name: '.shstrtab', data: shstrBytes, type: 3, flags: 0, nameOff: shstrtabName },
  ];
  let off = ehsize;
  const placed = all.map((s) => {
    off = align(off, 8);
    const at = off;
    off += s.data.length;
    return { ...s, offset: at };
  });
  const shoff = align(off, 8);
  const shnum = placed.length + 1; // + null section
  const shstrndx = placed.length; // last one
  const total = shoff + shnum * shentsize;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, le ? 1 : 2, 1], 0);
  v.setUint16(16, 1, le); // ET_REL
  v.setUint16(18, spec.machine ?? 247, le);
  v.setUint32(20, 1, le);
  const ext = spec.extendedNumbering ?? false;
  if (bits === 64) {
    v.setBigUint64(40, BigInt(shoff), le);
    v.setUint16(52, ehsize, le);
    v.setUint16(58, shentsize, le);
    v.setUint16(60, ext ? 0 : shnum, le);
    v.setUint16(62, ext ? 0xffff : shstrndx, le);
  } else {
    v.setUint32(32, shoff, le);
    v.setUint16(40, ehsize, le);
    v.setUint16(46, shentsize, le);
    v.setUint16(48, ext ? 0 : shnum, le);
    v.setUint16(50, ext ? 0xffff : shstrndx, le);
  }
  for (const s of placed) out.set(s.data, s.offset);
  const writeHeader = (index: number, h: { nameOff: number; type: number; flags: number; offset: number; size: number; link: number }) => {
    const at = shoff + index * shentsize;
    v.setUint32(at, h.nameOff, le);
    v.setUint32(at + 4, h.type, le);
    if (bits === 64) {
      v.setBigUint64(at + 8, BigInt(h.flags), le);
      v.setBigUint64(at + 24, BigInt(h.offset), le);
      v.setBigUint64(at + 32, BigInt(h.size), le);
      v.setUint32(at + 40, h.link, le);
      v.setBigUint64(at + 48, 1n, le);
    } else {
      v.setUint32(at + 8, h.flags, le);
      v.setUint32(at + 16, h.offset, le);
      v.setUint32(at + 20, h.size, le);
      v.setUint32(at + 24, h.link, le);
      v.setUint32(at + 32, 1, le);
    }
  };
  writeHeader(0, { nameOff: 0, type: 0, flags: 0, offset: 0, size: ext ? shnum : 0, link: ext ? shstrndx : 0 });
  placed.forEach((s, i) =>
    writeHeader(i + 1, { nameOff: s.nameOff, type: s.type ?? 1, flags: s.flags ?? 0, offset: s.offset, size: s.data.length, link: 0 }),
  );
  return out;
}
