/**
 * `.BTF.ext` decoder: func_info, line_info and CO-RE relocation records, per ELF section
 * (docs/CODEC.md §5). Validation follows libbpf 1.1 (`btf_ext_parse_hdr`, `btf_ext_setup_info`);
 * unlike libbpf 1.1 both byte orders are read (libbpf >= 1.5 does the same).
 *
 * Linear in the section: section names and access strings are offsets into the object's
 * string table and are decoded once per offset (every record that names the same access
 * string shares one JS string); CO-RE records are small fixed objects, bounded by
 * `maxRelocations`; func_info and line_info records, which the trimmer never reads, are
 * validated block by block and turned into objects only when first asked for.
 *
 * Header:
 * | off | size | field          |
 * |   0 |    2 | magic 0xEB9F   |
 * |   2 |    1 | version (1)    |
 * |   3 |    1 | flags (0)      |
 * |   4 |    4 | hdr_len (24, or >= 32 with CO-RE) |
 * |   8 |    4 | func_info_off  | offsets are relative to the end of the header
 * |  12 |    4 | func_info_len  |
 * |  16 |    4 | line_info_off  |
 * |  20 |    4 | line_info_len  |
 * |  24 |    4 | core_relo_off  |
 * |  28 |    4 | core_relo_len  |
 *
 * Each sub-section: u32 rec_size, then blocks of {u32 sec_name_off, u32 num_info,
 * num_info x rec_size bytes}. Records are read with stride rec_size; bytes past the known
 * record layout are ignored.
 *
 * Records:
 *   func_info  (>= 8):  insn_off u32, type_id u32
 *   line_info  (>= 16): insn_off u32, file_name_off u32, line_off u32, line_col u32
 *   core_relo  (>= 16): insn_off u32, type_id u32, access_str_off u32, kind u32
 */
import type { Btf } from './btf.js';
import { BTF_MAGIC } from './btf.js';
import { checkLimit, CodecError } from './errors.js';
import { resolveLimits, type CodecLimits } from './limits.js';
import { workCounters } from './work-counters.js';

export interface FuncInfo {
  insnOff: number;
  typeId: number;
}

export interface LineInfo {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  line: number;
  column: number;
}

export interface CoreRelo {
  /** Byte offset of the instruction in its ELF section. */
  insnOff: number;
  /** Local (object BTF) id of the root type. */
  typeId: number;
  accessStrOff: number;
  /** The access string ("0:1:2"), read from the object's BTF strings. */
  access: string;
  /** `CoreReloKind`. */
  kind: number;
}

export interface ExtSection<R> {
  /** ELF section name ("kprobe/do_unlinkat", ".text"). */
  section: string;
  /** For func_info and line_info, made on first access (an enumerable getter, then a plain value). */
  records: R[];
}

export interface BtfExtParseOptions {
  /** Bounds (maxRelocations, maxExtBlocks); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
}

export interface BtfExt {
  littleEndian: boolean;
  funcInfo: ExtSection<FuncInfo>[];
  lineInfo: ExtSection<LineInfo>[];
  coreRelos: ExtSection<CoreRelo>[];
  /** False when the header has no CO-RE fields (hdr_len < 32) or core_relo_len is 0. */
  hasCoreRelos: boolean;
}

const MIN_HEADER = 24;
const CORE_HEADER = 32;

function extError(message: string): CodecError {
  return new CodecError('BTF_EXT', message);
}

