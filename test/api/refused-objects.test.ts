/**
 * Poison jobs: a job BullMQ gave up on after it stalled its workers (the input kills them)
 * fails as the client's error, is not retried, and its objects are refused for a while: the
 * next request for them is answered 422 at once, without a check, a write or a job. Refused
 * objects live in Redis with a TTL in scale-out (shared by the replicas), in memory otherwise.
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { MemoryRefusedObjects, RedisRefusedObjects } from '../../src/api/refused-objects.js';
import { decodeFailure, encodeFailure, STALLED_REASON } from '../../src/queue/job.js';
import { deleteRedisKeys, REDIS_URL } from '../jobs/setup.js';
import { btfForm, multipart, RAW_FIELDS, setupApi, why } from './helpers.js';

t.test("BullMQ's stalled-limit failure is a poisoned client error; other reasons are what they were", async (t) => {
  t.match(decodeFailure(STALLED_REASON), { clientError: true, poisoned: true, message: /stopped every worker/ });
  t.same(decodeFailure(encodeFailure('bad object', true)), { message: 'bad object', clientError: true });
  t.same(decodeFailure('store down'), { message: 'store down', clientError: false });
});

/**
 * An API whose queue counts enqueued jobs and, while `poisoned.on`, answers every wait with
 * what a BullMQ producer reads back after two workers died on the job.
 */
async function apiWithPoisonedQueue(t: Test) {
  const counts = { enqueued: 0 };
  const poisoned = { on: true };
  const api = await setupApi(t, {
    wrap: ({ queue }) => ({
      queue: new Proxy(queue, {
        get(target, property, receiver) {
          if (property === 'enqueue') {
            return async (...args: Parameters<typeof queue.enqueue>) => {
              counts.enqueued++;
              return target.enqueue(...args);
            };
          }
          if (property === 'waitFor' && poisoned.on) {
            return async (_kind: string, id: string) => ({ id, state: 'failed', error: decodeFailure(STALLED_REASON) });
          }
          return Reflect.get(target, property, receiver) as unknown;
        },
      }),
    }),
  });
  return { ...api, counts, poisoned };
}

t.test('a poisoned trim: 422 with the reason, then refused at once without a new job', async (t) => {
  const { app, fixtures, counts, poisoned } = await apiWithPoisonedQueue(t);
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/btf',
      ...btfForm([{ name: 'p.bpf.o', bytes: fixtures.objects.get('tools_like')!.bytes }], RAW_FIELDS),
    });
  const first = await post();
  t.equal(first.statusCode, 422, why(first));
  t.match(first.json(), { error: 'trim_failed', field: 'object', message: /stopped every worker/ });
  t.equal(counts.enqueued, 1);
  poisoned.on = false;
  const again = await post();
  t.equal(again.statusCode, 422, why(again));
  t.match(again.json(), { error: 'invalid_object', message: /refused for a while: the job stopped every worker/ });
  t.equal(counts.enqueued, 1, 'no new job');
});

t.test('a poisoned compat job: its objects are refused at once afterwards, without a new job', async (t) => {
  const { app, fixtures, counts, poisoned } = await apiWithPoisonedQueue(t);
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/compat',
      ...multipart([{ name: 'object', filename: 'p.bpf.o', data: fixtures.objects.get('tools_like')!.bytes }]),
    });
  const first = await post();
  t.equal(first.statusCode, 422, why(first));
  t.equal(counts.enqueued, 1);
  poisoned.on = false;
  const again = await post();
  t.equal(again.statusCode, 422, why(again));
  t.match(again.json(), { error: 'invalid_object', field: 'object', message: /refused for a while: the job stopped every worker/ });
  t.equal(counts.enqueued, 1, 'no new job');
});

t.test('the refused set: in memory with a TTL, and in Redis shared by every replica', async (t) => {
  const memory = new MemoryRefusedObjects(50);
  await memory.refuse('a'.repeat(64), 'why');
  t.equal(await memory.reason('a'.repeat(64)), 'why');
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.equal(await memory.reason('a'.repeat(64)), undefined, 'forgotten after the TTL');
  const off = new MemoryRefusedObjects(0);
  await off.refuse('b'.repeat(64), 'why');
  t.equal(await off.reason('b'.repeat(64)), undefined, 'TTL 0: never remembered');

  const prefix = `btfhub-refused-${process.pid}-${randomBytes(4).toString('hex')}`;
  t.teardown(() => deleteRedisKeys(REDIS_URL, prefix));
  const [one, two] = [new RedisRefusedObjects(REDIS_URL, prefix, 60_000), new RedisRefusedObjects(REDIS_URL, prefix, 60_000)];
  t.teardown(async () => {
    await one.close();
    await two.close();
  });
  await new Promise((resolve) => setTimeout(resolve, 200)); // connected (no offline queue)
  await one.refuse('c'.repeat(64), 'kills workers');
  t.equal(await two.reason('c'.repeat(64)), 'kills workers', 'another replica sees it');
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  t.teardown(() => redis.disconnect());
  const ttl = await redis.pttl(`${prefix}:refused:${'c'.repeat(64)}`);
  t.ok(ttl > 0 && ttl <= 60_000, `with a TTL (${ttl} ms)`);
});
