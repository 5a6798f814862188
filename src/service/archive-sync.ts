/**
 * The periodic archive sync (BTFHUB_SYNC_SOURCE every BTFHUB_SYNC_INTERVAL_MS) as a schedule
 * of the job queue: a BullMQ job scheduler with REDIS_URL (one per deployment, however many
 * API replicas set it), a timer in the process otherwise. No source or an interval of 0
 * removes it.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { JobQueue } from '../queue/job.js';
import { type JobKinds, SYNC_SCHEDULER_ID } from '../queue/kinds.js';

/** Sets the schedule of `config`; a queue that cannot is logged, not fatal (GET /api/v1/sync shows none). */
export async function scheduleArchiveSync(
  queue: JobQueue<JobKinds>,
  config: Pick<Config, 'syncSource' | 'syncIntervalMs'>,
  logger: Logger,
): Promise<void> {
  const source = config.syncSource ?? null;
  const schedule =
    source === null || config.syncIntervalMs <= 0
      ? null
      : { data: { kind: 'sync' as const, source, trigger: 'schedule' as const }, everyMs: config.syncIntervalMs };
  try {
    await queue.schedule('sync', SYNC_SCHEDULER_ID, schedule);
    if (schedule !== null) logger.info({ source, intervalMs: config.syncIntervalMs }, 'archive sync scheduled');
  } catch (error) {
    logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'the archive sync schedule could not be set');
  }
}