/**
 * Parses `.BTF.ext` bytes. `btf` is the object's own `.BTF`: section names and access
 * strings are offsets into its string table, and are validated against it.
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, options: BtfExtParseOptions = {}): BtfExt {
  const limits = resolveLimits(options.limits);
  if (bytes.length < 8) throw extError(`.BTF.ext header truncated: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  if (view.getUint16(0, true) === BTF_MAGIC) le = true;
  else if (view.getUint16(0, false) === BTF_MAGIC) le = false;
  else throw extError(`.BTF.ext: bad magic 0x${view.getUint16(0, true).toString(16)} at offset 0`);
  const version = bytes[2];
  const flags = bytes[3];
  if (version !== 1) throw extError(`.BTF.ext: unsupported version ${version} at offset 2`);
  if (flags !== 0) throw extError(`.BTF.ext: unsupported flags 0x${flags!.toString(16)} at offset 3`);
  const hdrLen = view.getUint32(4, le);
  if (bytes.length < hdrLen) throw extError(`.BTF.ext: hdr_len ${hdrLen} is past the end of the section (${bytes.length} bytes)`);
  if (bytes.length === hdrLen) throw extError('.BTF.ext has no data after its header');
  if (hdrLen < MIN_HEADER) throw extError(`.BTF.ext: hdr_len ${hdrLen} is smaller than ${MIN_HEADER}`);

  const u32 = (off: number) => view.getUint32(off, le);
  const sectionName = (nameOff: number, at: number) => {
    try {
      return btf.string(nameOff);
    } catch (cause) {
      throw new CodecError('BTF_EXT', `.BTF.ext: section name offset ${nameOff} at offset ${at} is not a string of the object's BTF`, {
        cause,
      });
    }
  };

  /**
   * Validates one sub-section block by block and returns its blocks. With `lazy`, a block's
   * records are read on first access; otherwise now. `onCount` sees each block's record count
   * before any record is read (for the relocation limit).
   */
  const subsection = <R>(
    what: string,
    offField: number,
    minRecSize: number,
    read: (at: number) => R,
    lazy: boolean,
    onCount?: (count: number) => void,
  ): ExtSection<R>[] => {
    const off = u32(offField);
    const len = u32(offField + 4);
    if (len === 0) return [];
    if (off % 4 !== 0) throw extError(`.BTF.ext ${what}: offset ${off} is not 4-byte aligned`);
    const start = hdrLen + off;
    if (start > bytes.length || len > bytes.length - start) {
      throw extError(`.BTF.ext ${what}: [${start}, +${len}) is outside the section (${bytes.length} bytes)`);
    }
    if (len < 4) throw extError(`.BTF.ext ${what}: record size not found at offset ${start}`);
    const recSize = u32(start);
    if (recSize < minRecSize || recSize % 4 !== 0) {
      throw extError(`.BTF.ext ${what}: record size ${recSize} at offset ${start} is invalid (minimum ${minRecSize}, multiple of 4)`);
    }
    let left = len - 4;
    if (left === 0) throw extError(`.BTF.ext ${what}: no records after the record size at offset ${start}`);
    let at = start + 4;
    const sections: ExtSection<R>[] = [];
    while (left > 0) {
      if (left < 8) throw extError(`.BTF.ext ${what}: truncated section header at offset ${at}`);
      const nameOff = u32(at);
      const count = u32(at + 4);
      if (count === 0) throw extError(`.BTF.ext ${what}: section at offset ${at} has zero records`);
      const total = 8 + count * recSize;
      if (total > left) {
        throw extError(
          `.BTF.ext ${what}: section at offset ${at} declares ${count} records of ${recSize} bytes, more than the ${left - 8} bytes left`,
        );
      }
      checkLimit(limits, 'maxExtBlocks', sections.length + 1, `.BTF.ext ${what} section blocks`);
      onCount?.(count);
      const section = sectionName(nameOff, at);
      const first = at + 8;
      const readAll = (): R[] => {
        const records: R[] = new Array<R>(count);
        for (let i = 0; i < count; i++) records[i] = read(first + i * recSize);
        workCounters.recordsRead += count;
        workCounters.objectsBuilt += count;
        return records;
      };
      sections.push(lazy ? lazyBlock(section, readAll) : { section, records: readAll() });
      at += total;
      left -= total;
    }
    return sections;
  };

  const funcInfo = subsection('func_info', 8, 8, (at) => ({ insnOff: u32(at), typeId: u32(at + 4) }), true);
  const lineInfo = subsection(
    'line_info',
    16,
    16,
    (at) => {
      const lineCol = u32(at + 12);
      return { insnOff: u32(at), fileNameOff: u32(at + 4), lineOff: u32(at + 8), line: lineCol >>> 10, column: lineCol & 0x3ff };
    },
    true,
  );
  let coreRelos: ExtSection<CoreRelo>[] = [];
  if (hdrLen >= CORE_HEADER) {
    let relocations = 0;
    coreRelos = subsection(
      'core_relo',
      24,
      16,
      (at) => {
        const accessStrOff = u32(at + 8);
        let access: string;
        try {
          // Cached per offset by the BTF: records naming the same access string share it.
          access = btf.string(accessStrOff);
        } catch (cause) {
          throw new CodecError(
            'BTF_EXT',
            `.BTF.ext core_relo at offset ${at}: access string offset ${accessStrOff} is not a string of the object's BTF`,
            { cause },
          );
        }
        return { insnOff: u32(at), typeId: u32(at + 4), accessStrOff, access, kind: u32(at + 12) };
      },
      false,
      (count) => {
        relocations += count;
        checkLimit(limits, 'maxRelocations', relocations, '.BTF.ext CO-RE relocation count (at least)');
      },
    );
  }
  return { littleEndian: le, funcInfo, lineInfo, coreRelos, hasCoreRelos: coreRelos.length > 0 };
}

/** A block whose records are read on first access, then kept as a plain property. */
function lazyBlock<R>(section: string, readAll: () => R[]): ExtSection<R> {
  const block = { section } as ExtSection<R>;
  Object.defineProperty(block, 'records', {
    enumerable: true,
    configurable: true,
    get(): R[] {
      const records = readAll();
      Object.defineProperty(block, 'records', { value: records, enumerable: true, writable: true, configurable: true });
      return records;
    },
    set(records: R[]) {
      Object.defineProperty(block, 'records', { value: records, enumerable: true, writable: true, configurable: true });
    },
  });
  return block;
}
