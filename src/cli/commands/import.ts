/**
 * `btfhub import SOURCE`: registers every kernel of a BTFHub-layout directory or
 * `s3://bucket/prefix` in the catalog of the configured deployment (src/kernels/import.ts).
 */
import { pino } from 'pino';
import { progressView } from '../../coverage/progress.js';
import { importKernels, ImportSourceError, openImportSource, type ImportSummary } from '../../kernels/import.js';
import { createBackends } from '../../service/backends.js';
import { StorageError } from '../../storage/index.js';
import type { Command } from '../command.js';
import { loadConfigWithDataFlag } from '../config-flags.js';
import { CliError, ExitCode } from '../errors.js';

export interface ImportCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Clock for the progress lines (tests). */
  now?: () => number;
}

export function createImportCommand(commandOptions: ImportCommandOptions = {}): Command {
  return {
    name: 'import',
    summary: 'register every kernel of a BTFHub-layout directory or s3://bucket/prefix in the catalog',
    usage: 'btfhub import [--data DIR] [--concurrency N] [--strict] SOURCE',
    description: `
Registers every kernel of SOURCE, a directory or s3://bucket/prefix in BTFHub archive layout
(<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz, or .btf), in the catalog of the
configured deployment (DATABASE_URL, S3_*, BTFHUB_DATA_DIR: see docs/CONFIGURATION.md).

Each file is decoded first; one that does not decode is reported with its key and the reason
and not registered. A source other than the service's own store (or its BTFHUB_ARCHIVE_DIR)
is copied into the store by content (kernel-files/<sha256>.<format>), so every worker can
read it: a changed file is written beside the old one, then the catalog switches to it; a
crash in between leaves the old kernel served. .failed and .hasbtf
markers are recorded per kernel; a symlinked release (ubuntu/focal -> 20.04) counts once.

Running it again adds nothing; a run that was interrupted continues where it stopped: files
whose size and modification time did not change since they were last imported are not read
again. Progress goes to stderr (a bar on a terminal), the summary to stdout.`,
    options: {
      data: { type: 'string', valueName: 'DIR', description: 'data directory (BTFHUB_DATA_DIR, default ./data)' },
      concurrency: { type: 'string', valueName: 'N', description: 'files read and decoded at once (default 4)' },
      strict: { type: 'boolean', description: 'exit 1 when a file is invalid' },
    },
    positionals: { name: 'SOURCE', min: 1, max: 1 },
    async run(args, io) {
      const config = loadConfigWithDataFlag(commandOptions.env ?? process.env, args.string('data'));
      const concurrency = parseCount(args.string('concurrency'));
      const source = await openImportSource(args.positionals[0]!, config).catch((error: unknown) => {
        throw error instanceof ImportSourceError ? new CliError(error.message) : error;
      });
      // Only the store, the archive and the catalog are opened; the summary and progress are the output, not logs.
      const backends = createBackends(config, { logger: pino({ level: 'silent' }) });
      const progress = progressView(io.stderr, 'import', { ...(commandOptions.now && { now: commandOptions.now }) });
      try {
        await source.check().catch((error: unknown) => {
          throw new CliError(`${source.description}: ${messageOf(error)}`);
        });
        const catalog = await backends.catalog();
        await catalog.migrate().catch((error: unknown) => {
          throw new CliError(`catalog (${config.database.kind}) migration failed: ${messageOf(error)}`);
        });
        const summary = await importKernels(source, { store: backends.serviceStore, archive: backends.archive }, catalog, {
          ...(concurrency !== undefined && { concurrency }),
          unpackedCopies: config.unpackAtImport,
          onProgress: (p) => progress.update(p.done, p.total, p.key),
        }).catch((error: unknown) => {
          // An unreachable store or database: one line, not a stack. Already-imported files are kept.
          throw error instanceof StorageError ? new CliError(`${error.message} (run again to continue)`) : error;
        });
        progress.finish();
        io.stdout.write(renderImportSummary(summary));
        return args.flag('strict') && summary.invalid.length > 0 ? ExitCode.Failure : ExitCode.Ok;
      } finally {
        progress.finish();
        await Promise.allSettled([backends.close(), source.close()]);
      }
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new CliError(`--concurrency ${value}: expected an integer from 1 to 64`);
  return n;
}

/** The summary printed at the end of an import. */
function renderImportSummary(s: ImportSummary): string {
  const lines = [
    `imported ${s.source}${s.copiedInto ? ` into ${s.copiedInto}` : ' in place'} in ${(s.durationMs / 1000).toFixed(1)}s`,
    `  added ${s.added}, updated ${s.updated}, unchanged ${s.unchanged}, invalid ${s.invalid.length}`,
    `  markers ${s.markers}, aliases ${s.aliases}, ignored ${s.ignored}, not re-read ${s.unread}, copied ${s.copied}`,
  ];
  if (s.invalid.length > 0) {
    lines.push('invalid files (not registered):');
    // Decoding errors already name the file; say it once.
    for (const { key, reason } of s.invalid)
      lines.push(`  ${key}: ${reason.startsWith(`${key}: `) ? reason.slice(key.length + 2) : reason}`);
  }
  return `${lines.join('\n')}\n`;
}

export const importCommand: Command = createImportCommand();
