/**
 * `btfhub serve`: the HTTP API, and, without REDIS_URL, the trim worker in the same process.
 *
 * Wiring: configuration (environment, flags on top; logged once, redacted) → object store →
 * catalog (migrated) → queue (in-process, or a BullMQ producer with REDIS_URL) → kernel
 * registration (the archive's kernels, this host's kernel) → `buildApp` → listen.
 * SIGTERM or SIGINT stops accepting connections (requests still arriving on open connections
 * are answered 503 with Connection: close), lets in-flight requests and running jobs finish
 * within BTFHUB_SHUTDOWN_GRACE_MS, closes queue, catalog and store, and exits 0. Past the
 * grace period the remaining connections are closed and the status is 1; a watchdog ends
 * the process shortly after if anything still holds it. A second signal exits at once with 1.
 *
 * Storage: the service writes to its own store (S3 with S3_BUCKET, else `<data>/objects`).
 * `--archive DIR` (a btfhub-archive checkout) is read as is and never written to: reads
 * fall back to it (`ArchiveOverlayStore`), so kernels registered from it are found by the
 * trim jobs while uploads, trimmed results and the host kernel land in the service's store.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { setMaxUncompressedBytes } from '../../archive/kernel-btf.js';
import { buildApp } from '../../api/app.js';
import { ServiceMetrics } from '../../api/metrics.js';
import { type CatalogBackend, openCatalog } from '../../catalog/index.js';
import { type Config, ConfigError, loadConfig, redactConfig, unknownBtfhubVariables } from '../../config/schema.js';
import { registerHostKernel, registerKernelsFromStore } from '../../kernels/registry.js';
import { BullmqCoverageQueue } from '../../queue/bullmq-coverage-queue.js';
import { createBullmqTrimQueue } from '../../queue/bullmq-queue.js';
import type { CoverageQueue } from '../../queue/coverage-queue.js';
import { InlineCoverageQueue } from '../../queue/inline-coverage-queue.js';
import { InlineTrimQueue } from '../../queue/inline-queue.js';
import type { TrimQueue } from '../../queue/trim-queue.js';
import { compareKeys, createArchiveStore, createObjectStore, type ObjectInfo, type ObjectStore } from '../../storage/index.js';
import { createCoverageProcessor } from '../../worker/coverage-job.js';
import { KernelCache } from '../../worker/kernel-cache.js';
import { createTrimProcessor } from '../../worker/trim-job.js';
import type { Command, OutputStream } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

/**
 * The service's store with a read-only archive underneath: reads try the store, then the
 * archive; writes and deletes go to the store only. Keys are the same in both (the BTFHub
 * layout), so a kernel registered from the archive is read through this one store.
 */
export class ArchiveOverlayStore implements ObjectStore {
  readonly description: string;

  constructor(
    private readonly store: ObjectStore,
    private readonly archive: ObjectStore,
  ) {
    this.description = `${store.description} over archive ${archive.description}`;
  }

  async get(key: string): Promise<Uint8Array | null> {
    return (await this.store.get(key)) ?? this.archive.get(key);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return (await this.store.head(key)) ?? this.archive.head(key);
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.store.put(key, data);
  }

  delete(key: string): Promise<void> {
    return this.store.delete(key);
  }

  /** Both listings merged in key order; a key in both is listed once (the store's). */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    const upper = this.store.list(prefix)[Symbol.asyncIterator]();
    const lower = this.archive.list(prefix)[Symbol.asyncIterator]();
    let a = await upper.next();
    let b = await lower.next();
    while (!a.done || !b.done) {
      const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
      if (order <= 0 && !a.done) {
        yield a.value;
        if (order === 0) b = await lower.next();
        a = await upper.next();
      } else if (!b.done) {
        yield b.value;
        b = await lower.next();
      }
    }
  }

  async check(): Promise<void> {
    await Promise.all([this.store.check(), this.archive.check()]);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.store.close(), this.archive.close()]);
  }
}

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

/**
 * Runs the service for `config` until SIGTERM/SIGINT, then shuts down gracefully. Resolves
 * with the exit status.
 */
