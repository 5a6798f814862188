/**
 * A minimal ELF reader: the header, the section table and section names, enough to find
 * `.BTF` and `.BTF.ext` (docs/CODEC.md §2). Both classes (ELF32/ELF64) and both byte orders.
 * Every offset and count is checked against the buffer before it is used, and the work is
 * linear in the file: each section name is read once per distinct offset, and names that
 * share bytes share one decoded string (StringSection).
 *
 * ELF64 header (64 bytes)                 ELF64 section header (64 bytes)
 * | off | size | field       |            | off | size | field        |
 * |   0 |    4 | magic 7F'ELF'|           |   0 |    4 | sh_name      |
 * |   4 |    1 | EI_CLASS    |            |   4 |    4 | sh_type      |
 * |   5 |    1 | EI_DATA     |            |   8 |    8 | sh_flags     |
 * |  18 |    2 | e_machine   |            |  24 |    8 | sh_offset    |
 * |  40 |    8 | e_shoff     |            |  32 |    8 | sh_size      |
 * |  58 |    2 | e_shentsize |            |  40 |    4 | sh_link      |
 * |  60 |    2 | e_shnum     |            |  44 |    4 | sh_info      |
 * |  62 |    2 | e_shstrndx  |            |  56 |    8 | sh_entsize   |
 *
 * ELF32 uses a 52-byte header (e_shoff @32, e_shentsize @46, e_shnum @48, e_shstrndx @50)
 * and 40-byte section headers (name @0, type @4, flags @8, offset @16, size @20, link @24).
 */
import { checkLimit, CodecError } from './errors.js';
import { resolveLimits, type CodecLimits } from './limits.js';
import { StringSection } from './string-section.js';
import { workCounters } from './work-counters.js';

export const SHT_NOBITS = 8;
export const SHF_COMPRESSED = 0x800;
const SHN_XINDEX = 0xffff;

export interface ElfParseOptions {
  /** Bounds (maxSections); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** File offset of the section bytes (meaningless for SHT_NOBITS). */
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfFile {
  /** 32 or 64. */
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  sections: ElfSection[];
}

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

function fail(message: string): never {
  throw new CodecError('ELF', message);
}

export function parseElf(bytes: Uint8Array, options: ElfParseOptions = {}): ElfFile {
  const limits = resolveLimits(options.limits);
  if (!isElf(bytes)) fail('not an ELF file (bad magic at offset 0)');
  if (bytes.length < 52) fail(`ELF header truncated: file is ${bytes.length} bytes`);
  const cls = bytes[4];
  const data = bytes[5];
  if (cls !== 1 && cls !== 2) fail(`unsupported ELF class ${cls} at offset 4`);
  if (data !== 1 && data !== 2) fail(`unsupported ELF data encoding ${data} at offset 5`);
  const bits = cls === 2 ? 64 : 32;
  const le = data === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => view.getUint16(o, le);
  const u32 = (o: number) => view.getUint32(o, le);
  const u64 = (o: number, what: string) => {
    const v = view.getBigUint64(o, le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} at offset ${o} is out of range`);
    return Number(v);
  };
  if (bits === 64 && bytes.length < 64) fail(`ELF64 header truncated: file is ${bytes.length} bytes`);

  const machine = u16(18);
  const shoff = bits === 64 ? u64(40, 'e_shoff') : u32(32);
  const shentsize = bits === 64 ? u16(58) : u16(46);
  let shnum = bits === 64 ? u16(60) : u16(48);
  let shstrndx = bits === 64 ? u16(62) : u16(50);
  const minEntsize = bits === 64 ? 64 : 40;

  if (shoff === 0) return { bits, littleEndian: le, machine, sections: [] };
  if (shentsize < minEntsize) fail(`e_shentsize ${shentsize} is smaller than ${minEntsize}`);

  const readHeader = (index: number) => {
    const at = shoff + index * shentsize;
    if (at + minEntsize > bytes.length) {
      fail(`section header ${index} at offset ${at} is past the end of the file (${bytes.length} bytes)`);
    }
    return bits === 64
      ? {
          nameOff: u32(at),
          type: u32(at + 4),
          flags: u64(at + 8, 'sh_flags'),
          offset: u64(at + 24, 'sh_offset'),
          size: u64(at + 32, 'sh_size'),
          link: u32(at + 40),
          info: u32(at + 44),
          entsize: u64(at + 56, 'sh_entsize'),
        }
      : {
          nameOff: u32(at),
          type: u32(at + 4),
          flags: u32(at + 8),
          offset: u32(at + 16),
          size: u32(at + 20),
          link: u32(at + 24),
          info: u32(at + 28),
          entsize: u32(at + 36),
        };
  };

  // Extended numbering: the real counts live in section 0.
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    const s0 = readHeader(0);
    if (shnum === 0) shnum = s0.size;
    if (shstrndx === SHN_XINDEX) shstrndx = s0.link;
  }
  // Before anything is allocated per section.
  checkLimit(limits, 'maxSections', shnum, 'ELF section count');
  if (shoff + shnum * shentsize > bytes.length) {
    fail(`section table at offset ${shoff} (${shnum} x ${shentsize} bytes) is past the end of the file (${bytes.length} bytes)`);
  }
  const headers = Array.from({ length: shnum }, (_, i) => readHeader(i));
  workCounters.recordsRead += shnum;
  if (shnum > 0 && shstrndx >= shnum) fail(`e_shstrndx ${shstrndx} is out of range (${shnum} sections)`);

  const shstr = headers[shstrndx];
  let names = new StringSection(bytes, 0, 0);
  if (shstr && shstr.type !== SHT_NOBITS) {
    checkRange(bytes, shstr.offset, shstr.size, `section name table (section ${shstrndx})`);
    names = new StringSection(bytes, shstr.offset, shstr.size);
  }
  const sectionName = (index: number, off: number): string => {
    if (off === 0 && names.length === 0) return '';
    if (off >= names.length) fail(`section ${index}: name offset ${off} is outside the section name table (${names.length} bytes)`);
    if (names.end(off) < 0) fail(`section ${index}: name at offset ${off} is not NUL-terminated`);
    return names.string(off);
  };

  const sections = headers.map((h, index) => ({
    index,
    name: sectionName(index, h.nameOff),
    type: h.type,
    flags: h.flags,
    offset: h.offset,
    size: h.size,
    link: h.link,
    info: h.info,
    entsize: h.entsize,
  }));
  return { bits, littleEndian: le, machine, sections };
}

/** The last section with this name (libbpf's rule when a name repeats), or undefined. */
export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  let found: ElfSection | undefined;
  for (let i = 1; i < elf.sections.length; i++) {
    const s = elf.sections[i]!;
    if (s.name === name) found = s;
  }
  return found;
}

/** The bytes of a section, bounds-checked; compressed and NOBITS sections are refused. */
export function sectionData(bytes: Uint8Array, section: ElfSection): Uint8Array {
  if (section.type === SHT_NOBITS) return new Uint8Array(0);
  if (section.flags & SHF_COMPRESSED) {
    throw new CodecError('ELF', `section ${section.name} is compressed (SHF_COMPRESSED), which is not supported`);
  }
  checkRange(bytes, section.offset, section.size, `section ${section.name || section.index}`);
  return bytes.subarray(section.offset, section.offset + section.size);
}

function checkRange(bytes: Uint8Array, offset: number, size: number, what: string): void {
  if (offset > bytes.length || size > bytes.length - offset) {
    fail(`${what}: bytes [${offset}, ${offset + size}) are outside the file (${bytes.length} bytes)`);
  }
}
