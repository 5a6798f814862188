/**
 * Builds the HTTP API: a configured Fastify instance, not yet listening. `btfhub serve`
 * (src/cli/commands/serve.ts) starts it; tests call `app.inject()` on it.
 *
 *   plugins/external   multipart (upload limits), rate limit, swagger + Swagger UI at /docs
 *   plugins/app        zod validation, error handler, request metrics, admin auth
 *   routes/            one module per URL path (see openapi.yaml for the contract)
 *
 * The caller owns the catalog, store and queue (src/service/backends.ts makes them): closing
 * the app does not close them.
 *
 * Hardening (docs/SECURITY.md): every request must arrive within `requestTimeoutMs`;
 * uploads are bounded per field, file, request and process (uploads.ts); trim routes are
 * rate limited; once `close()` starts, requests still arriving are answered 503 with
 * Retry-After and `Connection: close` while those in flight finish.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import type { TrustProxy } from '../config/schema.js';
import type { JobQueue } from '../queue/job.js';
import type { JobKinds } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ServiceMetrics } from './metrics.js';
import { frameworkErrors, useErrorHandler } from './plugins/app/error-handler.js';
import { useRequestMetrics } from './plugins/app/request-metrics.js';
import { useZodValidation } from './plugins/app/zod-validation.js';
import { registerMultipart } from './plugins/external/multipart.js';
import { registerSwagger } from './plugins/external/swagger.js';
import { btfRoutes } from './routes/api/v1/btf.js';
import { bundleRoutes } from './routes/api/v1/bundle.js';
import { compatReportRoutes } from './routes/api/v1/compat-report.js';
import { coverageRoutes } from './routes/api/v1/coverage.js';
import { kernelUploadRoutes } from './routes/api/v1/kernel-upload.js';
import { syncRoutes } from './routes/api/v1/sync.js';
import { pageRoutes } from './routes/page.js';
import { compatRoutes } from './routes/api/v1/compat.js';
import { identityRoutes } from './routes/identity.js';
import { jobRoutes } from './routes/api/v1/jobs.js';
import { kernelRoutes } from './routes/api/v1/kernels.js';
import { healthRoutes } from './routes/health.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { registerRateLimit } from './plugins/external/rate-limit.js';
import { type ApiConfig, apiLimits } from './limits.js';
import { type AppServices, guardDependency, type SyncSettings } from './services.js';
import { TrimResultCache } from './trim-cache.js';
import { TrimHitRecorder } from './trim-hits.js';
import { UploadBudget, useUploadBudget } from './uploads.js';
import { unavailable } from './errors.js';

export interface BuildAppOptions {
  config: ApiConfig;
  store: ObjectStore;
  catalog: Catalog;
  /** Runs every kind of job: in-process, or a BullMQ producer for `btfhub worker` processes. */
  queue: JobQueue<JobKinds>;
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
    // Closing answers our own 503 (JSON, Retry-After): see the onRequest hook below.
    return503OnClosing: false,
    // openapi.yaml lists every route; automatic HEAD twins would be routes it does not describe.
    exposeHeadRoutes: false,
    // Only multipart bodies are uploads; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    // Errors met before routing (undecodable URL, over-long segment) answer JSON too.
    frameworkErrors,
  });

  const metrics = options.metrics ?? new ServiceMetrics();
  metrics.setQueueDepth(() => options.queue.depth(['trim']));
  const trimHits = new TrimHitRecorder(options.catalog, {
    onError: (error, droppedHits) => app.log.warn({ err: error, droppedHits }, 'cache hits not recorded in the catalog'),
  });
  const services: AppServices = {
    config: options.config,
    catalog: guardDependency('catalog', options.catalog),
    store: guardDependency('store', options.store),
    queue: guardDependency('queue', options.queue),
    metrics,
    limits,
    uploads: new UploadBudget(limits.maxUploadBytesInFlight),
    trimCache: new TrimResultCache(limits.trimCacheBytes),
    trimHits,
    sync: { source: options.sync?.source ?? null, intervalMs: options.sync?.intervalMs ?? 0 },
    raw: { catalog: options.catalog, store: options.store, queue: options.queue },
  };
  app.decorate('services', services);

  // From the first moment of close(): in-flight requests finish, new ones are turned away.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw unavailable('the service is shutting down; retry on another instance or in a moment');
  });
  // Answers finished while closing end their connection, so close() is not held by keep-alive.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => trimHits.close());
  useUploadBudget(app, services.uploads);

  const onRoute = options.onRoute;
  if (onRoute !== undefined) app.addHook('onRoute', (route) => onRoute(route));
  useZodValidation(app);
  useErrorHandler(app);
  useRequestMetrics(app, metrics);

  await registerMultipart(app, { ...options.config, maxFieldBytes: limits.maxFieldBytes });
  await registerRateLimit(app, {
    ...limits.rateLimit,
    ...(options.config.queue?.kind === 'redis' && { redis: { url: options.config.queue.url, prefix: options.config.queue.prefix } }),
  });
  if (options.docs ?? true) await registerSwagger(app);

  await app.register(btfRoutes);
  await app.register(jobRoutes);
  await app.register(kernelRoutes);
  await app.register(identityRoutes);
  await app.register(compatRoutes);
  await app.register(healthRoutes);
  await app.register(monitoringRoutes);
  await app.register(kernelUploadRoutes);
  await app.register(coverageRoutes);
  await app.register(syncRoutes);
  await app.register(compatReportRoutes);
  await app.register(bundleRoutes);
  await app.register(pageRoutes);

  return app;
}

/** BTFHUB_TRUST_PROXY as Fastify takes it: a hop count becomes "trust the nearest N hops". */
function trustProxyOption(value: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address: string, hop: number) => hop < value : value;
}
