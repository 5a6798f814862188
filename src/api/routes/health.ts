/**
 * Probes and metrics for operators.
 *
 *   GET /healthz   liveness: the process answers
 *   GET /readyz    readiness: catalog, queue and store each answer their check(); 503 names the failed ones
 *                  (why they failed, which can hold paths and hosts, only with the admin token)
 *   GET /metrics   Prometheus text (src/api/metrics.ts)
 */
import type { FastifyInstance } from 'fastify';
import { RETRY_AFTER_SECONDS, type Dependency } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.js';
import { header, response } from '../openapi/components.js';
import { addRoute, defineOperation } from '../openapi/operation.js';
import { Health, NotReady, Ready } from '../schemas.js';

const healthzOperation = defineOperation({
  method: 'get',
  path: '/healthz',
  operationId: 'healthz',
  tags: ['operations'],
  summary: 'Liveness',
  responses: { '200': { description: 'The process answers.', content: { 'application/json': { schema: Health } } } },
});

const readyzOperation = defineOperation({
  method: 'get',
  path: '/readyz',
  operationId: 'readyz',
  tags: ['operations'],
  summary: 'Readiness',
  description: `Checks the catalog database, the queue (Redis, when used) and the object store,
each within 3 s. 503 names the ones that failed. The store check also writes and removes a
probe object, and compares a random sample of kernels and trims with the catalog (sizes):
a store that cannot be written or disagrees with the catalog fails it (outcome reused for 30 s).
Why each failed (an error message, which may name paths and hosts) is shown only to requests
carrying the admin token.
`,
  responses: {
    '200': { description: 'Ready.', content: { 'application/json': { schema: Ready } } },
    '503': {
      description: 'Not ready; `failed` names the dependencies that did not answer.',
      headers: { 'Retry-After': header('Retry-After') },
      content: { 'application/json': { schema: NotReady } },
    },
  },
});

const metricsOperation = defineOperation({
  method: 'get',
  path: '/metrics',
  operationId: 'metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics',
  description: `\`btfhub_http_requests_total{method,route,status}\`,
\`btfhub_http_request_duration_seconds{route}\`,
\`btfhub_trim_job_duration_seconds\`, \`btfhub_trim_requests_total{outcome}\`,
\`btfhub_cache_hits_total\`, \`btfhub_queue_depth\`, \`btfhub_kernels_decoded\`,
\`btfhub_kernels_decoded_bytes\`, \`btfhub_integrity_failures_total{kind,action}\`
(stored copies that did not match their sha256: never sent), and the process and Node.js metrics of prom-client
(\`process_*\`, \`nodejs_*\`, GC pauses in \`nodejs_gc_duration_seconds\`).
`,
  responses: { '200': response('Metrics') },
});

export const healthOperations = [healthzOperation, readyzOperation, metricsOperation];

/** A check not answered in this time counts as failed. */
const READINESS_TIMEOUT_MS = 3000;

type CheckResult = { ok: true } | { ok: false; error: string };

async function runCheck(check: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, healthzOperation, {}, async () => ({ status: 'ok' as const }));

  addRoute(app, readyzOperation, {}, async (request, reply) => {
    const { catalog, queue, store } = services.raw;
    const [catalogCheck, queueCheck, storeCheck] = await Promise.all([
      runCheck(() => catalog.check(), READINESS_TIMEOUT_MS),
      runCheck(() => queue.check(), READINESS_TIMEOUT_MS),
      runCheck(async () => {
        await store.check();
        await services.readiness.check();
      }, READINESS_TIMEOUT_MS),
    ]);
    const detailed = { catalog: catalogCheck, queue: queueCheck, store: storeCheck };
    const failed = (Object.keys(detailed) as Dependency[]).filter((name) => !detailed[name].ok);
    // Anonymous callers learn ok/failed per dependency; the reasons (paths, hosts) are the admin's.
    const admin = app.isAdmin(request);
    const checks = admin ? detailed : { catalog: { ok: catalogCheck.ok }, queue: { ok: queueCheck.ok }, store: { ok: storeCheck.ok } };
    if (failed.length === 0) return { status: 'ok' as const, checks };
    request.log.warn({ checks: detailed }, 'not ready');
    const reasons = failed.map((name) => {
      const check = detailed[name];
      return admin && !check.ok ? `${name} (${check.error})` : name;
    });
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .send({ error: 'unavailable', message: `not ready: ${reasons.join(', ')}`, failed, checks });
  });

  addRoute(app, metricsOperation, {}, async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(await services.metrics.render()));
}
