/**
 * The original BTFHub Online's monitoring routes, for deployments that probe them:
 *
 *   GET /monitoring/health    200 `{}` while the process is alive (heptiolabs/healthcheck's live endpoint)
 *   GET /monitoring/metrics   Prometheus text: /metrics plus the original's HTTP metrics
 *                             (http_request_duration_seconds, http_requests_inflight)
 */
import type { FastifyInstance } from 'fastify';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.js';
import { response } from '../openapi/components.js';
import { addRoute, defineOperation } from '../openapi/operation.js';
import { CompatHealth } from '../schemas.js';

const compatHealthOperation = defineOperation({
  method: 'get',
  path: '/monitoring/health',
  operationId: 'compatHealth',
  tags: ['compatibility', 'operations'],
  summary: 'Liveness (BTFHub Online)',
  responses: {
    '200': { description: 'Alive; the body is `{}` as the original answered.', content: { 'application/json': { schema: CompatHealth } } },
  },
});

const compatMetricsOperation = defineOperation({
  method: 'get',
  path: '/monitoring/metrics',
  operationId: 'compatMetrics',
  tags: ['compatibility', 'operations'],
  summary: 'Prometheus metrics (BTFHub Online path)',
  description: `The same as \`/metrics\`, plus the HTTP metrics of the original BTFHub Online:
\`http_request_duration_seconds{handler,method,code}\` and \`http_requests_inflight{handler}\`.
`,
  responses: { '200': response('Metrics') },
});

export const monitoringOperations = [compatHealthOperation, compatMetricsOperation];

export async function monitoringRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  addRoute(app, compatHealthOperation, {}, async () => ({}));
  addRoute(app, compatMetricsOperation, {}, async (_request, reply) =>
    reply.type(PROMETHEUS_CONTENT_TYPE).send(await services.metrics.renderMonitoring()),
  );
}
