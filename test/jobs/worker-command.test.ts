import { EventEmitter } from 'node:events';
import t from 'tap';
import { createWorkerCommand } from '../../src/cli/commands/worker.js';
import { runCli } from '../../src/cli/run.js';
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

function capture() {
  let text = '';
  return { stream: { write: (chunk: string | Uint8Array) => (text += String(chunk)) }, text: () => text };
}

async function run(argv: string[], env: Record<string, string>, signals = new EventEmitter()) {
  const stdout = capture();
  const stderr = capture();
  const command = createWorkerCommand({ env, signals, exit: () => t.fail('exit called') });
  const code = await runCli(argv, { stdout: stdout.stream, stderr: stderr.stream }, [command]);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

t.test('usage and configuration errors', async (t) => {
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const base = { BTFHUB_DATA_DIR: env.dir };

  const noRedis = await run(['worker'], base);
  t.equal(noRedis.code, 1);
  t.match(noRedis.stderr, /^btfhub worker: REDIS_URL is not set/);

  for (const bad of ['0', '257', 'two', '1.5']) {
    const result = await run(['worker', '--concurrency', bad], { ...base, REDIS_URL });
    t.equal(result.code, 2, `--concurrency ${bad} is a usage error`);
    t.match(result.stderr, /--concurrency must be an integer from 1 to 256/);
  }

  const badConfig = await run(['worker'], { ...base, REDIS_URL: 'http://nope' });
  t.equal(badConfig.code, 1);
  t.match(badConfig.stderr, /REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/);

  const help = await run(['worker', '--help'], base);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: btfhub worker \[--concurrency N\]/);
});

t.test('runs jobs until SIGTERM, then exits 0; logs the redacted configuration once', async (t) => {
  const fx = await loadFixtures();
  const env = await createTestEnvironment();
  const prefix = testQueuePrefix();
  const queue = bullmqTestQueue(prefix);
  t.teardown(async () => {
    await queue
      .bullQueue('trim')
      .obliterate({ force: true })
      .catch(() => {});
    await queue.close();
    await env.cleanup();
    await deleteRedisKeys(REDIS_URL, prefix);
  });
  await registerTestKernel(env, fx.vmlinux);
  const data = await uploadJob(env.store, [fx.objects.get('enum_relos')!.bytes]);

  const signals = new EventEmitter();
  const redisWithPassword = REDIS_URL.replace('redis://', 'redis://:secret-password@');
  const running = run(
    ['worker', '--concurrency', '3'],
    {
      BTFHUB_DATA_DIR: env.dir,
      REDIS_URL: redisWithPassword,
      BTFHUB_QUEUE_PREFIX: prefix,
      BTFHUB_ADMIN_TOKEN: 'admin-secret-token-0123456789',
    },
    signals,
  );
  const status = await queue.waitFor('trim', await enqueueTrim(queue, data), 60_000);
  t.equal(status.state, 'completed');
  const stored = await env.store.get(status.result!.resultKey);
  t.equal(sha256(stored!), status.result!.resultSha256, 'the stored result matches its hash');

  signals.emit('SIGTERM', 'SIGTERM');
  const result = await running;
  t.equal(result.code, 0);
  const lines = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const configLines = lines.filter((l) => l.msg === 'btfhub worker configuration');
  t.equal(configLines.length, 1, 'configuration logged once');
  t.match(configLines[0], { config: { workerConcurrency: 3, queue: { kind: 'redis', prefix }, adminToken: '***' } });
  t.notMatch(result.stdout, /secret-password|admin-secret-token/, 'no secrets in the logs');
  t.ok(lines.some((l) => l.msg === 'btfhub worker ready' && l.concurrency === 3));
  t.ok(lines.some((l) => l.msg === 'btfhub worker stopped'));
});