export async function runServeProcess(config: Config, options: ServeProcessOptions): Promise<number> {
  const { logger } = options;
  const signals = options.signals ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  logger.info({ config: redactConfig(config) }, 'btfhub serve configuration');
  // Every kernel archive this process unpacks (trims, uploads, imports, bundles) within the configured bound.
  setMaxUncompressedBytes(config.maxDecompressedBytes);
  const unknown = unknownBtfhubVariables(options.env ?? process.env);
  if (unknown.length > 0) logger.warn({ variables: unknown }, 'unknown BTFHUB_* variables ignored (typos?)');

  let stopping = false;
  let stopped!: () => void;
  const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      exit(ExitCode.Failure);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new connections; waiting for requests and jobs in flight');
    stopped();
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);

  const serviceStore = createObjectStore(config);
  const archive = createArchiveStore(config);
  const store: ObjectStore = archive === null ? serviceStore : new ArchiveOverlayStore(serviceStore, archive);
  let catalog: CatalogBackend | undefined;
  let queue: TrimQueue | undefined;
  /** Compat, bundle and archive sync jobs (src/queue/coverage-queue.ts). */
  let coverageQueue: CoverageQueue | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let cutShort = false;
  try {
    await store.check().catch((error: unknown) => {
      throw new CliError(`object store ${store.description} is not usable: ${messageOf(error)}`);
    });
    catalog = await openCatalog(config.database);
    await catalog.migrate().catch((error: unknown) => {
      throw new CliError(`catalog (${config.database.kind}) migration failed: ${messageOf(error)}`);
    });

    const metrics = new ServiceMetrics();
    if (config.queue.kind === 'redis') {
      queue = createBullmqTrimQueue({ url: config.queue.url, prefix: config.queue.prefix, logger });
      coverageQueue = new BullmqCoverageQueue({ url: config.queue.url, prefix: config.queue.prefix, logger });
      if (archive !== null) {
        logger.warn('with REDIS_URL the trims run in `btfhub worker` processes: they read kernels from the object store, not from --archive');
      }
    } else {
      const kernelCache = new KernelCache({ maxBytes: config.kernelCacheBytes });
      queue = new InlineTrimQueue({
        processor: createTrimProcessor({ store, catalog, kernelCache, logger, maxDecompressedBytes: config.maxDecompressedBytes }),
        concurrency: config.workerConcurrency,
        jobTimeoutMs: config.jobTimeoutMs,
        logger,
      });
      metrics.setDecodedKernels({ count: () => kernelCache.stats().entries, bytes: () => kernelCache.stats().bytes });
      coverageQueue = new InlineCoverageQueue({ processor: createCoverageProcessor({ store, catalog, config, archive, logger }), logger });
    }

    await registerKernels(config, { archive, serviceStore, catalog, logger, hostKernel: options.hostKernel });
    if (stopping) return ExitCode.Ok;

    // The periodic archive sync: a BullMQ job scheduler with REDIS_URL (one per deployment,
    // whatever the replicas), a timer here otherwise; an interval of 0 removes it.
    await coverageQueue.scheduleSync(config.syncSource ?? null, config.syncIntervalMs).catch((error: unknown) => {
      logger.warn({ err: messageOf(error) }, 'the archive sync schedule could not be set');
    });
    if (config.syncIntervalMs > 0) logger.info({ source: config.syncSource, intervalMs: config.syncIntervalMs }, 'archive sync scheduled');

    const coverage = { queue: coverageQueue, syncSource: config.syncSource ?? null, syncIntervalMs: config.syncIntervalMs };
    const app = await buildApp({ config, store, catalog, queue, logger, metrics, coverage });
    const address = await app.listen({ host: config.host, port: config.port }).catch(async (error: unknown) => {
      await app.close();
      throw new CliError(`cannot listen on ${config.host}:${config.port}: ${messageOf(error)}`);
    });
    logger.info({ address, store: store.description, catalog: config.database.kind, queue: config.queue.kind }, 'btfhub serve listening');
    options.onListening?.(address);

    await whenStopped;
    const graceMs = config.shutdownGraceMs;
    const deadline = performance.now() + graceMs;
    const left = () => Math.max(0, deadline - performance.now());
    // Whatever happens below, the process does not outlive the grace period by much.
    watchdog = setTimeout(() => {
      logger.error({ graceMs }, 'still running after the grace period: exiting');
      exit(ExitCode.Failure);
    }, graceMs + WATCHDOG_SLACK_MS);
    watchdog.unref();

    const closed = app.close(); // stops accepting; in-flight requests finish first
    if (!(await settlesWithin(closed, left()))) {
      cutShort = true;
      logger.warn({ graceMs }, 'grace period over: closing the connections of requests still in flight');
      app.server.closeAllConnections();
      await settlesWithin(closed, 1000);
    }
    // In-process jobs finish; BullMQ producers disconnect.
    const queueClosed = Promise.all([queue.close(), coverageQueue.close()]);
    if (!(await settlesWithin(queueClosed, left()))) {
      cutShort = true;
      logger.warn({ graceMs }, 'grace period over: trim jobs still running are abandoned (their requests are retried)');
    }
    return cutShort ? ExitCode.Failure : ExitCode.Ok;
  } finally {
    signals.off('SIGTERM', onSignal);
    signals.off('SIGINT', onSignal);
    // Already closed on the normal path (close is idempotent); bounded either way.
    await settlesWithin(
      Promise.all([
        queue?.close().catch((error: unknown) => logger.error({ err: error }, 'closing the queue failed')),
        coverageQueue?.close().catch((error: unknown) => logger.error({ err: error }, 'closing the coverage queue failed')),
      ]),
      stopping ? 0 : CLOSE_BOUND_MS,
    );
    await settlesWithin(Promise.allSettled([catalog?.close(), store.close()]), CLOSE_BOUND_MS);
    // Cut short, an abandoned job or socket may still hold the process: the watchdog stays (unref'd).
    if (!cutShort) clearTimeout(watchdog);
    logger.info('btfhub serve stopped');
  }
}

