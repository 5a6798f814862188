/**
 * Archive sync: the configured source (BTFHUB_SYNC_SOURCE, by default BTFHUB_ARCHIVE_DIR)
 * scanned again and what is new registered, as `btfhub import` does (unchanged files are
 * not read again). It runs every BTFHUB_SYNC_INTERVAL_MS when that is set (a BullMQ job
 * scheduler with REDIS_URL, a timer in the embedded mode), and when an admin asks.
 *
 *   GET  /api/v1/sync      the schedule and the last runs, newest first, with their summaries
 *   POST /api/v1/sync      (admin) start a run now; a run already waiting or running is
 *                          answered instead of starting another. 200 with the run when it
 *                          ends within BTFHUB_REQUEST_WAIT_MS, else 202 with Location.
 */
import type { FastifyInstance } from 'fastify';
import { SYNC_SCHEDULER_ID, syncJobId } from '../../../../queue/kinds.js';
import { sendJobPending, syncRunBody } from '../../../coverage-service.js';
import { SyncListQuery, type SyncListQueryInput } from '../../../coverage-schemas.js';
import { ApiError } from '../../../errors.js';
import { requireAdmin } from '../../../plugins/app/admin-auth.js';

export async function syncRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  const sync = services.sync;

  app.get<{ Querystring: SyncListQueryInput }>('/api/v1/sync', { schema: { querystring: SyncListQuery } }, async (request) => {
    const [schedule, runs] = await Promise.all([services.queue.scheduled('sync', SYNC_SCHEDULER_ID), services.queue.recent('sync', request.query.limit)]);
    return {
      source: sync.source,
      interval_ms: sync.source === null ? 0 : sync.intervalMs,
      next_run_at: schedule?.nextRunAt?.toISOString() ?? null,
      runs: runs.map(syncRunBody),
    };
  });

  app.post('/api/v1/sync', { preHandler: requireAdmin(services.config) }, async (_request, reply) => {
    const source = sync.source;
    if (source === null) {
      throw new ApiError(409, 'sync_not_configured', 'no archive source to sync: set BTFHUB_SYNC_SOURCE (or BTFHUB_ARCHIVE_DIR)');
    }
    const running = (await services.queue.recent('sync', 10)).find((run) => run.state === 'waiting' || run.state === 'active');
    const id = running?.id ?? (await services.queue.enqueue('sync', syncJobId(), { kind: 'sync', source, trigger: 'admin' }));
    const status = await services.queue.waitFor('sync', id, services.config.requestWaitMs);
    if (status.state === 'completed' || status.state === 'failed') return syncRunBody(status);
    return sendJobPending(reply, status);
  });
}
