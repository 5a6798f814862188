/**
 * `btfhub worker`: a process that runs trim jobs from the Redis queue, and the coverage jobs
 * (compat reports, bundles, archive syncs: src/worker/coverage-worker.ts). Start as many as
 * the load needs, on any machine that reaches the same Redis, object store and catalog.
 *
 * Wiring: configuration (environment, flags on top) → object store → catalog (migrated) →
 * BullMQ worker. SIGTERM or SIGINT stops taking jobs, lets the running ones finish, closes
 * everything and exits 0; a second signal exits at once with status 1.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { setMaxUncompressedBytes } from '../../archive/kernel-btf.js';
import { openCatalog } from '../../catalog/index.js';
import { type Config, ConfigError, loadConfig, redactConfig } from '../../config/schema.js';
import { createArchiveStore, createObjectStore } from '../../storage/index.js';
import { createCoverageWorker } from '../../worker/coverage-worker.js';
import { createTrimWorker, type TrimWorker, type TrimWorkerOptions } from '../../worker/worker.js';
import type { Command, OutputStream } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

/** What the worker process needs from its surroundings; tests pass their own. */
export interface WorkerProcessOptions {
  logger: Logger;
  /** Where SIGTERM/SIGINT come from; default `process`. */
  signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Ends the process after a second signal; default `process.exit`. */
  exit?: (code: number) => void;
  /** Passed on to startTrimWorker (tests shorten locks and slow jobs down). */
  worker?: Pick<TrimWorkerOptions, 'lockDurationMs' | 'stalledIntervalMs' | 'maxStalledCount' | 'wrapProcessor'>;
  /** Called once the worker takes jobs. */
  onReady?: (worker: TrimWorker) => void;
}

/**
 * Runs a trim worker for `config` until SIGTERM/SIGINT, then shuts down gracefully.
 * Resolves with the exit status.
 */
export async function runWorkerProcess(config: Config, options: WorkerProcessOptions): Promise<number> {
  const { logger } = options;
  const signals = options.signals ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  if (config.queue.kind !== 'redis') {
    throw new CliError('REDIS_URL is not set: `btfhub worker` takes jobs from Redis. Without Redis, `btfhub serve` runs trim jobs in-process.');
  }
  logger.info({ config: redactConfig(config) }, 'btfhub worker configuration');
  // Every kernel archive this process unpacks (trims, uploads, imports, bundles) within the configured bound.
  setMaxUncompressedBytes(config.maxDecompressedBytes);

  const store = createObjectStore(config);
  const catalog = await openCatalog(config.database);
  let stopping = false;
  let stopped!: () => void;
  const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for running jobs');
      exit(ExitCode.Failure);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new jobs; waiting for running jobs to finish');
    stopped();
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
  try {
    await store.check().catch((error: unknown) => {
      throw new CliError(`object store ${store.description} is not usable: ${messageOf(error)}`);
    });
    await catalog.migrate().catch((error: unknown) => {
      throw new CliError(`catalog (${config.database.kind}) migration failed: ${messageOf(error)}`);
    });
    logger.info({ store: store.description, queue: redactConfig(config).queue }, 'connecting to the trim queue');
    const worker = createTrimWorker({ config, store, catalog, logger, ...options.worker });
    const coverageWorker = createCoverageWorker({ config, store, catalog, archive: createArchiveStore(config), logger });
    const closeBoth = () => Promise.all([worker.close(), coverageWorker.close()]);
    const bothReady = Promise.all([worker.ready, coverageWorker.ready]);
    const ready = await Promise.race([bothReady.then(() => true), whenStopped.then(() => false)]);
    if (!ready) {
      // Stopped while still waiting for Redis: no job can be running. BullMQ's close may wait
      // for a connection that never comes, so it gets a bound.
      const closed = await Promise.race([closeBoth().then(() => true), delay(5000).then(() => false)]);
      if (!closed) {
        logger.warn('Redis never answered; exiting without a clean close');
        exit(ExitCode.Ok);
      }
      return ExitCode.Ok;
    }
    logger.info({ concurrency: worker.worker.opts.concurrency, prefix: config.queue.prefix }, 'trim worker ready');
    options.onReady?.(worker);
    await whenStopped;
    await closeBoth();
    logger.info({ kernelCache: worker.kernelCache.stats() }, 'trim worker stopped');
    return ExitCode.Ok;
  } finally {
    signals.off('SIGTERM', onSignal);
    signals.off('SIGINT', onSignal);
    await Promise.allSettled([catalog.close(), store.close()]);
  }
}

export interface WorkerCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Process hooks for tests; see WorkerProcessOptions. */
  signals?: WorkerProcessOptions['signals'];
  exit?: WorkerProcessOptions['exit'];
}

export function createWorkerCommand(commandOptions: WorkerCommandOptions = {}): Command {
  return {
    name: 'worker',
    summary: 'run trim jobs from the Redis queue (REDIS_URL)',
    usage: 'btfhub worker [--concurrency N]',
    description: `
Takes trim jobs that \`btfhub serve\` puts on the Redis queue (REDIS_URL, key prefix
BTFHUB_QUEUE_PREFIX), trims with the kernel BTF from the object store and records the
results in the catalog. Run any number of workers: a job whose worker dies is taken over
by another. Configuration comes from the same environment variables as \`btfhub serve\`
(docs/CONFIGURATION.md). SIGTERM or SIGINT lets running jobs finish, then exits 0.`,
    options: {
      concurrency: {
        type: 'string',
        valueName: 'N',
        description: 'jobs run at once, 1 to 256 (default BTFHUB_WORKER_CONCURRENCY, else 2)',
      },
    },
    positionals: { name: 'argument', min: 0, max: 0 },
    async run(args, io) {
      const concurrency = args.string('concurrency');
      if (concurrency !== undefined && !(/^[0-9]+$/.test(concurrency) && Number(concurrency) >= 1 && Number(concurrency) <= 256)) {
        throw new UsageError(`--concurrency must be an integer from 1 to 256, got '${concurrency}'`);
      }
      let config: Config;
      try {
        config = loadConfig(commandOptions.env ?? process.env, { BTFHUB_WORKER_CONCURRENCY: concurrency });
      } catch (error) {
        if (error instanceof ConfigError) throw new CliError(error.message);
        throw error;
      }
      const logger = pino({ level: config.logLevel, base: { service: 'btfhub-worker', pid: process.pid } }, asDestination(io.stdout));
      return runWorkerProcess(config, { logger, signals: commandOptions.signals, exit: commandOptions.exit });
    },
  };
}

export const workerCommand: Command = createWorkerCommand();

/** pino writes whole lines to anything with `write`. */
function asDestination(stream: OutputStream): DestinationStream {
  return { write: (line: string) => void stream.write(line) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
