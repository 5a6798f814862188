/**
 * Layer 1: a BTF file the operator configured (`--btf PATH` or BTFHUB_BTF_PATH). Raw BTF, an
 * ELF with .BTF (a vmlinux) or a BTFHub .btf.tar.xz. It is taken as the kernel's full BTF:
 * used as it is, or trimmed for the objects with --trim.
 */
import { readFile as readFileCallback } from 'node:fs';
import { failed, fsReason, skipped, type LayerResult } from './layer.js';

export interface ConfiguredLayerOptions {
  /** The configured file; undefined when none is. */
  path: string | undefined;
  readFile?: (path: string) => Promise<Uint8Array>;
}

export async function configuredLayer(options: ConfiguredLayerOptions): Promise<LayerResult> {
  if (options.path === undefined || options.path === '') return skipped('no BTF file configured (--btf, BTFHUB_BTF_PATH)');
  try {
    const bytes = await (options.readFile ?? readFile)(options.path);
    return { ok: true, path: options.path, bytes, form: 'full' };
  } catch (err) {
    return failed(`${options.path}: ${fsReason(err)}`);
  }
}

/** node:fs's readFile as a promise (not node:fs/promises, which loads Node's streams at start). */
function readFile(path: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => readFileCallback(path, (err, data) => (err ? reject(err) : resolve(data))));
}
