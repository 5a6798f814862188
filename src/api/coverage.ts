/**
 * The kernel coverage part of the API (issue 4), registered by `buildApp`:
 *
 *   POST /api/v1/kernels                                   (admin) upload one kernel's BTF
 *   GET  /api/v1/coverage[/{distro}/{distro_version}/{arch}]  what is covered (JSON or CSV)
 *   GET  /api/v1/sync, POST /api/v1/sync (admin)            archive sync runs
 *   POST /api/v1/compat, GET /api/v1/compat/{id}            compatibility reports (jobs)
 *   POST /api/v1/bundle, GET /api/v1/bundle/{id}            bundles of trimmed BTFs (jobs)
 *   GET  /, GET /assets/{file}                              the coverage page
 *
 * Compat, bundle and sync jobs go through a CoverageQueue (src/queue/coverage-queue.ts):
 * the caller's (BullMQ in a scale-out deployment), or, when none is given, an in-process
 * one over the app's store and catalog, closed with the app.
 */
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import type { CoverageQueue } from '../queue/coverage-queue.js';
import { InlineCoverageQueue } from '../queue/inline-coverage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createCoverageProcessor } from '../worker/coverage-job.js';
import type { CoverageServices } from './coverage-service.js';
import { bundleRoutes } from './routes/api/v1/bundle.js';
import { compatReportRoutes } from './routes/api/v1/compat-report.js';
import { coverageRoutes } from './routes/api/v1/coverage.js';
import { kernelUploadRoutes } from './routes/api/v1/kernel-upload.js';
import { syncRoutes } from './routes/api/v1/sync.js';
import { pageRoutes } from './routes/page.js';
import { guardDependency } from './services.js';

export interface CoverageOptions {
  /** Runs compat, bundle and sync jobs; default an in-process queue over the app's store and catalog. */
  queue?: CoverageQueue;
  /** What `POST /api/v1/sync` scans (config.syncSource); null or absent: sync is not configured. */
  syncSource?: string | null;
  /** Shown by `GET /api/v1/sync` (the schedule itself is the queue's). */
  syncIntervalMs?: number;
}

/** Decorates `app.coverage` and registers the coverage routes and the page. */
export async function registerCoverage(
  app: FastifyInstance,
  deps: { store: ObjectStore; catalog: Catalog },
  options: CoverageOptions = {},
): Promise<void> {
  let queue = options.queue;
  if (queue === undefined) {
    const own = new InlineCoverageQueue({
      processor: createCoverageProcessor({ store: deps.store, catalog: deps.catalog }),
    });
    app.addHook('onClose', async () => own.close());
    queue = own;
  }
  const coverage: CoverageServices = {
    queue: guardDependency('queue', queue),
    syncSource: options.syncSource ?? null,
    syncIntervalMs: options.syncIntervalMs ?? 0,
  };
  app.decorate('coverage', coverage);
  await app.register(kernelUploadRoutes);
  await app.register(coverageRoutes);
  await app.register(syncRoutes);
  await app.register(compatReportRoutes);
  await app.register(bundleRoutes);
  await app.register(pageRoutes);
}
