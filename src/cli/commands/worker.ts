/**
 * `btfhub worker`: a process that runs jobs from the Redis queue, every kind (trims, compat
 * reports, bundles, archive syncs: src/jobs/). Start as many as the load needs, on any
 * machine that reaches the same Redis, object store and catalog.
 *
 * Wiring: configuration (environment, flags on top) -> backends (store, catalog migrated) ->
 * the BullMQ consumer of every lane (src/queue/bullmq-worker.ts). SIGTERM or SIGINT stops
 * taking jobs, lets the running ones finish, closes everything and exits 0; a second signal
 * exits at once with status 1.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { setMaxUncompressedBytes } from '../../archive/kernel-btf.js';
import { type Config, ConfigError, loadConfig, redactConfig } from '../../config/schema.js';
import type { JobWorker } from '../../queue/bullmq-worker.js';
import { type BackendOptions, createBackends } from '../../service/backends.js';
import { runUntilStopped, settlesWithin } from '../../service/lifecycle.js';
import type { Command, OutputStream } from '../command.js';
import { CliError, ExitCode, UsageError } from '../errors.js';

/** What the worker process needs from its surroundings; tests pass their own. */
export interface WorkerProcessOptions {
  logger: Logger;
  /** Where SIGTERM/SIGINT come from; default `process`. */
  signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Ends the process after a second signal; default `process.exit`. */
  exit?: (code: number) => void;
  /** Passed on to the backends (tests shorten locks and slow jobs down). */
  backends?: Pick<BackendOptions, 'policies' | 'processors'>;
  /** Called once the worker takes jobs. */
  onReady?: (worker: JobWorker) => void;
}

/** Bound on closing a consumer that never connected (BullMQ's close waits for a connection). */
const UNCONNECTED_CLOSE_MS = 5000;

/**
 * Runs the job consumer for `config` until SIGTERM/SIGINT, then shuts down gracefully.
 * Resolves with the exit status.
 */
export async function runWorkerProcess(config: Config, options: WorkerProcessOptions): Promise<number> {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  if (config.queue.kind !== 'redis') {
    throw new CliError(
      'REDIS_URL is not set: `btfhub worker` takes jobs from Redis. Without Redis, `btfhub serve` runs the jobs in-process.',
    );
  }
  const { prefix } = config.queue;
  logger.info({ config: redactConfig(config) }, 'btfhub worker configuration');
  // Every kernel archive this process unpacks (trims, uploads, imports, bundles) within the configured bound.
  setMaxUncompressedBytes(config.maxDecompressedBytes);

  const stopping = 'stopping: no new jobs; waiting for running jobs to finish';
  return runUntilStopped({ logger, signals: options.signals, exit, stopping }, async (stop) => {
    const backends = createBackends(config, { logger, ...options.backends });
    let connected = true;
    try {
      const { store } = await backends.prepare({ serving: true });
      logger.info({ store: store.description, queue: redactConfig(config).queue }, 'connecting to the job queue');
      const worker = await backends.jobWorker();
      const ready = await Promise.race([worker.ready.then(() => true), stop.requested.then(() => false)]);
      if (!ready) {
        connected = false;
        // Stopped while still waiting for Redis: no job can be running. BullMQ's close may wait
        // for a connection that never comes, so it gets a bound.
        if (!(await settlesWithin(worker.close(), UNCONNECTED_CLOSE_MS))) {
          logger.warn('Redis never answered; exiting without a clean close');
          exit(ExitCode.Ok);
        }
        return ExitCode.Ok;
      }
      const lanes = Object.fromEntries([...worker.workers].map(([lane, w]) => [lane, w.opts.concurrency]));
      logger.info({ concurrency: backends.policies.trim.concurrency, lanes, prefix }, 'btfhub worker ready');
      options.onReady?.(worker);
      await stop.requested;
      await worker.close();
      logger.info({ decodedKernels: backends.codec.decodedKernels() }, 'btfhub worker stopped');
      return ExitCode.Ok;
    } finally {
      await backends.close(connected ? {} : { jobsWithinMs: 0 });
    }
  });
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
    summary: 'run jobs (trims, compat reports, bundles, syncs) from the Redis queue (REDIS_URL)',
    usage: 'btfhub worker [--concurrency N]',
    description: `
Takes the jobs that \`btfhub serve\` puts on the Redis queue (REDIS_URL, key prefix
BTFHUB_QUEUE_PREFIX): trims, compat reports, bundles and archive syncs, with the kernels
from the object store, results recorded in the store and the catalog. Run any number of
workers: a job whose worker dies is taken over by another. Configuration comes from the same environment variables as \`btfhub serve\`
(docs/CONFIGURATION.md). SIGTERM or SIGINT lets running jobs finish, then exits 0.`,
    options: {
      concurrency: {
        type: 'string',
        valueName: 'N',
        description: 'trim jobs run at once, 1 to 256 (default BTFHUB_WORKER_CONCURRENCY, else 2)',
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
