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
import { HIDDEN_DETAIL, sendJobPending, syncRunBody } from '../../../coverage-service.js';
import { SyncListQuery, SyncRun, type SyncRunBody, SyncRuns } from '../../../coverage-schemas.js';
import { ApiError } from '../../../errors.js';
import { ADMIN_ONLY, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { ErrorBody } from '../../../schemas.js';

const listSyncRunsOperation = defineOperation({
  method: 'get',
  path: '/api/v1/sync',
  operationId: 'listSyncRuns',
  tags: ['coverage'],
  summary: 'The archive sync schedule and its last runs',
  description: `What a sync scans (BTFHUB_SYNC_SOURCE, by default BTFHUB_ARCHIVE_DIR), how often it
runs (BTFHUB_SYNC_INTERVAL_MS; 0 when off) and when next, and the last runs, newest
first, each with its summary: kernels added, updated, unchanged, files that did not
decode (with why), markers, files not read again since unchanged. The source, the names
of files that did not decode and error messages are shown only to requests carrying the
admin token; others see \`(shown with the admin token)\` in their place.
`,
  request: { query: SyncListQuery },
  responses: {
    '200': { description: 'The schedule and the runs.', content: { 'application/json': { schema: SyncRuns } } },
    '400': response('BadRequest'),
    '503': response('Unavailable'),
  },
});

const startSyncOperation = defineOperation({
  method: 'post',
  path: '/api/v1/sync',
  operationId: 'startSync',
  tags: ['coverage'],
  summary: 'Sync the archive source now (admin)',
  description: `Scans the configured source as \`btfhub import\` does and registers what is new or
changed; unchanged files are not read again. A run already waiting or running is
answered instead of starting a second one. The answer is the run when it ends
within BTFHUB_REQUEST_WAIT_MS (its \`state\` says whether it completed or failed),
otherwise 202 with the job's URL.
`,
  security: ADMIN_ONLY,
  responses: {
    '200': { description: 'The finished run.', content: { 'application/json': { schema: SyncRun } } },
    '202': response('JobAccepted'),
    '401': response('Unauthorized'),
    '403': response('AdminDisabled'),
    '409': {
      description: 'No source to sync is configured (`sync_not_configured`).',
      content: { 'application/json': { schema: ErrorBody } },
    },
    '429': response('RateLimited'),
    '503': response('Unavailable'),
  },
});

export const syncOperations = [listSyncRunsOperation, startSyncOperation];

/** A run as anonymous callers see it: counts and states, no source, file names or error messages. */
function withoutDetails(run: SyncRunBody): SyncRunBody {
  const body: SyncRunBody = { ...run, source: HIDDEN_DETAIL };
  if (run.error !== undefined) body.error = { ...run.error, message: HIDDEN_DETAIL };
  if (run.summary !== undefined) body.summary = { ...run.summary, source: HIDDEN_DETAIL, invalid_files: [] };
  return body;
}

export async function syncRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  const sync = services.sync;

  addRoute(app, listSyncRunsOperation, {}, async (request) => {
    const [schedule, runs] = await Promise.all([
      services.queue.scheduled('sync', SYNC_SCHEDULER_ID),
      services.queue.recent('sync', request.query.limit),
    ]);
    const admin = app.isAdmin(request);
    return {
      source: sync.source === null ? null : admin ? sync.source : HIDDEN_DETAIL,
      interval_ms: sync.source === null ? 0 : sync.intervalMs,
      next_run_at: schedule?.nextRunAt?.toISOString() ?? null,
      runs: runs.map((run) => (admin ? syncRunBody(run) : withoutDetails(syncRunBody(run)))),
    };
  });

  addRoute(app, startSyncOperation, { preHandler: app.adminOnly }, async (_request, reply) => {
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
