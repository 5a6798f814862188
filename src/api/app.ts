/**
 * Builds the HTTP API: a configured Fastify instance, not yet listening. `btfhub serve`
 * (src/cli/commands/serve.ts) starts it; tests call `app.inject()` on it.
 *
 *   plugins/app        our Fastify plugins: services (decorator), shutdown gate, zod validation,
 *                      error handler, request metrics, admin auth (decorator)
 *   plugins/external   third-party ones set up: multipart (upload limits), rate limit, the
 *                      OpenAPI document and Swagger UI at /docs
 *   route-table.ts     every route plugin (routes/, one module per URL path) and the operations
 *                      they are made from, which the OpenAPI document is generated from
 *
 * The caller owns the catalog, store and queue (src/service/backends.ts makes them): closing
 * the app does not close them.
 *
 * Hardening (docs/SECURITY.md): every request must arrive within `requestTimeoutMs`;
 * uploads are bounded per field, file, request and process (uploads.ts); trim routes are
 * rate limited; they refuse browsers from other origins (plugins/app/browser-guards.ts); every
 * answer carries X-Content-Type-Options: nosniff, /docs a CSP; once `close()` starts, requests still arriving are answered 503 with
 * Retry-After and `Connection: close` while those in flight finish.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import type { CodecExecutor } from '../executor/codec-executor.js';
import { InlineCodecExecutor } from '../executor/inline-executor.js';
import { LIMIT_DEFAULTS, type TrustProxy } from '../config/schema.js';
import type { JobQueue } from '../queue/job.js';
import type { JobKinds } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { onDamage } from '../storage/integrity.js';
import { ServiceMetrics } from './metrics.js';
import { DeepReadiness } from './readiness.js';
import { type ApiConfig, apiLimits } from './limits.js';
import { adminAuth } from './plugins/app/admin-auth.js';
import { compatRedirects } from './plugins/app/compat-redirects.js';
import { browserGuards } from './plugins/app/browser-guards.js';
import { errorHandler, frameworkErrors } from './plugins/app/error-handler.js';
import { requestMetrics } from './plugins/app/request-metrics.js';
import { services as servicesPlugin } from './plugins/app/services.js';
import { shutdownGate } from './plugins/app/shutdown-gate.js';
import { zodValidation } from './plugins/app/zod-validation.js';
import { multipartUploads } from './plugins/external/multipart.js';
import { rateLimiting } from './plugins/external/rate-limit.js';
import { apiDocs } from './plugins/external/swagger.js';
import { ROUTES } from './route-table.js';
import { MemoryRefusedObjects, RedisRefusedObjects, type RefusedObjects } from './refused-objects.js';
import { type AppServices, guardDependency, type SyncSettings } from './services.js';
import { TrimResultCache } from './trim-cache.js';
import { TrimHitRecorder } from './trim-hits.js';
import { UploadBudget } from './uploads.js';

export interface BuildAppOptions {
  config: ApiConfig;
  store: ObjectStore;
  catalog: Catalog;
  /** Runs every kind of job: in-process, or a BullMQ producer for `btfhub worker` processes. */
  queue: JobQueue<JobKinds>;
  /** Checks uploads (the one in-process trims use, in the embedded mode); one of this thread by default. */
  codec?: CodecExecutor;
  /** A pino logger; none (silent) by default. */
  logger?: FastifyBaseLogger;
  /** Shared with an in-process worker to expose its decoded-kernel cache; one is created otherwise. */
  metrics?: ServiceMetrics;
  /** Swagger UI at /docs (default true). */
  docs?: boolean;
  /** The archive sync: what POST /api/v1/sync scans (none by default) and the schedule's interval, shown by GET. */
  sync?: Partial<SyncSettings>;
  /** Called for every route as it is added (the OpenAPI test lists the routes with it). */
  onRoute?: (route: RouteOptions) => void;
}

