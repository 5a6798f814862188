/**
 * Bounds on what the codec accepts (docs/CODEC.md §11). Every pass is linear in its input,
 * so these are not what keeps the work in check; they turn inputs that are well-formed but
 * far larger than anything real into a clear `CodecError('LIMIT')` naming the bound, which
 * the service answers with 413/422 instead of spending seconds and hundreds of megabytes.
 *
 * The defaults are sized from real inputs with about 4x headroom or more: the largest CO-RE
 * object we know (tracee, 11.4 MB: 34,753 relocations, ~100k types in its .BTF) and the
 * largest kernels (~150k types, ~4 MB of strings). Every entry point that parses or trims
 * takes `{ limits?: Partial<CodecLimits> }`; fields left out take these defaults. The error a
 * bound raises is built in errors.ts (`checkLimit`), which imports this module's types.
 */
export interface CodecLimits {
  /** Section headers of one ELF file (e_shnum, or section 0's size with extended numbering). */
  maxSections: number;
  /** Types of one BTF, void excluded. The UAPI's BTF_MAX_TYPE is 0xfffff. */
  maxTypes: number;
  /** Bytes of one BTF string section. The UAPI's BTF_MAX_NAME_OFFSET is 0xffffff. */
  maxStringBytes: number;
  /** CO-RE relocation records of one object (all .BTF.ext section blocks together). */
  maxRelocations: number;
  /** Section blocks of one .BTF.ext sub-section (func_info, line_info or core_relo). */
  maxExtBlocks: number;
  /**
   * CO-RE resolution steps (type hops, member visits, compatibility checks) allowed per byte
   * of input, counted over one object: its .BTF, its .BTF.ext and the target BTF. Real
   * objects need well under one step per byte; hostile nesting would need millions.
   */
  maxCoreStepsPerByte: number;
}

export type CodecLimitName = keyof CodecLimits;

export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  // e_shnum without extended numbering stops at 65,535; real BPF objects have hundreds.
  maxSections: 65_536,
  // 1,048,575 = BTF_MAX_TYPE; the biggest kernels have ~150k-200k types, tracee ~100k.
  maxTypes: 0xfffff,
  // 16 MiB = BTF_MAX_NAME_OFFSET + 1; kernels have ~2-4 MB of strings.
  maxStringBytes: 16 * 1024 * 1024,
  // 7.5x tracee's 34,753; what a 64 MiB upload of real code would hold.
  maxRelocations: 262_144,
  // A block names one ELF section; more blocks than sections is not a real object.
  maxExtBlocks: 65_536,
  // Real objects measure about 0.01 step per byte (bench/codec.ts prints it).
  maxCoreStepsPerByte: 64,
});

/** The defaults with `overrides` applied; each override must be a positive number. */
export function resolveLimits(overrides?: Partial<CodecLimits>): CodecLimits {
  if (!overrides) return DEFAULT_CODEC_LIMITS;
  const limits = { ...DEFAULT_CODEC_LIMITS };
  for (const [name, value] of Object.entries(overrides) as [CodecLimitName, number | undefined][]) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_CODEC_LIMITS)) throw new TypeError(`unknown codec limit "${name}"`);
    if (typeof value !== 'number' || !(value > 0))
      throw new TypeError(`codec limit ${name} must be a positive number, got ${String(value)}`);
    limits[name] = value;
  }
  return limits;
}
