/**
 * `btfhub compat --archive DIR OBJ...`: which CO-RE relocations of OBJ... resolve on which
 * kernels of a BTFHub-layout directory (src/coverage/compat.ts), as a table or as JSON.
 */
import { basename } from 'node:path';
import type { KernelFilter } from '../../catalog/catalog.js';
import { compatReport, RELOCATION_CLASSES, type ClassCounts, type CompatReport } from '../../coverage/compat.js';
import { archiveKernels, type ArchiveKernels } from '../../coverage/kernel-source.js';
import { progressView, type ProgressStream } from '../../coverage/progress.js';
import { IdentityError, normalizeArch, normalizeDistro, normalizeDistroVersion, validateIdentityValue } from '../../identity/index.js';
import { kernelLabel } from '../../kernels/archive-layout.js';
import { FsObjectStore } from '../../storage/fs-store.js';
import type { Command, CommandIo, OptionSpec, ParsedArgs } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { loadBpfObjects } from '../inputs.js';

/** The archive and kernel-filter options compat and bundle share. */
export const ARCHIVE_OPTIONS: Record<string, OptionSpec> = {
  archive: { type: 'string', valueName: 'DIR', required: true, description: 'a directory in BTFHub archive layout (a btfhub-archive checkout)' },
  distro: { type: 'string', valueName: 'D', description: 'only this distribution (ubuntu, debian, centos, amzn...)' },
  'distro-version': { type: 'string', valueName: 'V', description: 'only this release (20.04, focal, 11...); needs --distro' },
  arch: { type: 'string', valueName: 'A', description: 'only this architecture (x86_64, arm64)' },
  kernel: { type: 'string', valueName: 'PREFIX', description: 'only kernels whose release starts with PREFIX' },
  cache: {
    type: 'string', valueName: 'DIR',
    description: 'keep each unpacked .btf.tar.xz here (derived/<sha256>/<kernel>.btf) and reuse it next time: no xz on later runs',
  },
};

/** The filter the options give, normalized like every other identity (aliases accepted). */
export function kernelFilterFromArgs(args: ParsedArgs): KernelFilter {
  try {
    const filter: KernelFilter = {};
    const distro = args.string('distro');
    const version = args.string('distro-version');
    const arch = args.string('arch');
    const kernel = args.string('kernel');
    if (distro !== undefined) filter.distro = normalizeDistro(distro);
    if (version !== undefined) {
      if (filter.distro === undefined) throw new UsageError('--distro-version needs --distro');
      filter.distroVersion = normalizeDistroVersion(filter.distro as Parameters<typeof normalizeDistroVersion>[0], version);
    }
    if (arch !== undefined) filter.arch = normalizeArch(arch);
    if (kernel !== undefined) filter.kernelPrefix = validateIdentityValue('kernel_version', kernel);
    return filter;
  } catch (error) {
    if (error instanceof IdentityError) throw new UsageError(error.message);
    throw error;
  }
}

/** The kernels of --archive matching the filter; an error when there are none. */
export async function archiveKernelsFromArgs(args: ParsedArgs): Promise<ArchiveKernels & { description: string }> {
  const filter = kernelFilterFromArgs(args);
  const store = new FsObjectStore(args.required('archive'));
  await store.check().catch((error: unknown) => {
    throw new CliError(`--archive ${args.required('archive')}: ${error instanceof Error ? error.message : String(error)}`);
  });
  const cache = args.string('cache');
  const found = await archiveKernels(store, filter, cache === undefined ? {} : { rawCache: new FsObjectStore(cache) });
  if (found.kernels.length === 0) throw new CliError(`no kernel in ${store.description} matches the filter`);
  return { ...found, description: store.description };
}

/** stderr as a progress stream (Node's process.stderr says whether it is a terminal). */
export function progressStream(io: CommandIo): ProgressStream {
  const stderr = io.stderr as CommandIo['stderr'] & { isTTY?: boolean; columns?: number };
  return { write: (s) => stderr.write(s), isTTY: stderr.isTTY === true, ...(stderr.columns !== undefined && { columns: stderr.columns }) };
}