/** How long past the grace period the watchdog waits before it ends the process. */
const WATCHDOG_SLACK_MS = 2000;
/** Bound on closing the catalog and the store. */
const CLOSE_BOUND_MS = 2000;

/** Whether `promise` settles within `ms` (its outcome is ignored: callers log their own). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function registerKernels(
  config: Config,
  deps: {
    archive: ObjectStore | null;
    serviceStore: ObjectStore;
    catalog: CatalogBackend;
    logger: Logger;
    hostKernel: ServeProcessOptions['hostKernel'];
  },
): Promise<void> {
  const { archive, serviceStore, catalog, logger } = deps;
  if (archive !== null) {
    const started = performance.now();
    const summary = await registerKernelsFromStore(archive, catalog, { logger });
    logger.info(
      {
        archive: archive.description,
        added: summary.added,
        updated: summary.updated,
        unchanged: summary.unchanged,
        invalid: summary.invalid.length,
        ms: Math.round(performance.now() - started),
      },
      'archive kernels registered',
    );
    for (const { key, reason } of summary.invalid.slice(0, 20)) logger.warn({ key, reason }, 'archive file not registered');
  }
  if (config.registerHostKernel) {
    try {
      // Into the service's own store: the archive is never written to.
      await registerHostKernel(serviceStore, catalog, { logger, ...deps.hostKernel });
    } catch (error) {
      // A host without BTF (or an unknown distribution) still serves the archive's kernels.
      logger.warn({ err: messageOf(error) }, 'host kernel not registered (BTFHUB_REGISTER_HOST_KERNEL=false silences this)');
    }
  }
}

export interface ServeCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  signals?: ServeProcessOptions['signals'];
  exit?: ServeProcessOptions['exit'];
  onListening?: ServeProcessOptions['onListening'];
}

/** The flags and the variables they set. */
const FLAG_VARIABLES = {
  archive: 'BTFHUB_ARCHIVE_DIR',
  data: 'BTFHUB_DATA_DIR',
  port: 'BTFHUB_PORT',
  host: 'BTFHUB_HOST',
} as const;

/**
 * A configuration error as a usage error (exit 2): one line per bad setting, naming the flag
 * when the value came from one.
 */
export function configUsageError(error: ConfigError, flagsGiven: ReadonlySet<string>): UsageError {
  const lines = error.issues.map((issue) => {
    const flag = Object.entries(FLAG_VARIABLES).find(([name, variable]) => variable === issue.variable && flagsGiven.has(name))?.[0];
    return `  ${flag === undefined ? issue.variable : `--${flag} (${issue.variable})`}: ${issue.message}`;
  });
  return new UsageError(`invalid configuration:\n${lines.join('\n')}`);
}

/** The configuration for a command whose only config flag is --data: a bad value is a usage error naming it. */
export function loadConfigWithDataFlag(env: NodeJS.ProcessEnv, data: string | undefined): Config {
  try {
    return loadConfig(env, { BTFHUB_DATA_DIR: data });
  } catch (error) {
    if (error instanceof ConfigError) throw configUsageError(error, new Set(data === undefined ? [] : ['data']));
    throw error;
  }
}

export function createServeCommand(commandOptions: ServeCommandOptions = {}): Command {
  return {
    name: 'serve',
    summary: 'run the HTTP API (and, without REDIS_URL, the trim worker in-process)',
    usage: 'btfhub serve [--archive DIR] [--data DIR] [--port N] [--host H]',
    description: `
Serves the HTTP API (openapi.yaml; Swagger UI at /docs). With no settings: filesystem store
and SQLite catalog under ./data, trims run in this process, and this host's kernel BTF
(/sys/kernel/btf/vmlinux) is registered so requests for it work at once.

--archive DIR reads a btfhub-archive checkout as is (never written) and registers its
kernels at start. With REDIS_URL, trims go to \`btfhub worker\` processes; with S3_BUCKET the
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
      const overrides: Partial<Record<(typeof FLAG_VARIABLES)[keyof typeof FLAG_VARIABLES], string>> = {};
      const given = new Set<string>();
      for (const [flag, variable] of Object.entries(FLAG_VARIABLES)) {
        const value = args.string(flag);
        if (value === undefined) continue;
        overrides[variable] = value;
        given.add(flag);
      }
      let config: Config;
      try {
        config = loadConfig(commandOptions.env ?? process.env, overrides);
      } catch (error) {
        if (error instanceof ConfigError) throw configUsageError(error, given);
        throw error;
      }
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
