/**
 * Probes and metrics for operators.
 *
 *   GET /healthz   liveness: the process answers
 *   GET /readyz    readiness: catalog, queue and store each answer their check(); 503 names the failed ones
 *   GET /metrics   Prometheus text (src/api/metrics.ts)
 */
import type { FastifyInstance } from 'fastify';
import { RETRY_AFTER_SECONDS, type Dependency } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.js';

/** A check not answered in this time counts as failed. */
export const READINESS_TIMEOUT_MS = 3000;

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

  app.get('/healthz', async () => ({ status: 'ok' as const }));

  app.get('/readyz', async (request, reply) => {
    const { catalog, queue, store } = services.raw;
    const [catalogCheck, queueCheck, storeCheck] = await Promise.all([
      runCheck(() => catalog.check(), READINESS_TIMEOUT_MS),
      runCheck(() => queue.check(), READINESS_TIMEOUT_MS),
      runCheck(() => store.check(), READINESS_TIMEOUT_MS),
    ]);
    const checks = { catalog: catalogCheck, queue: queueCheck, store: storeCheck };
    const failed = (Object.keys(checks) as Dependency[]).filter((name) => !checks[name].ok);
    if (failed.length === 0) return { status: 'ok' as const, checks };
    request.log.warn({ checks }, 'not ready');
    const reasons = failed.map((name) => {
      const check = checks[name];
      return `${name} (${check.ok ? '' : check.error})`;
    });
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .send({ error: 'unavailable', message: `not ready: ${reasons.join(', ')}`, failed, checks });
  });

  app.get('/metrics', async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(await services.metrics.render()));
}
