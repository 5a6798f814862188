import { GenerateError } from '../../generate/errors.js';
import { DEFAULT_GENERATION_LIMITS, generateKernelBtf, type GeneratedKernelBtf } from '../../generate/generate.js';
import { formForPath, kernelBtfFileBytes } from '../../generate/output.js';
import type { Command } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: "make kernel BTF from a debug vmlinux or a distribution's debug package (pahole)",
  usage: 'btfhub generate [--kernel RELEASE] --out OUT FILE',
  description: `
Makes the full BTF of a kernel that no archive has, as BTFHub's maintainers do by hand:
FILE is a vmlinux with DWARF, a Debian/Ubuntu debug package (.deb/.ddeb: linux-image-*-dbg,
linux-image-*-dbgsym) or an RPM (kernel-debuginfo, kernel-uek-debuginfo,
kernel-default-debuginfo). The vmlinux is found where distributions put it
(/usr/lib/debug/boot/vmlinux-REL, /usr/lib/debug/lib/modules/REL/vmlinux,
/usr/lib/debug/boot/vmlinux-REL.debug) and streamed out alone, within bounds on size and
time; the release comes from that path, or from --kernel, which must agree with it.
pahole (Debian's dwarves, 1.22 or later) encodes the BTF with flags older libbpf can read:
no ENUM64, no type or decl tags unless --tags. The result must decode and have the core
kernel types before anything is written. OUT ending in .btf.tar.xz gets BTFHub's archive
form (one <release>.btf inside); any other name gets raw BTF. See docs/GENERATE.md.`,
  options: {
    out: { type: 'string', valueName: 'OUT', required: true, description: 'write the BTF to OUT (raw, or .btf.tar.xz), atomically' },
    kernel: {
      type: 'string',
      valueName: 'RELEASE',
      description: 'the kernel release (uname -r); required for a vmlinux not named vmlinux-RELEASE',
    },
    tags: { type: 'boolean', description: 'keep BTF type and decl tags (readable by libbpf 0.6+ only)' },
    timeout: {
      type: 'string',
      valueName: 'SECONDS',
      description: `bound on extraction and, separately, on pahole (default ${DEFAULT_GENERATION_LIMITS.paholeTimeoutMs / 1000})`,
    },
    pahole: { type: 'string', valueName: 'PATH', description: 'the pahole to run (default: pahole from PATH)' },
    json: { type: 'boolean', description: 'print what was made and from what (provenance) as JSON on stdout' },
    quiet: { type: 'boolean', short: 'q', description: 'no progress lines on stderr' },
  },
  positionals: { name: 'FILE', min: 1, max: 1 },
  async run(args, io) {
    const file = args.positionals[0]!;
    const out = args.required('out');
    const timeoutMs = parseSeconds(args.string('timeout'));
    const quiet = args.flag('quiet');
    let result: GeneratedKernelBtf;
    try {
      result = await generateKernelBtf(
        { file, ...(args.string('kernel') !== undefined ? { kernel: args.required('kernel') } : {}) },
        {
          tags: args.flag('tags'),
          ...(args.string('pahole') !== undefined ? { paholePath: args.required('pahole') } : {}),
          ...(timeoutMs !== undefined ? { limits: { extractTimeoutMs: timeoutMs, paholeTimeoutMs: timeoutMs } } : {}),
          onProgress: (event) => {
            if (!quiet) io.stderr.write(`btfhub generate: ${event.message}\n`);
          },
        },
      );
    } catch (err) {
      // The library's typed error is the message the user needs; the code leads it.
      if (err instanceof GenerateError) throw new CliError(`${err.message} [${err.code}]`, { cause: err });
      throw err;
    }
    const form = formForPath(out);
    const bytes = await kernelBtfFileBytes(result, form);
    await io.writeFileAtomic(out, bytes);
    if (!quiet) {
      io.stderr.write(
        `btfhub generate: wrote ${out}: kernel ${result.release}, ${result.typeCount} types, ${result.btf.length} bytes of BTF` +
          `${form === 'raw' ? '' : ` (${bytes.length} bytes as ${form})`}\n`,
      );
    }
    if (args.flag('json')) io.stdout.write(`${JSON.stringify({ out, form, ...result, btf: undefined }, null, 2)}\n`);
    return ExitCode.Ok;
  },
};

function parseSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(seconds > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got '${text}'`);
  return Math.round(seconds * 1000);
}
