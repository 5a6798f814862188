/**
 * One kernel's part of a bundle: decode, trim, verify, hash. Runs in the caller's thread or
 * in a TrimPool worker (trim-worker.ts); both give the same outcome.
 */
import { createHash } from 'node:crypto';
import { Btf } from '../btf/btf.js';
import { CodecError } from '../btf/errors.js';
import type { BtfExt } from '../btf/ext.js';
import type { BpfObject } from '../btf/object.js';
import { trimBtf } from '../btf/trim.js';
import { describeMismatches, verifyTrim } from '../btf/verify.js';

export type BundleStage = 'load' | 'trim' | 'verify';

export type TrimOutcome = { bytes: Uint8Array; sha256: string } | { stage: BundleStage; message: string };

/** Trims `objects` for the decoded `kernel`; codec refusals are outcomes, anything else throws. */
export function trimKernel(kernel: Btf, objects: readonly BpfObject[], verify: boolean): TrimOutcome {
  let bytes: Uint8Array;
  try {
    bytes = trimBtf(kernel, objects);
  } catch (error) {
    if (error instanceof CodecError) return { stage: 'trim', message: error.message };
    throw error;
  }
  if (verify) {
    try {
      const check = verifyTrim(kernel, Btf.parse(bytes), objects);
      if (check.mismatchCount > 0) return { stage: 'verify', message: `trimmed BTF changes relocations: ${describeMismatches(check)}` };
    } catch (error) {
      if (error instanceof CodecError) return { stage: 'verify', message: error.message };
      throw error;
    }
  }
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Decodes raw kernel BTF (or an ELF with .BTF) and trims it. */
export function trimKernelBytes(raw: Uint8Array, source: string, objects: readonly BpfObject[], verify: boolean): TrimOutcome {
  let kernel: Btf;
  try {
    kernel = Btf.parse(raw);
  } catch (error) {
    if (error instanceof CodecError) return { stage: 'load', message: `${source}: ${error.message}` };
    throw error;
  }
  return trimKernel(kernel, objects, verify);
}

/** A BpfObject as plain data a worker thread can receive (structured clone). */
export interface PortableObject {
  name: string;
  btf: Uint8Array;
  pointerSize: number;
  ext: BtfExt;
}

export function toPortable(object: BpfObject): PortableObject {
  return { name: object.name, btf: object.btf.bytes, pointerSize: object.btf.pointerSize, ext: object.ext };
}

export function fromPortable(object: PortableObject): BpfObject {
  return { name: object.name, btf: Btf.fromRaw(object.btf, { pointerSize: object.pointerSize }), ext: object.ext };
}
