/**
 * Reads a compiled BPF object for the codec, the way libbpf reads it through mmap: only the
 * parts `parseBpfObject` looks at. A clang `-g` object is mostly DWARF (a 670 KB libbpf-tools
 * style object holds 32 KB of .BTF and 4 KB of .BTF.ext); reading and holding every byte of
 * a hundred of them cost more time and memory than trimming them.
 *
 * The result is a compact ELF holding, in this order:
 *   - the ELF header (52 or 64 bytes), e_shoff pointing right after it
 *   - the whole section header table, unchanged except the sh_offset of the sections below
 *   - the section name table (e_shstrndx)
 *   - the sections named .BTF and .BTF.ext (the last of each name, as libbpf picks them),
 *     each at an 8-byte aligned offset
 * Every other section keeps its header and its original sh_offset, which now points nowhere:
 * the codec never reads those (src/btf/elf.ts parses headers and names, object.ts takes
 * .BTF and .BTF.ext). The codec then parses and checks the result exactly as it would the
 * whole file; offsets in its messages are relative to a section, so they read the same.
 * Anything unusual (not an ELF, extended numbering, a table or section past the end, a small
 * file, a pipe) reads the whole file instead, so every malformed input meets the codec's
 * checks unchanged. test/cli/bpftool-parity.test.ts runs the CLI on these reads against bpftool.
 *
 * ELF fields read and written here:
 * | field       | ELF64 off | ELF32 off | size (64/32) |
 * | EI_CLASS    |         4 |         4 | 1            |
 * | EI_DATA     |         5 |         5 | 1            |
 * | e_shoff     |        40 |        32 | 8 / 4        |
 * | e_shentsize |        58 |        46 | 2            |
 * | e_shnum     |        60 |        48 | 2            |
 * | e_shstrndx  |        62 |        50 | 2            |
 * Section header: sh_offset @24 (8) / @16 (4), sh_size @32 (8) / @20 (4).
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { findSection, parseElf, SHT_NOBITS, type ElfFile } from '../btf/elf.js';

/** Below this, one read of the whole file is as cheap as several small ones. */
const WHOLE_FILE_BELOW = 128 * 1024;
const SHN_XINDEX = 0xffff;

/** The sections the codec reads from an object (besides the name table). */
const OBJECT_SECTIONS = ['.BTF', '.BTF.ext'] as const;

/**
 * The object at `path` with the parts the codec needs filled in (see above). Throws the
 * file system's error (ENOENT, EISDIR...) for the caller to word.
 */
