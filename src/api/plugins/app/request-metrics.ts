/**
 * Counts every answered request in btfhub_http_requests_total and its latency in
 * btfhub_http_request_duration_seconds (and the original BTFHub Online's
 * http_request_duration_seconds), labelled by route template (not the raw URL, which would
 * make one series per kernel); http_requests_inflight counts those being answered. The
 * metrics are `app.services.metrics`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export const requestMetrics = fp(
  async (app: FastifyInstance) => {
    const { metrics } = app.services;
    const inflight = new WeakSet<FastifyRequest>();
    const routeOf = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched';
    app.addHook('onRequest', async (request) => {
      inflight.add(request);
      metrics.requestStarted(routeOf(request));
    });
    app.addHook('onResponse', async (request, reply) => {
      if (!inflight.delete(request)) return;
      metrics.requestFinished({
        method: request.method,
        route: routeOf(request),
        status: reply.statusCode,
        seconds: reply.elapsedTime / 1000,
      });
    });
    // A client gone before its answer is no longer in flight (and has no status to count).
    app.addHook('onRequestAbort', async (request) => {
      if (inflight.delete(request)) metrics.requestAbandoned(routeOf(request));
    });
  },
  { name: 'btfhub-request-metrics', dependencies: ['btfhub-services'] },
);
