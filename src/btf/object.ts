/**
 * A compiled BPF CO-RE object as the trimmer sees it: its own BTF and `.BTF.ext`
 * (docs/CODEC.md §8.1: `btf__parse` on an ELF; a raw BTF or an ELF without `.BTF.ext` is
 * refused, as bpftool refuses it).
 */
import { Btf, isRawBtf } from './btf.js';
import { CodecError } from './errors.js';
import { findSection, isElf, parseElf, sectionData } from './elf.js';
import { parseBtfExt, type BtfExt } from './ext.js';
import type { CodecLimits } from './limits.js';

export interface BpfObject {
  /** A label for messages (usually the file name). */
  name: string;
  btf: Btf;
  ext: BtfExt;
}

export interface BpfObjectParseOptions {
  /** Bounds on the ELF, its .BTF and its .BTF.ext; defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
}

export function parseBpfObject(bytes: Uint8Array, name: string, options: BpfObjectParseOptions = {}): BpfObject {
  if (isRawBtf(bytes)) {
    throw new CodecError('MISSING_SECTION', `${name}: is raw BTF, not a BPF object (no .BTF.ext section)`);
  }
  if (!isElf(bytes)) throw new CodecError('ELF', `${name}: not an ELF file (bad magic at offset 0)`);
  try {
    const elf = parseElf(bytes, options);
    const btfSection = findSection(elf, '.BTF');
    if (!btfSection) throw new CodecError('MISSING_SECTION', 'section .BTF not found');
    const btf = Btf.fromRaw(sectionData(bytes, btfSection), { pointerSize: elf.bits === 32 ? 4 : 8, ...options });
    const extSection = findSection(elf, '.BTF.ext');
    if (!extSection) throw new CodecError('MISSING_SECTION', 'section .BTF.ext not found');
    const ext = parseBtfExt(sectionData(bytes, extSection), btf, options);
    return { name, btf, ext };
  } catch (err) {
    if (err instanceof CodecError) throw new CodecError(err.code, `${name}: ${err.message}`, { cause: err });
    throw err;
  }
}
