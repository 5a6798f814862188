/**
 * An API over the test archive (test/helpers/test-archive.ts) for the coverage tests:
 * the archive read in place under the service's own store (as `btfhub serve --archive`
 * does), its kernels registered in a SQLite catalog, trims and coverage jobs in-process.
 * Torn down with the test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Test } from 'tap';
import { buildApp } from '../../src/api/app.js';
import type { CoverageOptions } from '../../src/api/coverage.js';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.js';
import { ArchiveOverlayStore } from '../../src/cli/commands/serve.js';
import { registerKernelsFromStore, type RegistrationSummary } from '../../src/kernels/registry.js';
import type { CoverageQueue } from '../../src/queue/coverage-queue.js';
import { InlineCoverageQueue } from '../../src/queue/inline-coverage-queue.js';
import { InlineTrimQueue } from '../../src/queue/inline-queue.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createCoverageProcessor } from '../../src/worker/coverage-job.js';
import { KernelCache } from '../../src/worker/kernel-cache.js';
import { createTrimProcessor } from '../../src/worker/trim-job.js';
import { type FixtureSet, loadFixtures } from '../helpers/fixtures.js';
import { type TestArchive, testArchive } from '../helpers/test-archive.js';

export const ADMIN_TOKEN = 'coverage-test-admin-token-0123456789';

export interface CoverageApi {
  app: FastifyInstance;
  fixtures: FixtureSet;
  archive: TestArchive;
  /** The service's store (writes land here) over the archive (read only). */
  store: ObjectStore;
  serviceStore: FsObjectStore;
  catalog: SqliteCatalog;
  coverageQueue: CoverageQueue;
  /** What registering the archive found. */
  registration: RegistrationSummary | null;
  dir: string;
}

export interface CoverageApiOptions {
  requestWaitMs?: number;
  adminToken?: string;
  /** Register the archive's kernels (default true). */
  registerArchive?: boolean;
  /** Replaces the in-process coverage queue. */
  coverageQueue?: (deps: { store: ObjectStore; catalog: SqliteCatalog }) => CoverageQueue;
  syncSource?: string | null;
  syncIntervalMs?: number;
}

export const silent = pino({ level: 'silent' });

export async function setupCoverageApi(t: Test, options: CoverageApiOptions = {}): Promise<CoverageApi> {
  const [fixtures, archive] = await Promise.all([loadFixtures(), testArchive()]);
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-coverage-api-'));
  const serviceStore = new FsObjectStore(join(dir, 'store'));
  const archiveStore = new FsObjectStore(archive.dir);
  const store = new ArchiveOverlayStore(serviceStore, archiveStore);
  const catalog = new SqliteCatalog({ path: join(dir, 'catalog.sqlite') });
  await catalog.migrate();
  const registration = options.registerArchive === false ? null : await registerKernelsFromStore(archiveStore, catalog);
  const kernelCache = new KernelCache({ maxBytes: 256 * 1024 * 1024 });
  const queue = new InlineTrimQueue({ processor: createTrimProcessor({ store, catalog, kernelCache, logger: silent }), concurrency: 2, backoffMs: 10 });
  const coverageQueue =
    options.coverageQueue?.({ store, catalog }) ??
    new InlineCoverageQueue({ processor: createCoverageProcessor({ store, catalog, archive: archiveStore, loadAhead: 2 }), logger: silent });
  const coverage: CoverageOptions = {
    queue: coverageQueue,
    syncSource: options.syncSource ?? null,
    syncIntervalMs: options.syncIntervalMs ?? 0,
  };
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
    coverage,
    docs: false,
  });
  t.teardown(async () => {
    await app.close();
    await coverageQueue.close();
    await queue.close();
    await catalog.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, fixtures, archive, store, serviceStore, catalog, coverageQueue, registration, dir };
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
    const body = res.json() as Record<string, unknown>;
    seen.push(body);
    if (body.state === 'completed' || body.state === 'failed') return seen;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(body.state)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
