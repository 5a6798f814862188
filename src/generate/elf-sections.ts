/**
 * Reads the section names of an ELF file on disk without loading it: a distribution
 * vmlinux with DWARF is 300-900 MB, and all we need before running pahole is whether it
 * has DWARF at all. Only the ELF header, the section header table and the section name
 * string table are read (positioned reads).
 *
 * ELF header fields used (offsets for ELFCLASS32 / ELFCLASS64):
 *
 * | field       | 32-bit | 64-bit | size (32/64) |
 * |-------------|-------:|-------:|-------------:|
 * | e_ident     |      0 |      0 | 16: magic 7F 'E' 'L' 'F', [4] class (1: 32, 2: 64), [5] data (1: LE, 2: BE) |
 * | e_shoff     |   0x20 |   0x28 | 4 / 8        |
 * | e_shentsize |   0x2E |   0x3A | 2            |
 * | e_shnum     |   0x30 |   0x3C | 2 (0: the count is section 0's sh_size) |
 * | e_shstrndx  |   0x32 |   0x3E | 2 (0xFFFF: the index is section 0's sh_link) |
 *
 * Section header fields used:
 *
 * | field   | 32-bit | 64-bit | size (32/64) |
 * |---------|-------:|-------:|-------------:|
 * | sh_name |      0 |      0 | 4            |
 * | sh_type |      4 |      4 | 4 (8: NOBITS, no bytes in the file) |
 * | sh_offset | 0x10 |   0x18 | 4 / 8        |
 * | sh_size |   0x14 |   0x20 | 4 / 8        |
 * | sh_link |   0x18 |   0x28 | 4            |
 */
import { open, type FileHandle } from 'node:fs/promises';
import { GenerateError } from './errors.js';

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const SHT_NOBITS = 8;
const SHN_XINDEX = 0xffff;
/** Section header tables of real kernels hold ~100 entries (with -ffunction-sections, ~60k). */
const MAX_SECTIONS = 1 << 20;
const MAX_SHSTRTAB_BYTES = 64 * 1024 * 1024;

export function isElfHead(head: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => head[i] === b);
}

export interface ElfSectionSummary {
  name: string;
  /** Bytes in the file; 0 for NOBITS sections (stripped into a separate debug file). */
  fileSize: number;
}

/** The sections of the ELF file at `path`, by name and size. Malformed headers are CORRUPT. */
export async function readElfSections(path: string, what = path): Promise<ElfSectionSummary[]> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const ident = await readAt(handle, 0, 64, fileSize, 'the ELF header', what);
    if (!isElfHead(ident)) throw new GenerateError('NOT_A_PACKAGE', `${what}: not an ELF file`);
    const is64 = ident[4] === 2;
    if (ident[4] !== 1 && !is64) throw new GenerateError('CORRUPT', `${what}: unknown ELF class ${ident[4]}`);
    if (ident[5] !== 1 && ident[5] !== 2) throw new GenerateError('CORRUPT', `${what}: unknown ELF data encoding ${ident[5]}`);
    const le = ident[5] === 1;
    const header = new DataView(ident.buffer, ident.byteOffset, ident.byteLength);
    const shoff = is64 ? Number(header.getBigUint64(0x28, le)) : header.getUint32(0x20, le);
    const shentsize = header.getUint16(is64 ? 0x3a : 0x2e, le);
    let shnum = header.getUint16(is64 ? 0x3c : 0x30, le);
    let shstrndx = header.getUint16(is64 ? 0x3e : 0x32, le);
    if (shoff === 0) return [];
    const minEntry = is64 ? 0x40 : 0x28;
    if (shentsize < minEntry) throw new GenerateError('CORRUPT', `${what}: ELF section header size ${shentsize} is below ${minEntry}`);

    const first = await readAt(handle, shoff, shentsize, fileSize, 'section header 0', what);
    const firstView = new DataView(first.buffer, first.byteOffset, first.byteLength);
    if (shnum === 0) shnum = is64 ? Number(firstView.getBigUint64(0x20, le)) : firstView.getUint32(0x14, le);
    if (shstrndx === SHN_XINDEX) shstrndx = firstView.getUint32(is64 ? 0x28 : 0x18, le);
    if (shnum > MAX_SECTIONS) throw new GenerateError('CORRUPT', `${what}: ${shnum} ELF sections is not plausible`);
    if (shstrndx >= shnum)
      throw new GenerateError('CORRUPT', `${what}: section name table index ${shstrndx} is past the ${shnum} sections`);

    const table = await readAt(handle, shoff, shnum * shentsize, fileSize, 'the section header table', what);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const sections = Array.from({ length: shnum }, (_, i) => {
      const base = i * shentsize;
      return {
        nameOffset: view.getUint32(base, le),
        type: view.getUint32(base + 4, le),
        offset: is64 ? Number(view.getBigUint64(base + 0x18, le)) : view.getUint32(base + 0x10, le),
        size: is64 ? Number(view.getBigUint64(base + 0x20, le)) : view.getUint32(base + 0x14, le),
      };
    });
    const strtab = sections[shstrndx]!;
    if (strtab.size > MAX_SHSTRTAB_BYTES)
      throw new GenerateError('CORRUPT', `${what}: section name table of ${strtab.size} bytes is not plausible`);
    const names = await readAt(handle, strtab.offset, strtab.size, fileSize, 'the section name table', what);
    const decoder = new TextDecoder('latin1');
    return sections.map((s) => {
      const end = names.indexOf(0, s.nameOffset);
      const name = s.nameOffset < names.length ? decoder.decode(names.subarray(s.nameOffset, end === -1 ? names.length : end)) : '';
      return { name, fileSize: s.type === SHT_NOBITS ? 0 : s.size };
    });
  } finally {
    await handle.close();
  }
}

/** True when the sections include DWARF type information (`.debug_info`, or zlib-compressed `.zdebug_info`). */
export function hasDwarf(sections: readonly ElfSectionSummary[]): boolean {
  return sections.some((s) => (s.name === '.debug_info' || s.name === '.zdebug_info') && s.fileSize > 0);
}

async function readAt(
  handle: FileHandle,
  offset: number,
  length: number,
  fileSize: number,
  field: string,
  what: string,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset + length > fileSize) {
    throw new GenerateError(
      'TRUNCATED',
      `${what}: truncated ELF: ${field} (${length} bytes at offset ${offset}) is past the end of the ${fileSize}-byte file`,
    );
  }
  const out = new Uint8Array(length);
  const { bytesRead } = await handle.read(out, 0, length, offset);
  if (bytesRead !== length) throw new GenerateError('TRUNCATED', `${what}: short read of ${field} at offset ${offset}`);
  return out;
}
