/**
 * `btfhub serve`: the HTTP API, and, without REDIS_URL, every kind of job in the same process.
 *
 * Wiring: configuration (environment, flags on top; logged once, redacted) -> backends
 * (src/service/backends.ts: store, catalog migrated, job queue) -> the kernels of the archive
 * and of this host registered -> the sync schedule -> `buildApp` -> listen.
 *
 * SIGTERM or SIGINT (src/service/lifecycle.ts) stops accepting connections (requests still
 * arriving on open connections are answered 503 with Connection: close), lets in-flight
 * requests and running jobs finish within BTFHUB_SHUTDOWN_GRACE_MS, closes the backends, and
 * exits 0. Past the grace period the remaining connections are closed and the status is 1;
 * a watchdog ends the process shortly after if anything still holds it. A second signal
 * exits at once with 1.
 *
 * `--archive DIR` (a btfhub-archive checkout) is read as is and never written to: reads fall
 * back to it (src/storage/archive-overlay.ts), so kernels registered from it are found by the
 * jobs while uploads, trimmed results and the host kernel land in the service's store.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { buildApp } from '../../api/app.js';
import { ServiceMetrics } from '../../api/metrics.js';
import { setMaxUncompressedBytes } from '../../archive/kernel-btf.js';
import { type Config, redactConfig, unknownBtfhubVariables } from '../../config/schema.js';
import type { registerHostKernel } from '../../kernels/registry.js';
import { kernelCheckOn } from '../../executor/kernel-check.js';
import { registerStartupKernels } from '../../kernels/startup.js';
import { createBackends } from '../../service/backends.js';
import { scheduleArchiveSync } from '../../service/archive-sync.js';
import { runUntilStopped, settlesWithin, stopWithinGrace } from '../../service/lifecycle.js';
import type { Command, OutputStream } from '../command.js';
import { loadConfigWithFlags } from '../config-flags.js';
import { CliError, ExitCode } from '../errors.js';

/** What the serve process needs from its surroundings; tests pass their own. */
export interface ServeProcessOptions {
  logger: Logger;
  /** Where SIGTERM/SIGINT come from; default `process`. */
  signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Ends the process after a second signal; default `process.exit`. */
  exit?: (code: number) => void;
  /** Called once listening, with the address. */
  onListening?: (address: string) => void;
  /** Host kernel registration inputs (tests point it at a fixture). */
  hostKernel?: Parameters<typeof registerHostKernel>[2];
  /** The environment the configuration came from, checked for misspelt BTFHUB_* names; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Bound on closing the backends once stopped. */
const CLOSE_BOUND_MS = 2000;

/**
 * Runs the service for `config` until SIGTERM/SIGINT, then shuts down gracefully. Resolves
 * with the exit status.
 */
async function runServeProcess(config: Config, options: ServeProcessOptions): Promise<number> {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  logger.info({ config: redactConfig(config) }, 'btfhub serve configuration');
  // Every kernel archive this process unpacks (trims, uploads, imports, bundles) within the configured bound.
  setMaxUncompressedBytes(config.maxDecompressedBytes);
  const unknown = unknownBtfhubVariables(options.env ?? process.env);
  if (unknown.length > 0) logger.warn({ variables: unknown }, 'unknown BTFHUB_* variables ignored (typos?)');

  const stopping = 'stopping: no new connections; waiting for requests and jobs in flight';
  return runUntilStopped({ logger, signals: options.signals, exit, stopping }, async (stop) => {
    const backends = createBackends(config, { logger });
    let stopped: { cutShort: boolean; cancelWatchdog(): void } | undefined;
    try {
      const { store, catalog } = await backends.prepare({ serving: true });
      const queue = await backends.jobs();
      if (config.queue.kind === 'redis' && backends.archive !== null) {
        logger.warn(
          'with REDIS_URL the jobs run in `btfhub worker` processes: they read kernels from the object store, not from --archive',
        );
      }
      await registerStartupKernels(config, {
        archive: backends.archive,
        serviceStore: backends.serviceStore,
        catalog,
        logger,
        hostKernel: options.hostKernel,
        checkKernel: kernelCheckOn(backends.codec),
      });
      if (stop.isRequested) return ExitCode.Ok;
      await scheduleArchiveSync(queue, config, logger);

      const { codec } = backends;
      const metrics = new ServiceMetrics();
      if (config.queue.kind === 'inline')
        metrics.setDecodedKernels({ count: () => codec.decodedKernels().count, bytes: () => codec.decodedKernels().bytes });
      metrics.setThreadHeap(() => codec.threadHeap());
      const sync = { source: config.syncSource ?? null, intervalMs: config.syncIntervalMs };
      const app = await buildApp({ config, store, catalog, queue, codec, logger, metrics, sync });
      const address = await app.listen({ host: config.host, port: config.port }).catch(async (error: unknown) => {
        await app.close();
        throw new CliError(`cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}`);
      });
      logger.info({ address, store: store.description, catalog: config.database.kind, queue: config.queue.kind }, 'btfhub serve listening');
      options.onListening?.(address);

      await stop.requested;
      stopped = await stopWithinGrace(
        [
          // Stops accepting; in-flight requests finish first.
          {
            close: () => app.close(),
            overdue: 'closing the connections of requests still in flight',
            cutShort: () => app.server.closeAllConnections(),
          },
          // In-process jobs finish; a BullMQ producer disconnects.
          { close: () => queue.close(), overdue: 'jobs still running are abandoned (their requests are retried)' },
        ],
        { graceMs: config.shutdownGraceMs, logger, exit },
      );
      return stopped.cutShort ? ExitCode.Failure : ExitCode.Ok;
    } finally {
      // Already closed on the normal path; bounded either way.
      await settlesWithin(backends.close({ jobsWithinMs: stop.isRequested ? 0 : CLOSE_BOUND_MS }), CLOSE_BOUND_MS * 2);
      // Cut short, an abandoned job or socket may still hold the process: the watchdog stays (unref'd).
      if (stopped !== undefined && !stopped.cutShort) stopped.cancelWatchdog();
      logger.info('btfhub serve stopped');
    }
  });
}

export interface ServeCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  signals?: ServeProcessOptions['signals'];
  exit?: ServeProcessOptions['exit'];
  onListening?: ServeProcessOptions['onListening'];
}

