/**
 * Archive sync: POST /api/v1/sync (admin) scans the configured source and registers what
 * is new (unchanged files are not read again), GET /api/v1/sync lists the runs with their
 * summaries; the schedule runs it by itself, in-process and as a BullMQ job scheduler
 * (real Redis, a prefix of this run's own, its keys removed after); BullMQ compat jobs
 * report progress through GET /api/v1/jobs/{id}; and the BTFHUB_SYNC_* settings.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError, DEFAULT_SYNC_INTERVAL_MS, loadConfig } from '../../src/config/schema.js';
import type { JobQueue } from '../../src/queue/job.js';
import { type JobKinds, SYNC_SCHEDULER_ID } from '../../src/queue/kinds.js';
import { testArchive } from '../helpers/test-archive.js';
import { REDIS_URL, testQueuePrefix } from '../jobs/setup.js';
import { fixtureObject, multipart } from './helpers.js';
import { ADMIN_TOKEN, followJob, setupCoverageApi } from './coverage-setup.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const archiveDir = (await testArchive()).dir;

/** A source directory in BTFHub layout holding some files of the test archive. */
async function sourceWith(t: Test, paths: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-sync-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await addFiles(dir, paths);
  return dir;
}

async function addFiles(dir: string, paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await copyFile(join(archiveDir, path), join(dir, path));
  }
}

const FIRST = [
  'debian/12/x86_64/6.1.0-9-amd64.btf',
  'centos/8/x86_64/4.18.0-348.el8.x86_64.btf',
  'ubuntu/24.04/arm64/6.11.0-9-generic.failed',
];
const LATER = ['debian/12/arm64/6.1.0-9-arm64.btf'];

interface Run {
  job_id: string;
  trigger: string;
  state: string;
  source: string;
  summary?: Record<string, unknown>;
  error?: { message: string };
}

t.test('an admin sync registers what is new; the second run reads only the new file', async (t) => {
  const source = await sourceWith(t, FIRST);
  const { app, catalog } = await setupCoverageApi(t, { registerArchive: false, adminToken: ADMIN_TOKEN, syncSource: source });

  const empty = (await app.inject({ method: 'GET', url: '/api/v1/sync', headers: auth })).json<{
    source: string;
    interval_ms: number;
    runs: Run[];
  }>();
  t.same(empty, { source, interval_ms: 0, next_run_at: null, runs: [] });
  const anonymous = (await app.inject({ method: 'GET', url: '/api/v1/sync' })).json<{ source: string }>();
  t.same(anonymous, { source: '(shown with the admin token)', interval_ms: 0, next_run_at: null, runs: [] }, 'the path only for the admin');

  const unauthorized = await app.inject({ method: 'POST', url: '/api/v1/sync' });
  t.equal(unauthorized.statusCode, 401);

  const first = await app.inject({ method: 'POST', url: '/api/v1/sync', headers: auth });
  t.equal(first.statusCode, 200, first.body);
  t.match(first.json(), {
    job_id: /^sync-/,
    trigger: 'admin',
    state: 'completed',
    source,
    summary: { source: `fs:${source}`, added: 2, updated: 0, unchanged: 0, invalid: 0, markers: 1, unread: 0 },
  });
  t.equal((await catalog.listKernels({}, { limit: 10, offset: 0 })).total, 2);
  const btf = await app.inject({ method: 'GET', url: '/api/v1/kernels/debian/12/x86_64/6.1.0-9-amd64/btf' });
  t.equal(btf.statusCode, 200, 'a synced kernel is served');

  await addFiles(source, LATER);
  const second = await app.inject({ method: 'POST', url: '/api/v1/sync', headers: auth });
  t.match(second.json(), { state: 'completed', summary: { added: 1, unchanged: 2, unread: 2 } });
  const coverage = (await app.inject({ method: 'GET', url: '/api/v1/coverage' })).json<{ totals: { kernels: number; failed: number } }>();
  t.match(coverage.totals, { kernels: 3, failed: 1 });

  const listed = (await app.inject({ method: 'GET', url: '/api/v1/sync?limit=5' })).json<{ runs: Run[] }>();
  t.same(
    listed.runs.map((r) => r.job_id),
    [second.json<Run>().job_id, first.json<Run>().job_id],
    'newest first',
  );
  t.ok(
    listed.runs.every((r) => r.source === '(shown with the admin token)' && ((r.summary?.invalid_files ?? []) as unknown[]).length === 0),
    'anonymous: no source, no file names',
  );
  const detailed = (await app.inject({ method: 'GET', url: '/api/v1/sync?limit=5', headers: auth })).json<{ runs: Run[] }>();
  t.ok(
    detailed.runs.every((r) => r.source === source),
    'the admin sees the source',
  );
  const job = await app.inject({ method: 'GET', url: `/api/v1/jobs/${first.json<Run>().job_id}`, headers: auth });
  t.match(job.json(), { kind: 'sync', state: 'completed', source, result: { added: 2, source } });
  const anonymousJob = await app.inject({ method: 'GET', url: `/api/v1/jobs/${first.json<Run>().job_id}` });
  t.match(
    anonymousJob.json(),
    {
      kind: 'sync',
      state: 'completed',
      source: '(shown with the admin token)',
      result: { added: 2, source: '(shown with the admin token)', invalid_files: [] },
    },
    'the job route hides the source from anonymous callers as GET /api/v1/sync does',
  );
  const one = (await app.inject({ method: 'GET', url: '/api/v1/sync?limit=1' })).json<{ runs: Run[] }>();
  t.equal(one.runs.length, 1);
  const badLimit = await app.inject({ method: 'GET', url: '/api/v1/sync?limit=0' });
  t.equal(badLimit.statusCode, 400);
});

