/**
 * What the routes use, decorated onto the Fastify instance as `app.services`: the
 * configuration, the catalog, the object store and the job queue, plus the metrics.
 *
 * The catalog, store and queue reach the routes wrapped by `guardDependency`: any failure
 * of theirs becomes a DependencyError, which the error handler answers with 503 and
 * Retry-After, naming the dependency. /readyz uses the unwrapped ones to report the cause.
 */
import type { DeepReadiness } from './readiness.js';
import type { Catalog } from '../catalog/catalog.js';
import type { CodecExecutor } from '../executor/codec-executor.js';
import type { JobQueue } from '../queue/job.js';
import type { JobKinds } from '../queue/kinds.js';
import { StorageError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { DependencyError, type Dependency } from './errors.js';
import type { ServiceMetrics } from './metrics.js';
import type { TrimResultCache } from './trim-cache.js';
import type { TrimHitRecorder } from './trim-hits.js';
import type { ApiConfig, ApiLimits } from './limits.js';
import type { RefusedObjects } from './refused-objects.js';
import type { UploadBudget } from './uploads.js';

export interface SyncSettings {
  /** What a sync scans (BTFHUB_SYNC_SOURCE, else BTFHUB_ARCHIVE_DIR); null: nothing to sync. */
  source: string | null;
  /** Between scheduled syncs; 0 when off. */
  intervalMs: number;
}

export interface AppServices {
  config: ApiConfig;
  catalog: Catalog;
  store: ObjectStore;
  /** Every kind of job (trims, compat reports, bundles, syncs). */
  queue: JobQueue<JobKinds>;
  /** Where uploads are checked to be BPF CO-RE objects (the codec's work never runs here directly). */
  codec: CodecExecutor;
  metrics: ServiceMetrics;
  /** The limits in force (`apiLimits(config)`). */
  limits: ApiLimits;
  /** Upload bytes held by requests in flight, against `limits.maxUploadBytesInFlight`. */
  uploads: UploadBudget;
  /** Recent trimmed results, answered without the catalog's trim row or the store. */
  trimCache: TrimResultCache;
  /** Counts cache hits in the catalog in the background. */
  trimHits: TrimHitRecorder;
  /** The archive sync: what POST /api/v1/sync scans (null: nothing configured) and the schedule's interval. */
  sync: SyncSettings;
  /** Objects hashes answered 422 at once: their jobs killed workers, or their work blew a thread's heap. */
  refused: RefusedObjects;
  /** /readyz's store write probe and catalog/store sample (cached). */
  readiness: DeepReadiness;
  /** The same dependencies, unwrapped (readiness checks). */
  raw: { catalog: Catalog; store: ObjectStore; queue: JobQueue<JobKinds> };
}

declare module 'fastify' {
  interface FastifyInstance {
    services: AppServices;
  }
}

/** Errors that are the caller's bug, not an outage: they pass through unchanged. */
function isProgrammingError(err: unknown): boolean {
  return err instanceof StorageError && err.code === 'INVALID_KEY';
}

function wrapError(dependency: Dependency, err: unknown): unknown {
  return isProgrammingError(err) || err instanceof DependencyError ? err : new DependencyError(dependency, err);
}

/**
 * `target` with every method's failure (thrown or rejected) turned into a DependencyError.
 * Non-promise results (async iterables of `list`) are returned as they are.
 */
export function guardDependency<T extends object>(dependency: Dependency, target: T): T {
  return new Proxy(target, {
    get(obj, property, receiver) {
      const value: unknown = Reflect.get(obj, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (err) {
          throw wrapError(dependency, err);
        }
        if (result instanceof Promise) {
          return result.catch((err: unknown) => {
            throw wrapError(dependency, err);
          });
        }
        return result;
      };
    },
  });
}
