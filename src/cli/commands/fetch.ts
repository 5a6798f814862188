import type { BtfhubClientOptions } from '../../client/client.js';
import { fetchBtf, reportJson, writeCreatingDirectory, type FetchReport } from '../../fetch/chain.js';
import { DEFAULT_SERVICE_TIMEOUT_MS } from '../../fetch/layer.js';
import type { HostProbeOptions } from '../../identity/host.js';
import type { Command } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

/** What the command reads besides its arguments; tests pass their own. */
export interface FetchCommandDeps {
  env?: NodeJS.ProcessEnv;
  host?: Pick<HostProbeOptions, 'unameRelease' | 'unameMachine'>;
  client?: Omit<BtfhubClientOptions, 'baseUrl'>;
}

export const ENV = {
  btf: 'BTFHUB_BTF_PATH',
  dir: 'BTFHUB_BTF_DIR',
  server: 'BTFHUB_URL',
  offline: 'BTFHUB_OFFLINE',
} as const;

export function createFetchCommand(deps: FetchCommandDeps = {}): Command {
  return {
    name: 'fetch',
    summary: 'get the BTF this host needs for CO-RE objects: configured file, kernel, bundle, service',
    usage: 'btfhub fetch --object OBJ... [--out PATH] [--json] [--btf FILE] [--dir DIR|FILE.tar.gz] [--server URL] [--offline] [--trim]',
    description: `
Finds the BTF for this host in four layers and stops at the first that answers with
something that decodes as BTF:
  1. configured  --btf FILE or ${ENV.btf}
  2. kernel      /sys/kernel/btf/vmlinux (under --root): the kernel has its own BTF and
                 nothing needs fetching (nothing is written); --trim writes a trimmed copy
  3. bundle      --dir or ${ENV.dir}: a directory or .tar.gz of trimmed BTFs in the layout
                 <distro>/<distro_version>/<arch>/<kernel>.btf (exact kernel only)
  4. service     --server or ${ENV.server}: POST /api/v1/btf, following a 202 until the
                 trim is done (at most --timeout seconds); skipped with --offline
                 or ${ENV.offline}=1
Each layer's outcome goes to stderr (and, with --json, a report to stdout, always: a write
that fails is in it). The BTF is written to --out atomically, only once it decodes; a
missing directory of --out is created. Without --out it goes to stdout. Layer 2 without
--trim reads only the header of the kernel's BTF (libbpf reads the rest itself).
The host is identified from /etc/os-release (or /host/etc/os-release when the host's
root is mounted there), uname -m and uname -r; every part can be given instead.
Exit status 0 when a layer answered, 1 when none did.`,
    options: {
      object: {
        type: 'string',
        valueName: 'OBJ',
        multiple: true,
        description: 'a compiled BPF CO-RE object (or give OBJ... as arguments)',
      },
      out: { type: 'string', valueName: 'PATH', description: 'write the BTF to PATH (atomically)' },
      json: { type: 'boolean', description: 'print a JSON report on stdout: which layer answered, why the others did not' },
      btf: {
        type: 'string',
        valueName: 'FILE',
        description: `layer 1: a BTF file to use (raw, ELF with .BTF or .btf.tar.xz; env ${ENV.btf})`,
      },
      dir: { type: 'string', valueName: 'DIR', description: `layer 3: a bundle directory or .tar.gz (env ${ENV.dir})` },
      server: { type: 'string', valueName: 'URL', description: `layer 4: the btfhub-online service (env ${ENV.server})` },
      offline: { type: 'boolean', description: `never ask the service (env ${ENV.offline}=1)` },
      trim: { type: 'boolean', description: 'trim a full kernel BTF found locally (layers 1-3) for OBJ with our codec' },
      timeout: {
        type: 'string',
        valueName: 'SECONDS',
        description: `bound on the service exchange (default ${DEFAULT_SERVICE_TIMEOUT_MS / 1000})`,
      },
      root: { type: 'string', valueName: 'DIR', description: "the host's filesystem root, e.g. /host in a container (default /)" },
      distro: {
        type: 'string',
        valueName: 'ID',
        description: 'the distribution instead of os-release (ubuntu, debian, centos, amzn, ...)',
      },
      'distro-version': { type: 'string', valueName: 'VER', description: 'the release instead of os-release (22.04, 11, 8, 2, ...)' },
      arch: { type: 'string', valueName: 'ARCH', description: 'the architecture instead of uname -m (x86_64, arm64)' },
      kernel: { type: 'string', valueName: 'RELEASE', description: 'the kernel release instead of uname -r' },
      quiet: { type: 'boolean', short: 'q', description: 'no progress lines on stderr' },
    },
    positionals: { name: 'OBJ', min: 0 },
    async run(args, io) {
      const env = deps.env ?? process.env;
      const objectPaths = [...args.strings('object'), ...args.positionals];
      if (objectPaths.length === 0) throw new UsageError('give at least one BPF object (--object OBJ)');
      const out = args.string('out');
      const json = args.flag('json');
      if (out === undefined && json) throw new UsageError('--json prints the report on stdout: give --out PATH for the BTF');
      const timeoutMs = parseTimeout(args.string('timeout'));
      const quiet = args.flag('quiet');

      const objects = [];
      for (const path of objectPaths) objects.push({ name: path, bytes: await io.readFile(path) });

      const { report, btf } = await fetchBtf({
        objects,
        btfPath: args.string('btf') ?? nonEmpty(env[ENV.btf]),
        dir: args.string('dir') ?? nonEmpty(env[ENV.dir]),
        server: args.string('server') ?? nonEmpty(env[ENV.server]),
        offline: args.flag('offline') || isTrue(env[ENV.offline]),
        trim: args.flag('trim'),
        root: args.string('root'),
        overrides: {
          distro: args.string('distro'),
          distroVersion: args.string('distro-version'),
          arch: args.string('arch'),
          kernel: args.string('kernel'),
        },
        host: deps.host,
        client: deps.client,
        timeoutMs,
        ...(out !== undefined && {
          out,
          write: (path: string, data: Uint8Array) => writeCreatingDirectory(path, data, io.writeFileAtomic),
        }),
        log: quiet ? undefined : (line) => io.stderr.write(`btfhub fetch: ${line}\n`),
      });

      // The report always goes out with --json: a failed write is in it (`error`), like every layer's outcome.
      if (json) io.stdout.write(`${JSON.stringify(reportJson(report), null, 2)}\n`);
      else if (btf !== null && out === undefined) {
        // Checked only now: when the kernel's own BTF answers, nothing goes to stdout at all.
        if (io.stdoutIsTTY) throw new CliError('refusing to write binary BTF to a terminal; use --out PATH or redirect stdout');
        io.stdout.write(btf);
      }
      if (report.error !== null) {
        io.stderr.write(`btfhub fetch: ${report.layer} answered, but ${report.error}\n`);
        return ExitCode.Failure;
      }
      if (!report.ok) {
        io.stderr.write(`btfhub fetch: no layer answered${quiet ? `: ${failureSummary(report)}` : ''}\n`);
        return ExitCode.Failure;
      }
      if (!quiet) io.stderr.write(`btfhub fetch: ${outcomeLine(report)}\n`);
      return ExitCode.Ok;
    },
  };
}

export const fetchCommand: Command = createFetchCommand();

function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got '${value}'`);
  return Math.round(seconds * 1000);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

function failureSummary(report: FetchReport): string {
  return report.layers.map((l) => `${l.layer}: ${l.reason ?? l.outcome}`).join('; ');
}

function outcomeLine(report: FetchReport): string {
  if (report.out !== null) return `wrote ${report.size} bytes of ${report.form} BTF to ${report.out}`;
  if (report.size === null) return `use the kernel's own BTF (${report.path}); nothing written`;
  return `wrote ${report.size} bytes of ${report.form} BTF to stdout`;
}
