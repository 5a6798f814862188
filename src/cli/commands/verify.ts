/**
 * `btfhub verify`: walks the catalog and the store of a deployment (src/kernels/verify.ts):
 * every stored file the catalog names is read and checked against its sha256, and what the
 * store holds that nothing names is listed. `--repair` removes what can be made again (trim
 * results, derived copies, the files of a compat or bundle job, orphans) and damaged objects;
 * damaged or missing kernels are only reported (upload or import them again). Progress goes to stderr on long walks.
 *
 * Exit status: 0 when nothing is left to do, 1 when findings remain.
 */
import { pino } from 'pino';
import { verifyStore, type VerifyProgress } from '../../kernels/verify.js';
import { createBackends } from '../../service/backends.js';
import type { Command } from '../command.js';
import { loadConfigWithDataFlag } from '../config-flags.js';
import { ExitCode } from '../errors.js';

export interface VerifyCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Least time between two progress lines, ms (default 1000). */
  progressIntervalMs?: number;
}

export function createVerifyCommand(commandOptions: VerifyCommandOptions = {}): Command {
  return {
    name: 'verify',
    summary: 'check every stored file against the catalog: missing, damaged, orphaned (--repair fixes)',
    usage: 'btfhub verify [--data DIR] [--repair]',
    description: `
Reads every kernel file, trimmed result, uploaded object, derived copy, compat report and
bundle the catalog names and checks it against its recorded sha256; lists the files of the
store no catalog row names. --repair removes what is made again on demand (trim results,
derived copies: their rows too; a compat or bundle job with a missing or damaged file: all its
files and rows, which submitting the request again makes again), damaged objects (stored again
when a client sends them) and orphans older than 10 minutes.
Damaged or missing kernels are reported only: upload or import them again. The deployment is
the configured one (DATABASE_URL, S3_*, BTFHUB_DATA_DIR). Exit 0 when nothing is left to do.`,
    options: {
      data: { type: 'string', valueName: 'DIR', description: 'data directory (BTFHUB_DATA_DIR, default ./data)' },
      repair: { type: 'boolean', description: 'remove what can be made again, damaged objects and orphans' },
    },
    positionals: { name: 'argument', min: 0, max: 0 },
    async run(args, io) {
      const config = loadConfigWithDataFlag(commandOptions.env ?? process.env, args.string('data'));
      const backends = createBackends(config, { logger: pino({ level: 'silent' }) });
      try {
        const { store, catalog } = await backends.prepare();
        const interval = commandOptions.progressIntervalMs ?? 1000;
        let last = 0;
        const onProgress = (p: VerifyProgress) => {
          const now = Date.now();
          if (now - last < interval && p.done !== p.total) return;
          last = now;
          io.stderr.write(`verify: ${p.phase} ${p.done}/${p.total}\n`);
        };
        const report = await verifyStore(store, catalog, { repair: args.flag('repair'), onProgress, serviceStore: backends.serviceStore });
        for (const f of report.findings) io.stdout.write(`${f.repaired ? 'repaired' : f.problem} ${f.kind} ${f.key}: ${f.note}\n`);
        const c = report.checked;
        io.stdout.write(
          `checked ${c.kernel} kernels, ${c.trim_result} trims, ${c.object} objects, ${c.derived} derived copies, ${c.job_file} job files, ` +
            `${c.stored} stored files: ` +
            `${report.findings.length} findings, ${report.unresolved} left\n`,
        );
        return report.unresolved === 0 ? ExitCode.Ok : ExitCode.Failure;
      } finally {
        await backends.close();
      }
    },
  };
}

export const verifyCommand: Command = createVerifyCommand();
