/**
 * The check a generated BTF must pass before anything is written: it decodes with our codec
 * (the one that will trim it), and it has the core kernel types every CO-RE program leans
 * on, as complete structs. A vmlinux whose DWARF lacks them is not a kernel (or not a whole
 * one: a module's debug file, a stripped image), and its BTF would answer no request.
 */
import { Btf } from '../btf/btf.js';
import { CodecError } from '../btf/errors.js';
import { BtfKind } from '../btf/kinds.js';
import { GenerateError } from './errors.js';

/** Structs present in every Linux kernel since BTF exists, on every architecture. */
export const CORE_KERNEL_STRUCTS = ['task_struct', 'list_head', 'mm_struct', 'file', 'inode', 'pt_regs'] as const;

export interface KernelBtfSummary {
  /** Types, not counting void. */
  typeCount: number;
}

/**
 * The check as a dependency: the service runs it on its codec executor's threads (a hostile
 * pahole output never decodes on the event loop); `checkKernelBtf` is the inline one.
 */
export type KernelBtfChecker = (bytes: Uint8Array, what: string) => Promise<KernelBtfSummary>;

export function checkKernelBtf(bytes: Uint8Array, what: string): KernelBtfSummary {
  let btf: Btf;
  try {
    btf = Btf.parse(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw undecodableBtf(what, err.message, err);
    throw err;
  }
  const missing = CORE_KERNEL_STRUCTS.filter(
    (name) =>
      !btf.idsByEssentialName(name).some((id) => btf.kind(id) === BtfKind.Struct && btf.name(id) === name && btf.sizeOrType(id) > 0),
  );
  if (missing.length > 0) throw lacksCoreStructs(what, missing);
  return { typeCount: btf.typeCount - 1 };
}

/** The refusal of a BTF that does not decode (`reason`: the codec's message). */
export function undecodableBtf(what: string, reason: string, cause?: unknown): GenerateError {
  return new GenerateError('BAD_BTF', `${what}: pahole's BTF does not decode: ${reason}`, cause === undefined ? undefined : { cause });
}

/** The refusal of a BTF without some of CORE_KERNEL_STRUCTS. */
export function lacksCoreStructs(what: string, missing: readonly string[]): GenerateError {
  return new GenerateError(
    'BAD_BTF',
    `${what}: the BTF lacks core kernel types (struct ${missing.join(', struct ')}): this is not a kernel image's debug info`,
  );
}
