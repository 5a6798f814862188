import { trimBtf } from '../../btf/trim.js';
import type { Command } from '../command.js';
import { CliError, ExitCode } from '../errors.js';
import { loadBpfObjects, loadBtfFile } from '../inputs.js';

export const trimCommand: Command = {
  name: 'trim',
  summary: 'trim kernel BTF to the types CO-RE objects need (bpftool gen min_core_btf)',
  usage: 'btfhub trim --btf FULL [--out OUT] OBJ...',
  description: `
Keeps only the kernel types that the CO-RE relocations of OBJ... resolve against, and
writes them as raw BTF: the same bytes as \`bpftool gen min_core_btf FULL OUT OBJ...\`.
Without --out the BTF goes to stdout (not to a terminal). A relocation bpftool aborts on
(ambiguous candidates, an anonymous root, a marking that reaches FWD/FUNC/VAR/DATASEC/TAGs)
fails the whole run, as in bpftool, unless --skip-failing is given: then each such relocation
is reported on stderr and left out.`,
  options: {
    btf: {
      type: 'string',
      valueName: 'FULL',
      required: true,
      description: 'kernel BTF: raw BTF, an ELF with .BTF, or a BTFHub .btf.tar.xz',
    },
    out: { type: 'string', valueName: 'OUT', description: 'write the trimmed BTF to OUT (atomically: temp file, then rename)' },
    'skip-failing': { type: 'boolean', description: 'report relocations bpftool aborts on and go on without them' },
  },
  positionals: { name: 'OBJ', min: 1 },
  async run(args, io) {
    const out = args.string('out');
    // Checked before the work: trimming a kernel takes a while, and the answer would be lost.
    if (out === undefined && io.stdoutIsTTY)
      throw new CliError('refusing to write binary BTF to a terminal; use --out OUT or redirect stdout');
    const target = await loadBtfFile(args.required('btf'), io);
    const objects = await loadBpfObjects(args.positionals, io);
    const skipped = (error: Error) => io.stderr.write(`btfhub trim: skipped: ${error.message}\n`);
    const trimmed = trimBtf(target, objects, args.flag('skip-failing') ? { onSkippedRelocation: skipped } : {});
    if (out === undefined) io.stdout.write(trimmed);
    else await io.writeFileAtomic(out, trimmed);
    return ExitCode.Ok;
  },
};
