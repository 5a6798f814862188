/**
 * The file forms of a generated BTF: raw BTF (what pahole writes, what `/sys/kernel/btf/vmlinux`
 * holds), or BTFHub's archive form, `<release>.btf.tar.xz` holding one `<release>.btf`.
 */
import { makeBtfTarXz } from '../archive/index.js';
import type { GeneratedKernelBtf } from './generate.js';

export type KernelBtfForm = 'raw' | 'btf.tar.xz';

/** The form a file name asks for: `.btf.tar.xz` is the archive, anything else raw BTF. */
export function formForPath(path: string): KernelBtfForm {
  return path.endsWith('.btf.tar.xz') ? 'btf.tar.xz' : 'raw';
}

/** The bytes of `result` in `form`. */
export async function kernelBtfFileBytes(result: Pick<GeneratedKernelBtf, 'release' | 'btf'>, form: KernelBtfForm): Promise<Uint8Array> {
  return form === 'raw' ? result.btf : makeBtfTarXz(result.release, result.btf);
}
