/** Loading what the commands take: kernel BTF in any of its forms, and BPF objects. */
import { Btf, isRawBtf } from '../btf/btf.js';
import { isElf } from '../btf/elf.js';
import { CodecError } from '../btf/errors.js';
import { parseBpfObject, type BpfObject } from '../btf/object.js';
import type { CommandIo } from './command.js';

/** Raw BTF, an ELF with .BTF, or a BTFHub .btf.tar.xz, parsed. Errors name the file. */
export async function loadBtfFile(path: string, io: CommandIo): Promise<Btf> {
  const read = await io.readFile(path);
  // Only an archive needs the archive layer (tar, and xz as a child process): load it then.
  const bytes = isRawBtf(read) || isElf(read) ? read : await (await import('../archive/kernel-btf.js')).readKernelBtfFile(read, path);
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
  for (const path of paths) objects.push(parseBpfObject(await io.readObject(path), path));
  return objects;
}
