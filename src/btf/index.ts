/**
 * The BTF/ELF codec: pure TypeScript, no dependencies, no I/O. Bytes in, bytes or values out.
 * docs/CODEC.md describes the formats and rules it implements.
 */
export { CodecError, type CodecErrorCode, type CodecLimitExceeded } from './errors.js';
export { DEFAULT_CODEC_LIMITS, resolveLimits, type CodecLimits, type CodecLimitName } from './limits.js';
export { workCounters, resetWorkCounters, readWorkCounters, type WorkCounts } from './work-counters.js';
export { BtfKind, KIND_NAMES, IntEncoding, kindName, STANDARD_LAYOUT, BTF_MAX_VLEN, BTF_MAX_KIND, type BtfLayoutEntry } from './kinds.js';
export type * from './types.js';
export { parseElf, findSection, sectionData, isElf, type ElfFile, type ElfSection, type ElfParseOptions } from './elf.js';
export { Btf, isRawBtf, BTF_MAGIC, type BtfParseOptions } from './btf.js';
export { encodeBtf, type EncodeOptions } from './encode.js';
export { StringTableBuilder } from './strings.js';
export { parseBtfExt, type BtfExt, type BtfExtParseOptions, type CoreRelo, type FuncInfo, type LineInfo, type ExtSection } from './ext.js';
export { parseBpfObject, type BpfObject, type BpfObjectParseOptions } from './object.js';
export { CoreReloKind, RELO_KIND_NAMES, reloKindName, type CoreSpec, type ResolvedRelocation } from './core.js';
export {
  resolveObjectRelocations,
  resolveRelocations,
  relocationSteps,
  RelocationResolver,
  describeOutcome,
  describeRelocation,
  type RelocationOutcome,
  type RelocationStep,
  type ResolveOptions,
  type RelocationResolverOptions,
} from './relocate.js';
export { trimBtf, trimBtfTypes, remapTypeIds, type TrimOptions } from './trim.js';
export { RelocationOutcomes } from './outcomes.js';
export { verifyTrim, describeMismatches, type TrimVerification, type RelocationMismatch, type VerifyTrimOptions } from './verify.js';
export { essentialName } from './names.js';
export { dumpRaw } from './dump.js';
