/**
 * Builds the HTTP API: a configured Fastify instance, not yet listening. `btfhub serve`
 * (src/cli/commands/serve.ts) starts it; tests call `app.inject()` on it.
 *
 *   plugins/external   multipart (upload limits), swagger + Swagger UI at /docs
 *   plugins/app        zod validation, error handler, request metrics
 *   routes/            one module per URL path (see openapi.yaml for the contract)
 *
 * The caller owns the catalog, store and queue: closing the app does not close them.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import type { Catalog } from '../catalog/catalog.js';
import type { TrimQueue } from '../queue/trim-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ServiceMetrics } from './metrics.js';
import { frameworkErrors, useErrorHandler } from './plugins/app/error-handler.js';
import { useRequestMetrics } from './plugins/app/request-metrics.js';
import { useZodValidation } from './plugins/app/zod-validation.js';
import { registerMultipart } from './plugins/external/multipart.js';
import { registerSwagger } from './plugins/external/swagger.js';
import { btfRoutes } from './routes/api/v1/btf.js';
import { compatRoutes } from './routes/api/v1/compat.js';
import { identityRoutes } from './routes/identity.js';
import { jobRoutes } from './routes/api/v1/jobs.js';
import { kernelRoutes } from './routes/api/v1/kernels.js';
import { healthRoutes } from './routes/health.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { type ApiConfig, type AppServices, guardDependency } from './services.js';

export interface BuildAppOptions {
  config: ApiConfig;
  store: ObjectStore;
  catalog: Catalog;
  queue: TrimQueue;
  /** A pino logger; none (silent) by default. */
  logger?: FastifyBaseLogger;
  /** Shared with an in-process worker to expose its decoded-kernel cache; one is created otherwise. */
  metrics?: ServiceMetrics;
  /** Swagger UI at /docs (default true). */
  docs?: boolean;
  /** Called for every route as it is added (the OpenAPI test lists the routes with it). */
  onRoute?: (route: RouteOptions) => void;
}

/** Identity fields reach 128 characters and a path holds five parameters. */
const MAX_PARAM_LENGTH = 256;

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger !== undefined ? { loggerInstance: options.logger } : { logger: false }),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // openapi.yaml lists every route; automatic HEAD twins would be routes it does not describe.
    exposeHeadRoutes: false,
    // Only multipart bodies are uploads; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    // Errors met before routing (undecodable URL, over-long segment) answer JSON too.
    frameworkErrors,
  });

  const metrics = options.metrics ?? new ServiceMetrics();
  metrics.setQueueDepth(() => options.queue.depth());
  const services: AppServices = {
    config: options.config,
    catalog: guardDependency('catalog', options.catalog),
    store: guardDependency('store', options.store),
    queue: guardDependency('queue', options.queue),
    metrics,
    raw: { catalog: options.catalog, store: options.store, queue: options.queue },
  };
  app.decorate('services', services);

  const onRoute = options.onRoute;
  if (onRoute !== undefined) app.addHook('onRoute', (route) => onRoute(route));
  useZodValidation(app);
  useErrorHandler(app);
  useRequestMetrics(app, metrics);

  await registerMultipart(app, options.config);
  if (options.docs ?? true) await registerSwagger(app);

  await app.register(btfRoutes);
  await app.register(jobRoutes);
  await app.register(kernelRoutes);
  await app.register(identityRoutes);
  await app.register(compatRoutes);
  await app.register(healthRoutes);
  await app.register(monitoringRoutes);

  return app;
}
