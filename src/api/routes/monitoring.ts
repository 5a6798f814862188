/**
 * The original BTFHub Online's monitoring routes, for deployments that probe them:
 *
 *   GET /monitoring/health    200 `{}` while the process is alive (heptiolabs/healthcheck's live endpoint)
 *   GET /monitoring/metrics   Prometheus text: /metrics plus the original's HTTP metrics
 *                             (http_request_duration_seconds, http_requests_inflight)
 */
import type { FastifyInstance } from 'fastify';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.js';

export async function monitoringRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  app.get('/monitoring/health', async () => ({}));
  app.get('/monitoring/metrics', async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(await services.metrics.renderMonitoring()));
}
