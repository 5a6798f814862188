/**
 * What the routes use, decorated onto the Fastify instance as `app.services`: the
 * configuration, the catalog, the object store and the trim queue, plus the metrics.
 *
 * The catalog, store and queue reach the routes wrapped by `guardDependency`: any failure
 * of theirs becomes a DependencyError, which the error handler answers with 503 and
 * Retry-After, naming the dependency. /readyz uses the unwrapped ones to report the cause.
 */
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import type { TrimQueue } from '../queue/trim-queue.js';
import { StorageError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { DependencyError, type Dependency } from './errors.js';
import type { ServiceMetrics } from './metrics.js';

/** The settings the API reads. A full `Config` fits. */
export type ApiConfig = Pick<Config, 'requestWaitMs' | 'maxFileBytes' | 'maxFiles' | 'adminToken'>;

export interface AppServices {
  config: ApiConfig;
  catalog: Catalog;
  store: ObjectStore;
  queue: TrimQueue;
  metrics: ServiceMetrics;
  /** The same dependencies, unwrapped (readiness checks). */
  raw: { catalog: Catalog; store: ObjectStore; queue: TrimQueue };
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