export const compatCommand: Command = {
  name: 'compat',
  summary: 'which CO-RE relocations of objects resolve on which kernels of a BTFHub-layout directory',
  usage: 'btfhub compat --archive DIR [--distro D] [--distro-version V] [--arch A] [--kernel PREFIX] [--json] OBJ...',
  description: `
Resolves every CO-RE relocation of OBJ... against every kernel of the archive directory (each
decoded once) the way libbpf 1.1 does, and classifies each outcome: resolved, field_missing,
type_missing, enum_missing, ambiguous, or error (other libbpf refusals). Prints a table per
distro / release / arch (kernels; those where every object loads; where every relocation
resolves; kernels with each problem), then each relocation that does not resolve everywhere,
then the kernels that could not be read. --json prints the whole report instead, every
relocation on every kernel included.`,
  options: {
    ...ARCHIVE_OPTIONS,
    json: { type: 'boolean', description: 'print the full report as JSON' },
  },
  positionals: { name: 'OBJ', min: 1 },
  async run(args, io) {
    const objects = await loadBpfObjects(args.positionals, io);
    const { kernels, skipped, description } = await archiveKernelsFromArgs(args);
    const progress = progressView(progressStream(io), 'compat');
    let report: CompatReport;
    try {
      report = await compatReport(kernels, objects, { onProgress: (p) => progress.update(p.done, p.total, p.kernel && kernelLabel(p.kernel)) });
    } finally {
      progress.finish();
    }
    for (const s of skipped) io.stderr.write(`btfhub compat: skipped ${s.key}: ${s.reason}\n`);
    io.stdout.write(args.flag('json') ? `${JSON.stringify(report, null, 2)}\n` : renderCompatReport(report, description));
    return ExitCode.Ok;
  },
};

const PROBLEMS = RELOCATION_CLASSES.filter((c) => c !== 'resolved');

/** The table form of a report. */
export function renderCompatReport(report: CompatReport, archive: string): string {
  const out: string[] = [];
  const relocs = report.objects.map((o) => `${basename(o.name)} (${o.relocations} relocations)`).join(', ');
  const unreadable = report.kernels.filter((k) => k.loadError !== undefined).length;
  out.push(`${relocs} on ${report.kernels.length} kernels of ${archive}${unreadable ? ` (${unreadable} unreadable)` : ''}`, '');

  const header = ['distro', 'release', 'arch', 'kernels', 'loads', 'all_resolved', ...PROBLEMS, 'unreadable'];
  const rows = report.groups.map((g) => [
    g.distro, g.distroVersion, g.arch, String(g.kernels), String(g.loadable), String(g.allResolved),
    ...PROBLEMS.map((c) => String(g.kernelsWith[c])), String(g.unreadable),
  ]);
  out.push(...table([header, ...rows]), '');

  const readable = report.kernels.length - unreadable;
  const problems = report.relocations
    .map((info, i) => ({ info, counts: report.byRelocation[i]!, index: i }))
    .filter(({ counts }) => counts.resolved < readable);
  if (problems.length === 0) {
    out.push(`every relocation resolves on every readable kernel`);
  } else {
    out.push(`relocations that do not resolve everywhere (kernels out of ${readable}):`);
    out.push(
      ...table([
        ['object', 'section', 'relo', 'kind', 'path', 'outcomes', 'for example'],
        ...problems.map(({ info, counts, index }) => {
          const example = report.kernels.find((k) => k.results[index] && k.results[index]!.class !== 'resolved');
          return [
            basename(info.object), info.section, `#${info.index}`, info.kind, info.path, describeCounts(counts),
            example ? kernelLabel(example.ref) : '',
          ];
        }),
      ]),
    );
  }
  const refused = report.kernels.filter((k) => k.failedObjects.length > 0);
  if (refused.length > 0) {
    out.push('', 'kernels where libbpf would refuse an object:');
    for (const k of refused) {
      const first = k.results.find((r) => r.class === 'ambiguous' || r.class === 'error');
      out.push(`  ${kernelLabel(k.ref)}: ${first?.reason ?? k.failedObjects.join(', ')}`);
    }
  }
  const failed = report.kernels.filter((k) => k.loadError !== undefined);
  if (failed.length > 0) {
    out.push('', 'kernels that could not be read:');
    for (const k of failed) out.push(`  ${k.loadError}`);
  }
  return `${out.join('\n')}\n`;
}

function describeCounts(counts: ClassCounts): string {
  return RELOCATION_CLASSES.filter((c) => counts[c] > 0).map((c) => `${c} ${counts[c]}`).join(', ');
}

/** Rows as left-aligned columns separated by two spaces. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}