/** Identity fields reach 128 characters and a path holds five parameters. */
const MAX_PARAM_LENGTH = 256;

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const limits = apiLimits(options.config);
  const app = Fastify({
    ...(options.logger !== undefined ? { loggerInstance: options.logger } : { logger: false }),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Slow clients (slowloris) get 408 once the whole request has not arrived in time.
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(limits.requestTimeoutMs, 30_000),
      // Node checks the timeouts above this often (default 30 s, far coarser than short timeouts).
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(limits.requestTimeoutMs / 4))),
    },
    trustProxy: trustProxyOption(options.config.trustProxy ?? false),
    // Closing answers our own 503 (JSON, Retry-After): plugins/app/shutdown-gate.ts.
    return503OnClosing: false,
    // The OpenAPI document lists every route; automatic HEAD twins would be routes it does not describe.
    exposeHeadRoutes: false,
    // Only multipart bodies are uploads; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    // Errors met before routing (undecodable URL, over-long segment) answer JSON too.
    frameworkErrors,
  });

  const metrics = options.metrics ?? new ServiceMetrics();
  metrics.setQueueDepth(() => options.queue.depth(['trim']));
  // Damaged stored copies found in this process (by the API or an in-process job): counted and logged.
  const stopCountingDamage = onDamage((report) => {
    metrics.recordDamage(report);
    app.log.error({ integrity: report }, `stored ${report.kind} ${report.key} does not match its sha256 (${report.action})`);
  });
  app.addHook('onClose', async () => stopCountingDamage());
  const trimHits = new TrimHitRecorder(options.catalog, {
    onError: (error, droppedHits) => app.log.warn({ err: error, droppedHits }, 'cache hits not recorded in the catalog'),
  });
  const services: AppServices = {
    config: options.config,
    catalog: guardDependency('catalog', options.catalog),
    store: guardDependency('store', options.store),
    queue: guardDependency('queue', options.queue),
    codec: options.codec ?? new InlineCodecExecutor({ kernelCacheBytes: 0 }),
    metrics,
    limits,
    uploads: new UploadBudget(limits.maxUploadBytesInFlight),
    trimCache: new TrimResultCache(limits.trimCacheBytes),
    trimHits,
    sync: { source: options.sync?.source ?? null, intervalMs: options.sync?.intervalMs ?? 0 },
    refused: refusedObjects(options.config),
    readiness: new DeepReadiness(options.catalog, options.store),
    raw: { catalog: options.catalog, store: options.store, queue: options.queue },
  };
  app.addHook('onClose', () => services.refused.close());
  await app.register(servicesPlugin, { services });
  await app.register(shutdownGate);
  const onRoute = options.onRoute;
  if (onRoute !== undefined) app.addHook('onRoute', (route) => onRoute(route));
  await app.register(zodValidation);
  await app.register(errorHandler);
  await app.register(requestMetrics);
  await app.register(adminAuth);
  await app.register(compatRedirects);
  await app.register(browserGuards, { allowedOrigins: options.config.allowedOrigins ?? [] });

  await app.register(multipartUploads, { ...options.config, maxFieldBytes: limits.maxFieldBytes });
  await app.register(rateLimiting, {
    ...limits.rateLimit,
    ...(options.config.queue?.kind === 'redis' && { redis: { url: options.config.queue.url, prefix: options.config.queue.prefix } }),
  });
  if (options.docs ?? true) await app.register(apiDocs);

  for (const routes of ROUTES) await app.register(routes);

  return app;
}

/** Where refused objects hashes are kept: Redis with a Redis queue (shared by the replicas), else memory. */
function refusedObjects(config: ApiConfig): RefusedObjects {
  const ttlMs = config.refusedObjectsTtlMs ?? LIMIT_DEFAULTS.refusedObjectsTtlMs;
  return config.queue?.kind === 'redis' && ttlMs > 0
    ? new RedisRefusedObjects(config.queue.url, config.queue.prefix, ttlMs)
    : new MemoryRefusedObjects(ttlMs);
}

/** BTFHUB_TRUST_PROXY as Fastify takes it: a hop count becomes "trust the nearest N hops". */
function trustProxyOption(value: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address: string, hop: number) => hop < value : value;
}