t.test('without a source a sync is not configured (409); a missing source fails the run', async (t) => {
  const none = await setupCoverageApi(t, { registerArchive: false, adminToken: ADMIN_TOKEN });
  const res = await none.app.inject({ method: 'POST', url: '/api/v1/sync', headers: auth });
  t.equal(res.statusCode, 409);
  t.match(res.json(), { error: 'sync_not_configured', message: /BTFHUB_SYNC_SOURCE/ });
  const gone = await setupCoverageApi(t, { registerArchive: false, adminToken: ADMIN_TOKEN, syncSource: '/nonexistent/btfhub-archive' });
  const failed = await gone.app.inject({ method: 'POST', url: '/api/v1/sync', headers: auth });
  t.equal(failed.statusCode, 200);
  t.match(failed.json(), { state: 'failed', error: { message: /\/nonexistent\/btfhub-archive: no such directory/ } });
});

t.test('the in-process schedule runs a sync every interval', async (t) => {
  const source = await sourceWith(t, FIRST);
  const api = await setupCoverageApi(t, { registerArchive: false, syncSource: source, syncIntervalMs: 200 });
  await scheduleSync(api.queue, source, 200);
  t.match(await syncSchedule(api.queue), { source, intervalMs: 200, nextRunAt: Date });
  const runs = await waitForRuns(api.queue, (r) => r.some((run) => run.state === 'completed'), 10_000);
  // Runs are listed newest first, and at a 200 ms interval a second run (adding nothing) may have finished too.
  const first = runs.filter((r) => r.state === 'completed').at(-1);
  t.match(
    first,
    { data: { kind: 'sync', trigger: 'schedule', source }, result: { added: 2 } },
    'the first scheduled run registered both kernels',
  );
  const listed = (await api.app.inject({ method: 'GET', url: '/api/v1/sync' })).json<{
    interval_ms: number;
    next_run_at: string;
    runs: Run[];
  }>();
  t.equal(listed.interval_ms, 200);
  t.ok(listed.runs.some((r) => r.trigger === 'schedule'));
  await scheduleSync(api.queue, null, 0);
  t.match(await syncSchedule(api.queue), { source: null, intervalMs: 0, nextRunAt: null });
});

/** Runs a sync of `source` every `intervalMs` as `btfhub serve` schedules it (null or 0: no schedule). */
async function scheduleSync(queue: JobQueue<JobKinds>, source: string | null, intervalMs: number): Promise<void> {
  const schedule =
    source === null || intervalMs <= 0
      ? null
      : { data: { kind: 'sync' as const, source, trigger: 'schedule' as const }, everyMs: intervalMs };
  await queue.schedule('sync', SYNC_SCHEDULER_ID, schedule);
}

/** The sync schedule in force: its source, interval and next run. */
async function syncSchedule(queue: JobQueue<JobKinds>): Promise<{ source: string | null; intervalMs: number; nextRunAt: Date | null }> {
  const schedule = await queue.scheduled('sync', SYNC_SCHEDULER_ID);
  return schedule === null
    ? { source: null, intervalMs: 0, nextRunAt: null }
    : { source: schedule.data.source, intervalMs: schedule.everyMs, nextRunAt: schedule.nextRunAt };
}

