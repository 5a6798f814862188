/**
 * The BTF/ELF codec: pure TypeScript, no dependencies, no I/O. Bytes in, bytes or values out.
 */
export { CodecError, type CodecErrorCode } from './errors.js';
export { BtfKind, KIND_NAMES, IntEncoding } from './kinds.js';
export type * from './types.js';
export { parseElf, findSection, sectionData, isElf, type ElfFile, type ElfSection } from './elf.js';
export { Btf, isRawBtf, BTF_MAGIC } from './btf.js';
export { encodeBtf, type EncodeOptions } from './encode.js';
export { StringTableBuilder } from './strings.js';
export { parseBtfExt, type BtfExt, type CoreRelo, type FuncInfo, type LineInfo, type ExtSection } from './ext.js';
export { parseBpfObject, type BpfObject } from './object.js';
export {
  CoreReloKind, RELO_KIND_NAMES, reloKindName, resolveObjectRelocations, resolveRelocations, describeOutcome,
  type RelocationOutcome, type ResolvedRelocation, type CoreSpec,
} from './core.js';
export { trimBtf, trimBtfTypes, remapTypeIds, type TrimOptions } from './trim.js';
export { essentialName } from './names.js';
export { dumpRaw } from './dump.js';