export function readBpfObjectSync(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    // A pipe or a character device has no size to trust: read it to its end.
    if (!stat.isFile() || stat.size < WHOLE_FILE_BELOW) return readFileSync(fd);
    return compactObject(fd, stat.size) ?? readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The compact ELF described above, or undefined when the file should be read whole. */
function compactObject(fd: number, fileSize: number): Uint8Array | undefined {
  const header = read(fd, fileSize, 0, 64);
  const table = header && sectionTable(header, fileSize);
  if (header === undefined || table === undefined) return undefined;
  const headers = read(fd, fileSize, table.offset, table.length);
  const names = headers && nameTable(headers, table, fileSize);
  const nameBytes = names && read(fd, fileSize, names.offset, names.length);
  if (!headers || !names || !nameBytes) return undefined;

  // First the headers and the name table alone, to learn the section names from the codec.
  const layout = new CompactLayout(header.subarray(0, table.headerLength), table, headers);
  layout.place(table.nameIndex, nameBytes);
  let elf: ElfFile;
  try {
    elf = parseElf(layout.bytes());
  } catch {
    return undefined;
  }
  for (const name of OBJECT_SECTIONS) {
    const section = findSection(elf, name);
    if (section === undefined || section.type === SHT_NOBITS) continue;
    const data = read(fd, fileSize, section.offset, section.size);
    if (data === undefined) return undefined;
    layout.place(section.index, data);
  }
  return layout.bytes();
}

/** Builds the compact ELF: header, section table, then each placed section, offsets patched. */
class CompactLayout {
  private readonly parts: { offset: number; data: Uint8Array }[] = [];
  private size: number;
  private readonly header: Uint8Array;
  private readonly headers: Uint8Array;

  constructor(
    header: Uint8Array,
    private readonly table: SectionTable,
    headers: Uint8Array,
  ) {
    // Copies: the offsets are patched in them.
    this.header = header.slice();
    this.headers = headers.slice();
    const view = new DataView(this.header.buffer);
    if (table.bits === 64) view.setBigUint64(40, BigInt(this.header.length), table.littleEndian);
    else view.setUint32(32, this.header.length, table.littleEndian);
    this.size = this.header.length + this.headers.length;
  }

  place(index: number, data: Uint8Array): void {
    const offset = align8(this.size);
    this.parts.push({ offset, data });
    this.size = offset + data.length;
    const view = new DataView(this.headers.buffer);
    const at = index * this.table.entsize;
    if (this.table.bits === 64) view.setBigUint64(at + 24, BigInt(offset), this.table.littleEndian);
    else view.setUint32(at + 16, offset, this.table.littleEndian);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    out.set(this.header, 0);
    out.set(this.headers, this.header.length);
    for (const part of this.parts) out.set(part.data, part.offset);
    return out;
  }
}

const align8 = (n: number) => (n + 7) & ~7;

interface Range {
  offset: number;
  length: number;
}

interface SectionTable extends Range {
  /** The ELF header's length: 64 (ELF64) or 52 (ELF32). */
  headerLength: number;
  bits: 32 | 64;
  littleEndian: boolean;
  entsize: number;
  count: number;
  nameIndex: number;
}

/** Where the section header table is, from the ELF header; undefined when it looks wrong. */
function sectionTable(bytes: Uint8Array, fileSize: number): SectionTable | undefined {
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return undefined;
  const bits = bytes[4] === 2 ? 64 : bytes[4] === 1 ? 32 : undefined;
  const littleEndian = bytes[5] === 1 ? true : bytes[5] === 2 ? false : undefined;
  if (bits === undefined || littleEndian === undefined) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offset = bits === 64 ? Number(view.getBigUint64(40, littleEndian)) : view.getUint32(32, littleEndian);
  const entsize = view.getUint16(bits === 64 ? 58 : 46, littleEndian);
  const count = view.getUint16(bits === 64 ? 60 : 48, littleEndian);
  const nameIndex = view.getUint16(bits === 64 ? 62 : 50, littleEndian);
  // Extended numbering (more than 65279 sections) is rare enough to read the whole file for.
  if (count === 0 || nameIndex === SHN_XINDEX || nameIndex >= count) return undefined;
  if (!Number.isSafeInteger(offset) || offset === 0 || entsize < (bits === 64 ? 64 : 40)) return undefined;
  const length = count * entsize;
  if (offset + length > fileSize) return undefined;
  return { offset, length, headerLength: bits === 64 ? 64 : 52, bits, littleEndian, entsize, count, nameIndex };
}

/** The section name table's range, from its section header; undefined when it looks wrong. */
function nameTable(headers: Uint8Array, table: SectionTable, fileSize: number): Range | undefined {
  const view = new DataView(headers.buffer, headers.byteOffset, headers.byteLength);
  const at = table.nameIndex * table.entsize;
  const le = table.littleEndian;
  const offset = table.bits === 64 ? Number(view.getBigUint64(at + 24, le)) : view.getUint32(at + 16, le);
  const length = table.bits === 64 ? Number(view.getBigUint64(at + 32, le)) : view.getUint32(at + 20, le);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset + length > fileSize) return undefined;
  return { offset, length };
}

/** Bytes [offset, offset + length) of the file; undefined when out of range or short. */
function read(fd: number, fileSize: number, offset: number, length: number): Uint8Array | undefined {
  if (offset < 0 || length < 0 || offset + length > fileSize) return undefined;
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, offset + done);
    if (n === 0) return undefined;
    done += n;
  }
  return bytes;
}