export function createServeCommand(commandOptions: ServeCommandOptions = {}): Command {
  return {
    name: 'serve',
    summary: 'run the HTTP API (and, without REDIS_URL, its jobs in-process)',
    usage: 'btfhub serve [--archive DIR] [--data DIR] [--port N] [--host H]',
    description: `
Serves the HTTP API (openapi.yaml; Swagger UI at /docs). With no settings: filesystem store
and SQLite catalog under ./data, jobs (trims, compat reports, bundles, syncs) run in this
process, and this host's kernel BTF
(/sys/kernel/btf/vmlinux) is registered so requests for it work at once.

--archive DIR reads a btfhub-archive checkout as is (never written) and registers its
kernels at start. With REDIS_URL, jobs go to \`btfhub worker\` processes; with S3_BUCKET the
store is S3; with DATABASE_URL=postgres://... the catalog is PostgreSQL. Each flag has an
environment twin, and every setting is in docs/CONFIGURATION.md. SIGTERM or SIGINT finishes
the requests and jobs in flight, then exits 0.`,
    options: {
      archive: { type: 'string', valueName: 'DIR', description: 'btfhub-archive checkout to serve kernels from (BTFHUB_ARCHIVE_DIR)' },
      data: { type: 'string', valueName: 'DIR', description: 'data directory: SQLite catalog, fs store (BTFHUB_DATA_DIR, default ./data)' },
      port: { type: 'string', valueName: 'N', description: 'port to listen on (BTFHUB_PORT, default 8080)' },
      host: { type: 'string', valueName: 'H', description: 'address to bind (BTFHUB_HOST, default 127.0.0.1)' },
    },
    positionals: { name: 'argument', min: 0, max: 0 },
    async run(args, io) {
      const config = loadConfigWithFlags(commandOptions.env ?? process.env, {
        archive: { variable: 'BTFHUB_ARCHIVE_DIR', value: args.string('archive') },
        data: { variable: 'BTFHUB_DATA_DIR', value: args.string('data') },
        port: { variable: 'BTFHUB_PORT', value: args.string('port') },
        host: { variable: 'BTFHUB_HOST', value: args.string('host') },
      });
      const logger = pino({ level: config.logLevel, base: { service: 'btfhub-serve', pid: process.pid } }, asDestination(io.stdout));
      return runServeProcess(config, {
        logger,
        env: commandOptions.env,
        signals: commandOptions.signals,
        exit: commandOptions.exit,
        onListening: commandOptions.onListening,
      });
    },
  };
}

export const serveCommand: Command = createServeCommand();

/** pino writes whole lines to anything with `write`. */
function asDestination(stream: OutputStream): DestinationStream {
  return { write: (line: string) => void stream.write(line) };
}
