/**
 * Crash safety with real processes: a worker SIGKILLed in the middle of a job, and the job
 * still completes on a second worker (BullMQ's lock expires, the stalled-job check moves it
 * back to waiting). Then SIGTERM on a worker with a job running: the job finishes and the
 * process exits 0.
 *
 * The workers are `node --import ./scripts/ts-register.mjs test/worker/fixtures/worker-entry.ts`:
 * the repository's TypeScript loader, as the tests themselves run, so nothing needs compiling first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadFixtures } from '../helpers/fixtures.js';
import {
  bullmqTestQueue,
  createTestEnvironment,
  deleteRedisKeys,
  enqueueTrim,
  REDIS_URL,
  registerTestKernel,
  sha256,
  testQueuePrefix,
  uploadJob,
} from './setup.js';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const ENTRY = fileURLToPath(new URL('./fixtures/worker-entry.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JOB_DELAY_MS = 4000;

const fx = await loadFixtures();
const prefix = testQueuePrefix();
const env = await createTestEnvironment();
await registerTestKernel(env, fx.vmlinux);
const queue = bullmqTestQueue(prefix, { pollIntervalMs: 200 });

interface WorkerProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line matching `msg` (and `extra` fields), or rejects after `timeoutMs`. */
  waitForLog(msg: string, timeoutMs: number, extra?: Record<string, unknown>): Promise<Record<string, unknown>>;
  output(): string;
}

const children: ChildProcess[] = [];

function startWorker(name: string): WorkerProcess {
  const child = spawn(process.execPath, [...tsLoaderArgs(), ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,

      REDIS_URL,
      BTFHUB_QUEUE_PREFIX: prefix,
      BTFHUB_DATA_DIR: env.dir,
      BTFHUB_WORKER_CONCURRENCY: '1',
      BTFHUB_REGISTER_HOST_KERNEL: 'false',
      BTFHUB_TEST_JOB_DELAY_MS: String(JOB_DELAY_MS),
      BTFHUB_TEST_LOCK_MS: '2000',
      BTFHUB_TEST_STALLED_MS: '1000',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const listener of listeners) listener();
      resolve({ code, signal });
    }),
  );
  const output = () => `--- ${name} stdout ---\n${raw}\n--- ${name} stderr ---\n${stderr}`;
  return {
    child,
    lines,
    exited,
    output,
    waitForLog(msg, timeoutMs, extra = {}) {
      const find = () => lines.find((l) => l.msg === msg && Object.entries(extra).every(([k, v]) => l[k] === v));
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = find();
          if (found) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${name} exited before logging "${msg}"\n${output()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name} did not log "${msg}" within ${timeoutMs} ms\n${output()}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

t.teardown(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await queue
    .bullQueue('trim')
    .obliterate({ force: true })
    .catch(() => {});
  await queue.close();
  await env.cleanup();
  await deleteRedisKeys(REDIS_URL, prefix);
});

t.test('a job whose worker is SIGKILLed completes on another worker', async (t) => {
  const first = startWorker('worker 1');
  await first.waitForLog('btfhub worker ready', 60_000);

  const data = await uploadJob(env.store, [fx.objects.get('tools_like')!.bytes]);
  const id = await enqueueTrim(queue, data);
  await first.waitForLog('test: job started', 30_000, { objectsHash: data.objectsHash });
  t.equal((await queue.status('trim', id)).state, 'active', 'worker 1 has the job');

  first.child.kill('SIGKILL');
  t.match(await first.exited, { signal: 'SIGKILL' }, 'worker 1 died mid-job');
  t.equal((await queue.status('trim', id)).state, 'active', 'the job is still marked active: its lock has not expired yet');

  const second = startWorker('worker 2');
  await second.waitForLog('btfhub worker ready', 60_000);
  const status = await queue.waitFor('trim', id, 60_000);
  t.equal(status.state, 'completed', 'completed by worker 2');
  if (status.state !== 'completed') t.comment(second.output());
  t.equal(status.result?.resultSha256, sha256(fx.oracle.single.get('tools_like')!), 'the right result');
  t.equal(status.attempts, 2, 'started twice: once on each worker');
  t.ok(await env.store.head(status.result!.resultKey), 'result stored');
  t.ok(await env.catalog.getTrim(data.objectsHash, data.kernel, (await env.catalog.getKernel(data.kernel))!.sha256), 'trim recorded');
  await second.waitForLog('trim job completed', 5000, { jobId: id });
  t.ok(
    second.lines.some((l) => l.msg === 'test: job started' && l.objectsHash === data.objectsHash),
    'worker 2 ran it',
  );

  // SIGTERM with a job running: the job finishes, then the process exits 0.
  const next = await uploadJob(env.store, [fx.objects.get('field_offset')!.bytes]);
  const nextId = await enqueueTrim(queue, next);
  await second.waitForLog('test: job started', 30_000, { objectsHash: next.objectsHash });
  second.child.kill('SIGTERM');
  const exit = await second.exited;
  t.same(exit, { code: 0, signal: null }, 'worker 2 exited 0 after SIGTERM');
  if (exit.code !== 0) t.comment(second.output());
  t.equal((await queue.status('trim', nextId)).state, 'completed', 'the running job finished before the exit');
  const stoppedAt = second.lines.findIndex((l) => l.msg === 'btfhub worker stopped');
  const completedAt = second.lines.findIndex((l) => l.msg === 'trim job completed' && l.jobId === nextId);
  t.ok(completedAt !== -1 && stoppedAt > completedAt, 'completed, then stopped');
});

t.test('btfhub worker needs REDIS_URL', async (t) => {
  // Through the real CLI entry, as an operator would run it.
  const child = spawn(process.execPath, [...tsLoaderArgs(), fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url)), 'worker'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, BTFHUB_DATA_DIR: env.dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 1);
  t.match(stderr, /btfhub worker: REDIS_URL is not set/);
});
