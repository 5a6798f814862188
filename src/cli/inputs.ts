/** Loading what the commands take: kernel BTF in any of its forms, and BPF objects. */
import { readKernelBtfFile } from '../archive/kernel-btf.js';
import { Btf } from '../btf/btf.js';
import { CodecError } from '../btf/errors.js';
import { parseBpfObject, type BpfObject } from '../btf/object.js';
import type { CommandIo } from './command.js';

/** Raw BTF, an ELF with .BTF, or a BTFHub .btf.tar.xz, parsed. Errors name the file. */
export async function loadBtfFile(path: string, io: CommandIo): Promise<Btf> {
  const bytes = await readKernelBtfFile(await io.readFile(path), path);
  try {
    return Btf.parse(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw new CodecError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Compiled BPF objects (ELF with .BTF and .BTF.ext), in argument order. */
export async function loadBpfObjects(paths: readonly string[], io: CommandIo): Promise<BpfObject[]> {
  const objects: BpfObject[] = [];
  for (const path of paths) objects.push(parseBpfObject(await io.readFile(path), path));
  return objects;
}
