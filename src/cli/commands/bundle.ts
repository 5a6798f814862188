/**
 * `btfhub bundle --archive DIR --out FILE.tar.gz OBJ...`: the trimmed BTF of OBJ... for
 * every kernel of a BTFHub-layout directory, as one `.tar.gz` (src/bundle/bundle.ts).
 */
import { availableParallelism } from 'node:os';
import { writeBundleFile, type BundleResult } from '../../bundle/bundle.js';
import { progressView } from '../../coverage/progress.js';
import { kernelLabel } from '../../kernels/archive-layout.js';
import type { Command } from '../command.js';
import { ExitCode, UsageError } from '../errors.js';
import { fileError } from '../files.js';
import { loadBpfObjects } from '../inputs.js';
import { ARCHIVE_OPTIONS, archiveKernelsFromArgs } from '../archive-options.js';
import { progressStream } from '../kernel-filter.js';

/** From this many kernels on, worker threads (about 0.25 s to start) pay for themselves. */
const MANY_KERNELS = 64;

export const bundleCommand: Command = {
  name: 'bundle',
  summary: 'trimmed BTFs of objects for every kernel of a BTFHub-layout directory, as one .tar.gz',
  usage: 'btfhub bundle --archive DIR --out FILE.tar.gz [--distro D] [--distro-version V] [--arch A] [--kernel PREFIX] OBJ...',
  description: `
Trims the kernel BTF of every (matching) kernel of the archive directory to what OBJ... need,
as \`bpftool gen min_core_btf\` would (byte for byte), checks each result resolves every
relocation as the full BTF does, and writes FILE.tar.gz holding
<distro>/<distro_version>/<arch>/<kernel>.btf: the directory an agent image ships (libbpf-tools'
btf_helpers and BTFHub's btfgen use this layout). Each kernel is read and decoded once.
Identical results are counted once ("distinct"). The file is written atomically.

A kernel that cannot be read, or whose trim libbpf would refuse (an ambiguous relocation), is
left out and listed; --strict makes that exit 1. Progress goes to stderr, the summary to stdout.`,
  options: {
    ...ARCHIVE_OPTIONS,
    out: { type: 'string', valueName: 'FILE', required: true, description: 'the .tar.gz to write' },
    'no-verify': { type: 'boolean', description: 'skip re-resolving the relocations against each trimmed BTF' },
    strict: { type: 'boolean', description: 'exit 1 when a kernel is left out' },
    threads: {
      type: 'string',
      valueName: 'N',
      description: `worker threads trimming kernels (default: one per core from ${MANY_KERNELS} kernels on, else 1)`,
    },
  },
  positionals: { name: 'OBJ', min: 1 },
  async run(args, io) {
    const objects = await loadBpfObjects(args.positionals, io);
    const { kernels, skipped, description } = await archiveKernelsFromArgs(args);
    const out = args.required('out');
    const threads =
      args.string('threads') === undefined
        ? kernels.length >= MANY_KERNELS
          ? availableParallelism()
          : 1
        : parseThreads(args.string('threads')!);
    const progress = progressView(progressStream(io), 'bundle');
    let result: BundleResult;
    try {
      result = await writeBundleFile(out, kernels, objects, {
        verify: !args.flag('no-verify'),
        threads,
        onProgress: (p) => progress.update(p.done, p.total, p.kernel && kernelLabel(p.kernel)),
      }).catch((error: unknown) => {
        throw fileError(out, error);
      });
    } finally {
      progress.finish();
    }
    for (const s of skipped) io.stderr.write(`btfhub bundle: skipped ${s.key}: ${s.reason}\n`);
    io.stdout.write(renderBundleSummary(result, out, description));
    return args.flag('strict') && result.failures.length > 0 ? ExitCode.Failure : ExitCode.Ok;
  },
};

function parseThreads(value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 256) throw new UsageError(`--threads ${value}: expected an integer from 1 to 256`);
  return n;
}

export function renderBundleSummary(r: BundleResult, out: string, archive: string): string {
  const lines = [
    `${out}: ${r.entries.length} kernels, ${r.distinct} distinct BTFs, ${r.bytes.archive} bytes ` +
      `(${r.bytes.trimmed} uncompressed, ${r.bytes.distinct} distinct) from ${archive} in ${(r.durationMs / 1000).toFixed(1)}s`,
  ];
  if (r.failures.length > 0) {
    lines.push(`left out (${r.failures.length}):`);
    for (const f of r.failures) lines.push(`  ${kernelLabel(f.ref)} (${f.stage}): ${f.message}`);
  }
  return `${lines.join('\n')}\n`;
}
