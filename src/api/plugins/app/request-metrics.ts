/**
 * Counts every answered request in btfhub_http_requests_total and its latency in
 * btfhub_http_request_duration_seconds, labelled by route template (not the raw URL, which
 * would make one series per kernel).
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../../metrics.js';

export function useRequestMetrics(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe(reply.elapsedTime / 1000, { route });
  });
}
