/**
 * Rate limiting (@fastify/rate-limit) on the routes that make the service work: trims,
 * bundles, compatibility reports, and the admin routes (against token guessing). Per client
 * address (`request.ip`, which honours BTFHUB_TRUST_PROXY) and per route; past the limit the
 * answer is `429 rate_limited` with Retry-After and X-RateLimit-* headers.
 *
 * With Redis (scale-out) the counters live there under `<prefix>:ratelimit:`, so N API
 * replicas enforce one budget, not N. The connection fails fast (no offline queue, short
 * command timeout) and a failing Redis lets requests through: an outage must not turn
 * cached answers into errors (the trims themselves answer 503 without Redis anyway).
 *
 * Routes are picked by method and URL (`isRateLimitedRoute`), so routes added later by
 * other modules (bundle, compat) are covered without each remembering to opt in; a route
 * may also opt in with `config: { rateLimited: true }`.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { RateLimitConfig } from '../../../config/schema.js';
import { ApiError } from '../../errors.js';

/** `METHOD /path` of the rate-limited routes (Fastify's URL syntax). */
const RATE_LIMITED_ROUTES: readonly string[] = [
  'POST /api/v1/btf',
  'POST /api/v1/customize',
  'POST /api/v1/bundle',
  'POST /api/v1/compat',
  'POST /api/v1/kernels',
  'POST /api/v1/kernels/generate',
  'POST /api/v1/sync',
];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Opt a route into rate limiting. */
    rateLimited?: boolean;
  }
}

export function isRateLimitedRoute(method: string, url: string): boolean {
  return RATE_LIMITED_ROUTES.includes(`${method} ${url}`) || url.startsWith('/api/v1/admin/');
}

export interface RateLimitOptions extends RateLimitConfig {
  /** Shared counters: Redis URL and the deployment's key prefix. In memory when absent. */
  redis?: { url: string; prefix: string };
}

/** The limiter; nothing when `max` is 0. Register it before the routes are added. */
export const rateLimiting = fp(
  async (app: FastifyInstance, options: RateLimitOptions) => {
    if (options.max === 0) return;

    // Before @fastify/rate-limit's own onRoute hook: it reads config.rateLimit.
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = [route.method].flat();
      if (route.config?.rateLimited === true || methods.some((method) => isRateLimitedRoute(method, route.url))) {
        route.config = { ...route.config, rateLimit: {} };
      }
    });

    let redis: Redis | undefined;
    if (options.redis !== undefined) {
      redis = new Redis(options.redis.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        commandTimeout: 500,
        retryStrategy: (times) => Math.min(200 * times, 2000),
      });
      // Reported once per outage by the queue's own connection; a limiter that cannot count lets requests through.
      redis.on('error', () => {});
      const client = redis;
      app.addHook('onClose', async () => {
        client.disconnect();
      });
    }

    await app.register(rateLimit, {
      global: false,
      max: options.max,
      timeWindow: options.windowMs,
      hook: 'onRequest',
      skipOnError: true,
      ...(redis !== undefined && { redis, nameSpace: `${options.redis!.prefix}:ratelimit:` }),
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, 'rate_limited', `more than ${context.max} requests in ${Math.round(options.windowMs / 1000)} s from this client; retry in ${context.after}`),
    });
  },
  { name: 'btfhub-rate-limit' },
);
