import { dumpRaw } from '../../btf/dump.js';
import type { Command } from '../command.js';
import { ExitCode } from '../errors.js';
import { loadBtfFile } from '../inputs.js';

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'list BTF types as `bpftool btf dump file FILE format raw` does',
  usage: 'btfhub dump FILE',
  description: `
Prints every type of FILE (raw BTF, an ELF with .BTF such as a BPF object or a vmlinux,
or a BTFHub .btf.tar.xz), one \`[id] KIND 'name' ...\` line per type, exactly as
bpftool 7.1.0 prints it.`,
  options: {},
  positionals: { name: 'FILE', min: 1, max: 1 },
  async run(args, io) {
    const btf = await loadBtfFile(args.positionals[0]!, io);
    // dumpRaw has one char per byte of the BTF strings: write them back as those bytes.
    io.stdout.write(Buffer.from(dumpRaw(btf), 'latin1'));
    return ExitCode.Ok;
  },
};
