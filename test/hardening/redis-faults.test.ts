/**
 * Redis down and back, with a real redis-server this test owns (killed and started again on
 * its port) under the scale-out wiring: the API over a BullMQ producer, a BullMQ worker, the
 * Redis-backed rate limiter. While Redis is away:
 *   - a trim that needs the queue answers 503 with Retry-After, at once (not after a timeout);
 *   - a trim already made still answers 200, by POST and by GET (the cache and the store do
 *     not need Redis), and the rate limiter lets requests through rather than failing them;
 *   - /readyz names the queue.
 * When Redis returns, nothing is restarted: the same API and worker trim again by themselves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/schema.js';
import { createBackends } from '../../src/service/backends.js';
import { btfForm, fixtureObject, oracle, RAW_KERNEL, registerKernel, why } from '../api/helpers.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { startOwnRedis } from './own-redis.js';

const fixtures = await loadFixtures();
const logger = pino({ level: 'silent' });

t.test('Redis down: trims 503 with Retry-After, cached answers still 200; Redis back: trims work again by themselves', async (t) => {
  const started = performance.now();
  const redis = await startOwnRedis();
  t.teardown(() => redis.stop());
  const prefix = `btfhub-fault-${process.pid}`;
  const queueConfig = { kind: 'redis' as const, url: redis.url, prefix };

  const dir = await mkdtemp(join(tmpdir(), 'btfhub-redis-fault-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The scale-out backends: a BullMQ producer (polling every 100 ms, 2 s per Redis call) and consumer.
  const config = loadConfig({
    BTFHUB_DATA_DIR: dir,
    REDIS_URL: redis.url,
    BTFHUB_QUEUE_PREFIX: prefix,
    BTFHUB_KERNEL_CACHE_BYTES: String(256 * 1024 * 1024),
  });
  const backends = createBackends(config, { logger, pollIntervalMs: 100, operationTimeoutMs: 2000 });
  t.teardown(() => backends.close());
  const { store, catalog } = await backends.prepare();
  await registerKernel(store, catalog, RAW_KERNEL, 'btf', fixtures.vmlinux);
  const queue = await backends.jobs();
  const worker = await backends.jobWorker();
  await worker.ready;
  const app = await buildApp({
    config: {
      requestWaitMs: 20_000,
      maxFileBytes: 64 * 1024 * 1024,
      maxFiles: 16,
      queue: queueConfig,
      rateLimit: { max: 1000, windowMs: 60_000 },
    },
    store,
    catalog,
    queue,
    docs: false,
  });
  t.teardown(() => app.close());

  const post = (name: 'enum64' | 'shared_a' | 'shared_b') =>
    app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, name)]) });

  // Healthy: a trim through Redis and the worker.
  const first = await post('enum64');
  t.equal(first.statusCode, 200, why(first));
  t.same(first.rawPayload, Buffer.from(oracle(fixtures, 'enum64')), 'trimmed by the worker, equal to bpftool');
  t.equal(first.headers['x-ratelimit-limit'], '1000', 'rate limited through Redis');
  const hash = String(first.headers['x-btfhub-objects-hash']);

  await redis.stop();
  const downAt = performance.now();

  const before = performance.now();
  const miss = await post('shared_a');
  const missMs = performance.now() - before;
  t.equal(miss.statusCode, 503, `a trim that needs the queue: ${why(miss)}`);
  t.equal(miss.headers['retry-after'], '5', 'with Retry-After');
  t.match(miss.json(), { error: 'unavailable', message: /queue/ });
  t.ok(missMs < 3000, `answered in ${Math.round(missMs)} ms, not after a long timeout`);
  const again = await post('shared_a');
  t.equal(again.statusCode, 503, 'and again');

  const cached = await post('enum64');
  t.equal(cached.statusCode, 200, `a trim already made still answers: ${why(cached)}`);
  t.equal(cached.headers['x-btfhub-cache'], 'hit');
  t.same(cached.rawPayload, first.rawPayload);
  // Cached trims are never counted (issue 14.6), so the limiter's outage cannot touch them.
  t.equal(cached.headers['x-ratelimit-remaining'], undefined, 'a cached answer is not counted by the limiter');
  const get = await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`);
  t.equal(get.statusCode, 200, `GET of a trim already made: ${why(get)}`);
  t.same(get.rawPayload, first.rawPayload);
  const ready = await app.inject('/readyz');
  t.equal(ready.statusCode, 503);
  t.same(ready.json<{ failed: string[] }>().failed, ['queue'], '/readyz names the queue');

  // Long enough for the clients to go through a few reconnection attempts.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal((await post('shared_a')).statusCode, 503, 'still 503 while Redis is away');
  await redis.start();
  const downMs = performance.now() - downAt;
  const backAt = performance.now();
  let recovered: Awaited<ReturnType<typeof post>> | undefined;
  let attempts = 0;
  while (performance.now() - backAt < 30_000) {
    attempts++;
    const res = await post('shared_a');
    if (res.statusCode === 200) {
      recovered = res;
      break;
    }
    t.equal(res.statusCode, 503, `while reconnecting, only 503s: ${why(res)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.ok(recovered, 'trims work again without restarting anything');
  t.same(recovered?.rawPayload, Buffer.from(oracle(fixtures, 'shared_a')), 'the worker trimmed it, equal to bpftool');
  t.equal(recovered?.headers['x-ratelimit-limit'], '1000', 'and the limiter counts in Redis again');
  t.equal((await app.inject('/readyz')).statusCode, 200, '/readyz is ready again');
  t.comment(
    `Redis down ${Math.round(downMs)} ms; 503 in ${Math.round(missMs)} ms; trims back ${Math.round(performance.now() - backAt)} ms after Redis (${attempts} attempts); ` +
      `test ${Math.round(performance.now() - started)} ms`,
  );
});
