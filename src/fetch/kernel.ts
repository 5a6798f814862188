/**
 * Layer 2: the running kernel's own BTF, `/sys/kernel/btf/vmlinux` (under `--root` when
 * the host's filesystem is mounted elsewhere). When it is there, libbpf and cilium/ebpf
 * find it themselves: nothing needs fetching, unless --trim asks for a trimmed copy.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failed, fsReason, type LayerResult } from './layer.js';

export const KERNEL_BTF_PATH = 'sys/kernel/btf/vmlinux';

export interface KernelLayerOptions {
  /** The host's filesystem root ('/' by default). */
  root?: string;
  readFile?: (path: string) => Promise<Uint8Array>;
}

export async function kernelLayer(options: KernelLayerOptions = {}): Promise<LayerResult> {
  const path = join(options.root ?? '/', KERNEL_BTF_PATH);
  try {
    const bytes = await (options.readFile ?? readFile)(path);
    if (bytes.length === 0) return failed(`${path}: empty`);
    return { ok: true, path, bytes, form: 'full' };
  } catch (err) {
    const reason = fsReason(err);
    return failed(`${path}: ${reason}${reason === 'no such file' ? ' (a kernel without CONFIG_DEBUG_INFO_BTF)' : ''}`);
  }
}
