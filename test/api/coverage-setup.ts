/**
 * An API over the test archive (test/helpers/test-archive.ts) for the coverage tests: the
 * backends `btfhub serve --archive` makes (`createBackends`: the archive read in place under
 * the service's own store, a SQLite catalog, every job in-process, or on BullMQ with
 * `redis`), the archive's kernels registered. Torn down with the test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Test } from 'tap';
import { buildApp } from '../../src/api/app.js';
import type { CatalogBackend } from '../../src/catalog/index.js';
import { loadConfig } from '../../src/config/schema.js';
import { registerKernelsFromStore, type RegistrationSummary } from '../../src/kernels/registry.js';
import type { JobWorker } from '../../src/queue/bullmq-worker.js';
import type { JobQueue } from '../../src/queue/job.js';
import type { JobKinds } from '../../src/queue/kinds.js';
import { type Backends, createBackends } from '../../src/service/backends.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { type FixtureSet, loadFixtures } from '../helpers/fixtures.js';
import { type TestArchive, testArchive } from '../helpers/test-archive.js';
import { deleteRedisKeys } from '../jobs/setup.js';

export const ADMIN_TOKEN = 'coverage-test-admin-token-0123456789';

export interface CoverageApi {
  app: FastifyInstance;
  fixtures: FixtureSet;
  archive: TestArchive;
  /** The service's store (writes land here) over the archive (read only). */
  store: ObjectStore;
  serviceStore: ObjectStore;
  catalog: CatalogBackend;
  queue: JobQueue<JobKinds>;
  backends: Backends;
  /** The BullMQ consumer, with `redis`. */
  worker: JobWorker | null;
  /** What registering the archive found. */
  registration: RegistrationSummary | null;
  dir: string;
}

export interface CoverageApiOptions {
  requestWaitMs?: number;
  adminToken?: string;
  /** Register the archive's kernels (default true). */
  registerArchive?: boolean;
  /** Jobs on BullMQ under this Redis and prefix, run by a consumer of the test's own. */
  redis?: { url: string; prefix: string };
  syncSource?: string | null;
  syncIntervalMs?: number;
}

export const silent = pino({ level: 'silent' });

export async function setupCoverageApi(t: Test, options: CoverageApiOptions = {}): Promise<CoverageApi> {
  const [fixtures, archive] = await Promise.all([loadFixtures(), testArchive()]);
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-coverage-api-'));
  const config = loadConfig({
    BTFHUB_DATA_DIR: dir,
    BTFHUB_ARCHIVE_DIR: archive.dir,
    BTFHUB_WORKER_CONCURRENCY: '2',
    BTFHUB_KERNEL_CACHE_BYTES: String(256 * 1024 * 1024),
    BTFHUB_REGISTER_HOST_KERNEL: 'false',
    ...(options.redis !== undefined && { REDIS_URL: options.redis.url, BTFHUB_QUEUE_PREFIX: options.redis.prefix }),
  });
  const backends = createBackends(config, {
    logger: silent,
    policies: (p) => ({ ...p, trim: { ...p.trim, backoffMs: 10 } }),
    loadAhead: 2,
    ...(options.redis !== undefined && { pollIntervalMs: 50 }),
  });
  const { store, catalog } = await backends.prepare();
  const registration = options.registerArchive === false ? null : await registerKernelsFromStore(backends.archive!, catalog);
  const queue = await backends.jobs();
  const worker = options.redis === undefined ? null : await backends.jobWorker();
  await worker?.ready;
  const app = await buildApp({
    config: {
      requestWaitMs: options.requestWaitMs ?? 30_000,
      maxFileBytes: 64 * 1024 * 1024,
      maxFiles: 16,
      ...(options.adminToken !== undefined && { adminToken: options.adminToken }),
    },
    store,
    catalog,
    queue,
    sync: { source: options.syncSource ?? null, intervalMs: options.syncIntervalMs ?? 0 },
    docs: false,
  });
  t.teardown(async () => {
    await app.close();
    await backends.close();
    if (options.redis !== undefined) await deleteRedisKeys(options.redis.url, options.redis.prefix);
    await rm(dir, { recursive: true, force: true });
  });
  return { app, fixtures, archive, store, serviceStore: backends.serviceStore, catalog, queue, backends, worker, registration, dir };
}

/** `distro/distro_version/arch/kernel` of a report or API kernel. */
export function labelOf(k: { distro: string; distro_version: string; arch: string; kernel_version: string }): string {
  return `${k.distro}/${k.distro_version}/${k.arch}/${k.kernel_version}`;
}

/** Follows a job to its end through GET /api/v1/jobs/{id}; every status seen, the last one finished. */
export async function followJob(app: FastifyInstance, id: string, timeoutMs = 30_000): Promise<Record<string, unknown>[]> {
  const seen: Record<string, unknown>[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/jobs/${id}` });
    if (res.statusCode !== 200) throw new Error(`GET /api/v1/jobs/${id}: ${res.statusCode} ${res.body}`);
    const body = res.json<Record<string, unknown>>();
    seen.push(body);
    if (body.state === 'completed' || body.state === 'failed') return seen;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(body.state)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
