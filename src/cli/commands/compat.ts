/**
 * `btfhub compat (--server URL | --archive DIR) OBJ...`: which CO-RE relocations of OBJ...
 * resolve on which kernels, as a CI gate. With --server the service makes the report (POST
 * /api/v1/compat, its job followed through GET /api/v1/jobs/{id}, the report from GET
 * /api/v1/compat/{id}); with --archive this process makes it from a BTFHub-layout directory
 * (src/coverage/compat.ts). Either way the report has the API's shape and goes through the
 * same gate and formats (../compat-report.ts).
 *
 * Exit status: 0 when nothing fails the gate, 1 when something does, 2 when the command
 * could not answer (usage, an unreadable object or archive, a service that fails or cannot
 * be reached): a CI job can tell "the objects fail" from "the check did not run".
 */
import type { BtfhubClientOptions } from '../../client/client.js';
import { BtfhubError } from '../../client/errors.js';
import type { CompatFilterInput } from '../../client/types.js';
import { FILTER_OPTIONS, kernelFilterFromArgs, progressStream } from '../kernel-filter.js';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import {
  COMPAT_FORMATS,
  evaluateGate,
  FAIL_ON,
  gateSummary,
  renderCompat,
  type CompatFormat,
  type CompatReportBody,
} from '../compat-report.js';
import { ExitCode, isUserFacingError, UsageError } from '../errors.js';

/** What the command reads besides its arguments; tests pass their own. */
export interface CompatCommandDeps {
  client?: Omit<BtfhubClientOptions, 'baseUrl'>;
}

/** A compat job over every kernel of a service takes minutes; this bounds the whole exchange. */
export const DEFAULT_COMPAT_TIMEOUT_S = 600;

/** Attempts per request: a dead service answers exit 2 within a second, a restarting one gets a retry. */
const SERVICE_ATTEMPTS = 3;

export function createCompatCommand(deps: CompatCommandDeps = {}): Command {
  return {
    name: 'compat',
    summary: 'which CO-RE relocations of objects resolve on which kernels: a BTFHub-layout directory or the service',
    usage:
      'btfhub compat (--server URL | --archive DIR) [--distro D] [--distro-version V] [--arch A] [--kernel PREFIX] ' +
      '[--format text|json|junit|github] [--fail-on unresolved|unloadable|never] OBJ...',
    description: `
Resolves every CO-RE relocation of OBJ... against every kernel (each decoded once) the way
libbpf 1.1 does, and classifies each outcome: resolved, field_missing, type_missing,
enum_missing, ambiguous, or error (other libbpf refusals). The kernels are the service's
(--server URL: POST /api/v1/compat, followed to its end, with a progress line on stderr
when it is a terminal) or those of a BTFHub-layout directory (--archive DIR).

--format text   a table per distro / release / arch, then each relocation that does not
                resolve everywhere, the kernels where libbpf would refuse an object, and the
                kernels that could not be read (default)
--format json   the report as the API serves it (openapi.yaml CompatReport)
--format junit  one <testsuite> per object, one <testcase> per kernel, a <failure> naming
                each relocation that fails there (e.g. field_missing task_struct.x); an
                unreadable kernel is <skipped>
--format github ::error / ::warning annotations for GitHub Actions, and a ::notice summary

The gate, --fail-on: unresolved (default) fails when a relocation does not resolve on some
kernel; unloadable only when libbpf would refuse an object (ambiguous, error); never does
not fail. Kernels that could not be read are reported, never counted.
Exit status: 0 nothing fails, 1 something fails the gate, 2 the check could not run (usage,
an unreadable object or archive, the service failing or unreachable).`,
    options: {
      server: { type: 'string', valueName: 'URL', description: 'the btfhub-online service whose kernels to check against' },
      archive: {
        type: 'string',
        valueName: 'DIR',
        description: 'instead: a directory in BTFHub archive layout (a btfhub-archive checkout)',
      },
      ...FILTER_OPTIONS,
      format: { type: 'string', valueName: 'F', description: `report format: ${COMPAT_FORMATS.join(', ')} (default text)` },
      'fail-on': { type: 'string', valueName: 'WHAT', description: `exit 1 on: ${FAIL_ON.join(', ')} (default unresolved)` },
      json: { type: 'boolean', description: 'the same as --format json' },
      timeout: {
        type: 'string',
        valueName: 'SECONDS',
        description: `with --server: bound on the whole exchange (default ${DEFAULT_COMPAT_TIMEOUT_S})`,
      },
      cache: {
        type: 'string',
        valueName: 'DIR',
        description: 'with --archive: keep each unpacked .btf.tar.xz here and reuse it next time (no xz on later runs)',
      },
    },
    positionals: { name: 'OBJ', min: 1 },
    async run(args, io) {
      const format = parseFormat(args);
      const failOn = parseChoice(args.string('fail-on'), FAIL_ON, '--fail-on') ?? 'unresolved';
      const server = args.string('server');
      const archive = args.string('archive');
      if ((server === undefined) === (archive === undefined)) throw new UsageError('give either --server URL or --archive DIR');
      if (server !== undefined && args.string('cache') !== undefined) throw new UsageError('--cache goes with --archive, not --server');
      if (archive !== undefined && args.string('timeout') !== undefined)
        throw new UsageError('--timeout goes with --server, not --archive');
      const timeoutMs = parseTimeout(args.string('timeout'));

      let made: { report: CompatReportBody; source: string };
      try {
        made = server !== undefined ? await remoteReport(server, args, io, timeoutMs, deps) : await localReport(args, io);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        if (!isCommandError(error)) throw error;
        io.stderr.write(`btfhub compat: ${error.message}\n`);
        return ExitCode.Usage;
      }
      io.stdout.write(renderCompat(made.report, format, { source: made.source, failOn }));
      const gate = evaluateGate(made.report, failOn);
      io.stderr.write(`btfhub compat: ${gateSummary(made.report, gate, failOn)}\n`);
      return gate.failed ? ExitCode.Failure : ExitCode.Ok;
    },
  };
}