async function waitForRuns(
  queue: JobQueue<JobKinds>,
  done: (runs: Awaited<ReturnType<JobQueue<JobKinds>['recent']>>) => boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = await queue.recent('sync', 10);
    if (done(runs)) return runs;
    if (Date.now() > deadline) throw new Error(`no finished sync run after ${timeoutMs} ms: ${JSON.stringify(runs.map((r) => r.state))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('BullMQ: the repeatable sync and compat jobs run by a worker, progress in /api/v1/jobs', async (t) => {
  const prefix = testQueuePrefix();
  const source = await sourceWith(t, FIRST);
  const api = await setupCoverageApi(t, {
    registerArchive: false,
    requestWaitMs: 0,
    syncSource: source,
    syncIntervalMs: 1000,
    redis: { url: REDIS_URL, prefix },
  });
  const queue = api.queue;
  await scheduleSync(queue, source, 1000);
  t.match(await syncSchedule(queue), { source, intervalMs: 1000 });
  const runs = await waitForRuns(queue, (r) => r.some((run) => run.state === 'completed'), 15_000);
  t.match(runs.filter((r) => r.state === 'completed').at(-1), {
    id: /^repeat:archive-sync:/,
    data: { trigger: 'schedule', source },
    result: { kind: 'sync', added: 2 },
  });
  const listed = (await api.app.inject({ method: 'GET', url: '/api/v1/sync' })).json<{
    source: string;
    interval_ms: number;
    next_run_at: string | null;
    runs: Run[];
  }>();
  t.match(
    listed,
    { source: '(shown with the admin token)', interval_ms: 1000 },
    'no admin token configured: the source is shown to nobody',
  );
  t.ok(
    listed.runs.some((r) => r.trigger === 'schedule' && r.state === 'completed'),
    'GET /api/v1/sync lists the scheduled run',
  );
  t.ok(listed.next_run_at === null || !Number.isNaN(Date.parse(listed.next_run_at)));
  await scheduleSync(queue, null, 0);
  t.same(await syncSchedule(queue), { source: null, intervalMs: 0, nextRunAt: null }, 'the scheduler is removed');

  // The kernels the scheduled sync registered, compat-checked on the worker.
  const tools = fixtureObject(api.fixtures, 'tools_like');
  const res = await api.app.inject({
    method: 'POST',
    url: '/api/v1/compat',
    ...multipart([{ name: 'object', filename: 'tools_like.bpf.o', data: tools.bytes }]),
  });
  t.equal(res.statusCode, 202, res.body);
  const id = res.json<{ job_id: string }>().job_id;
  const seen = await followJob(api.app, id);
  t.match(seen.at(-1), {
    kind: 'compat',
    state: 'completed',
    progress: { done: 2, total: 2 },
    result: { kernels: 2, url: `/api/v1/compat/${id}` },
  });
  const report = await api.app.inject({ method: 'GET', url: `/api/v1/compat/${id}` });
  t.equal(report.statusCode, 200);
  t.equal(report.json<{ kernels: unknown[] }>().kernels.length, 2);
  t.same(await queue.recent('compat', 5).then((r) => r.map((s) => s.id)), [id]);
});

t.test('BTFHUB_SYNC_SOURCE and BTFHUB_SYNC_INTERVAL_MS', async (t) => {
  const embedded = loadConfig({});
  t.equal(embedded.syncIntervalMs, 0);
  t.equal(embedded.syncSource, undefined);
  const archive = loadConfig({ BTFHUB_ARCHIVE_DIR: 'archive' });
  t.equal(archive.syncSource, resolve('archive'), 'the archive checkout by default');
  t.equal(archive.syncIntervalMs, 0, 'off by default in the embedded mode');
  t.equal(
    loadConfig({ BTFHUB_ARCHIVE_DIR: 'archive', REDIS_URL: 'redis://127.0.0.1:6379' }).syncIntervalMs,
    DEFAULT_SYNC_INTERVAL_MS,
    'on with Redis',
  );
  t.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).syncIntervalMs, 0, 'no source, no schedule');
  t.match(loadConfig({ BTFHUB_SYNC_SOURCE: 's3://mirror/btfhub-archive', BTFHUB_SYNC_INTERVAL_MS: '60000' }), {
    syncSource: 's3://mirror/btfhub-archive',
    syncIntervalMs: 60_000,
  });
  t.equal(
    loadConfig({ BTFHUB_SYNC_SOURCE: 'mirror', BTFHUB_SYNC_INTERVAL_MS: '0', REDIS_URL: 'redis://r:6379' }).syncIntervalMs,
    0,
    '0 turns it off',
  );
  const bad = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.issues.map((i) => `${i.variable}: ${i.message}`);
    }
  };
  t.match(bad({ BTFHUB_SYNC_INTERVAL_MS: '500', BTFHUB_SYNC_SOURCE: 'a' }), [
    /^BTFHUB_SYNC_INTERVAL_MS: expected 0 \(off\) or at least 1000/,
  ]);
  t.match(bad({ BTFHUB_SYNC_INTERVAL_MS: '60000' }), [/^BTFHUB_SYNC_SOURCE: required when BTFHUB_SYNC_INTERVAL_MS is set/]);
  t.match(bad({ BTFHUB_SYNC_SOURCE: 'https://example.com/archive' }), [
    /^BTFHUB_SYNC_SOURCE: expected a directory or s3:\/\/bucket\/prefix/,
  ]);
});
