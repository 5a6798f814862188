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
 *
 * Only work that costs CPU is counted. The trim routes (`POST /api/v1/btf`, `/customize`)
 * answer most requests from a cache at no cost, and a fleet of agents behind one NAT
 * address asks for the same few trims again and again: there the route charges one unit
 * (`request.chargeWork()`) when it misses the cache and is about to check objects and
 * enqueue a trim, and only that request is refused once the budget is spent; cached answers
 * keep coming. Every other limited route is charged when its request arrives.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ioredis, type Redis } from '../../ioredis.js';
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

/** Routes charged only for work (a cache miss), not for every request. */
const CHARGED_ON_WORK: readonly string[] = ['POST /api/v1/btf', 'POST /api/v1/customize'];

declare module 'fastify' {
  interface FastifyRequest {
    /** Counts one unit of work against the client's budget on this route; 429 when that spends it. */
    chargeWork(): Promise<void>;
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
    if (options.max === 0) {
      app.decorateRequest('chargeWork', async () => {});
      return;
    }

    // Before @fastify/rate-limit's own onRoute hook: it reads config.rateLimit.
    const chargedOnWork = new Set<string>();
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = [route.method].flat();
      if (methods.some((method) => CHARGED_ON_WORK.includes(`${method} ${route.url}`))) {
        chargedOnWork.add(route.url);
        return;
      }
      if (route.config?.rateLimited === true || methods.some((method) => isRateLimitedRoute(method, route.url))) {
        route.config = { ...route.config, rateLimit: {} };
      }
    });

    let redis: Redis | undefined;
    if (options.redis !== undefined) {
      redis = new (ioredis().Redis)(options.redis.url, {
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
        new ApiError(
          429,
          'rate_limited',
          `more than ${context.max} requests in ${Math.round(options.windowMs / 1000)} s from this client; retry in ${context.after}`,
        ),
    });

    // The routes charged on work: one limiter each (its own budget, as the other routes have).
    const limiters = new Map<string, ReturnType<FastifyInstance['createRateLimit']>>();
    const limiterOf = (request: FastifyRequest) => {
      const url = request.routeOptions.url ?? '';
      let limiter = limiters.get(url);
      if (limiter === undefined) {
        // Keyed by client and route (the store of a limiter made here is not per route in Redis).
        limiter = app.createRateLimit({ keyGenerator: (req: FastifyRequest) => `${req.ip}:POST${url}` });
        limiters.set(url, limiter);
      }
      return limiter;
    };
    const seconds = Math.round(options.windowMs / 1000);
    const refuse = (reply: FastifyReply, status: { ttlInSeconds: number }) => {
      reply
        .header('x-ratelimit-limit', String(options.max))
        .header('x-ratelimit-remaining', '0')
        .header('x-ratelimit-reset', String(status.ttlInSeconds));
      return new ApiError(
        429,
        'rate_limited',
        `more than ${options.max} trims in ${seconds} s from this client (cached answers are not counted); retry in ${status.ttlInSeconds} s`,
        undefined,
        {
          headers: { 'retry-after': String(Math.max(1, status.ttlInSeconds)) },
        },
      );
    };
    // The reply of each request of those routes, for the headers a charge sets.
    const replies = new WeakMap<FastifyRequest, FastifyReply>();
    app.decorateRequest('chargeWork', async function (this: FastifyRequest) {
      const reply = replies.get(this);
      if (reply === undefined) return; // not a route charged on work
      const status = await limiterOf(this)(this);
      if (status.isAllowed) return;
      if (status.isExceeded) throw refuse(reply, status);
      reply.header('x-ratelimit-limit', String(options.max)).header('x-ratelimit-remaining', String(status.remaining));
    });
    // A client whose budget is spent still gets cached answers (an agent fleet behind one NAT
    // address keeps working); only a request that needs a new trim is refused.
    app.addHook('onRequest', async (request, reply) => {
      if (chargedOnWork.has(request.routeOptions.url ?? '')) replies.set(request, reply);
    });
  },
  { name: 'btfhub-rate-limit' },
);