export const compatCommand: Command = createCompatCommand();

/** Errors that mean "the check could not run": worded for the user, exit 2. */
function isCommandError(error: unknown): error is Error {
  return isUserFacingError(error) || error instanceof BtfhubError;
}

function parseFormat(args: ParsedArgs): CompatFormat {
  const format = parseChoice(args.string('format'), COMPAT_FORMATS, '--format');
  if (args.flag('json') && format !== undefined && format !== 'json') throw new UsageError(`--json and --format ${format} disagree`);
  return args.flag('json') ? 'json' : (format ?? 'text');
}

function parseChoice<T extends string>(value: string | undefined, choices: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${option} ${value}: expected one of ${choices.join(', ')}`);
  return value as T;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_COMPAT_TIMEOUT_S * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got '${value}'`);
  return Math.round(seconds * 1000);
}

/** The report made by the service. */
async function remoteReport(
  server: string,
  args: ParsedArgs,
  io: CommandIo,
  timeoutMs: number,
  deps: CompatCommandDeps,
): Promise<{ report: CompatReportBody; source: string }> {
  const filter = kernelFilterFromArgs(args);
  // The service decides; the objects are only checked here so a bad one is named before any upload.
  const [{ BtfhubClient }, { parseBpfObject }, { progressView }] = await Promise.all([
    import('../../client/client.js'),
    import('../../btf/object.js'),
    import('../../coverage/progress.js'),
  ]);
  const objects = [];
  for (const path of args.positionals) {
    const bytes = await io.readFile(path);
    parseBpfObject(bytes, path);
    objects.push({ name: path, bytes });
  }
  let client: InstanceType<typeof BtfhubClient>;
  try {
    client = new BtfhubClient({
      maxAttempts: SERVICE_ATTEMPTS,
      ...deps.client,
      baseUrl: server,
      onRetry: (event) => {
        io.stderr.write(`btfhub compat: ${event.method} ${event.url}: ${event.reason}, retry in ${event.delayMs} ms\n`);
        deps.client?.onRetry?.(event);
      },
    });
  } catch (error) {
    throw new UsageError(`--server ${server}: not a service URL (${error instanceof Error ? error.message : String(error)})`);
  }
  const stream = progressStream(io);
  // A progress line only on a terminal: a CI log gets the summary, not a line every few seconds.
  const progress = stream.isTTY ? progressView(stream, 'compat') : undefined;
  const wanted: CompatFilterInput = {
    ...(filter.distro !== undefined && { distro: filter.distro }),
    ...(filter.distroVersion !== undefined && { distroVersion: filter.distroVersion }),
    ...(filter.arch !== undefined && { arch: filter.arch }),
    ...(filter.kernelPrefix !== undefined && { kernelPrefix: filter.kernelPrefix }),
  };
  try {
    const report = await client.compat(objects, wanted, {
      timeoutMs,
      onProgress: (job) => {
        if (job.progress) progress?.update(job.progress.done, job.progress.total, job.state);
      },
    });
    return { report, source: client.baseUrl.toString() };
  } finally {
    progress?.finish();
  }
}

/** The report made here from --archive. */
async function localReport(args: ParsedArgs, io: CommandIo): Promise<{ report: CompatReportBody; source: string }> {
  const [{ archiveKernelsFromArgs }, { loadBpfObjects }, { compatReport }, { progressView }, { kernelLabel }, { compatReportBody }] =
    await Promise.all([
      import('../archive-options.js'),
      import('../inputs.js'),
      import('../../coverage/compat.js'),
      import('../../coverage/progress.js'),
      import('../../kernels/archive-layout.js'),
      import('../../coverage/compat-report.js'),
    ]);
  const filter = kernelFilterFromArgs(args);
  const objects = await loadBpfObjects(args.positionals, io);
  const { kernels, skipped, description } = await archiveKernelsFromArgs(args);
  const progress = progressView(progressStream(io), 'compat');
  let report;
  try {
    report = await compatReport(kernels, objects, {
      onProgress: (p) => progress.update(p.done, p.total, p.kernel && kernelLabel(p.kernel)),
    });
  } finally {
    progress.finish();
  }
  for (const s of skipped) io.stderr.write(`btfhub compat: skipped ${s.key}: ${s.reason}\n`);
  return { report: compatReportBody('local', filter, report), source: description };
}
