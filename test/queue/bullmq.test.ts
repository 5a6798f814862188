/**
 * The BullMQ queue and worker against the real Redis (127.0.0.1:6379, shared: this run
 * uses its own key prefix and deletes only its keys).
 */
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import t from 'tap';
import type { BullmqJobQueue } from '../../src/queue/bullmq.js';
import { createJobWorker } from '../../src/queue/bullmq-worker.js';
import { decodeFailure, encodeFailure, type JobPolicies, type JobProcessor, QueueUnavailableError } from '../../src/queue/job.js';
import { type JobKinds, objectsHashOf, trimJobId, type TrimJobData, type TrimJobResult } from '../../src/queue/kinds.js';
import { loadFixtures } from '../helpers/fixtures.js';
import {
  bullmqTestQueue,
  createTestEnvironment,
  deleteRedisKeys,
  REDIS_URL,
  registerTestKernel,
  sha256,
  silentLogger,
  sleep,
  TEST_KERNEL,
  testQueuePrefix,
  uploadJob,
} from '../jobs/setup.js';

const fx = await loadFixtures();
const prefix = testQueuePrefix();
const env = await createTestEnvironment();
await registerTestKernel(env, fx.vmlinux);

/** Per-job test behaviour, keyed by objectsHash: runs counted, optional delay and failures. */
const runs = new Map<string, number>();
const hooks = new Map<string, (run: number) => Promise<void>>();
const wrap =
  (processor: JobProcessor<TrimJobData, TrimJobResult>): JobProcessor<TrimJobData, TrimJobResult> =>
  async (data, context) => {
    const run = (runs.get(data.objectsHash) ?? 0) + 1;
    runs.set(data.objectsHash, run);
    await hooks.get(data.objectsHash)?.(run);
    return processor(data, context);
  };

/** The default policies with trims four at a time and retried after 50 ms. */
const adjust = (policies: JobPolicies<JobKinds>): JobPolicies<JobKinds> => ({
  ...policies,
  trim: { ...policies.trim, concurrency: 4, backoffMs: 50 },
});
const processors = await env.backends.processors();
const worker = createJobWorker({
  url: REDIS_URL,
  prefix,
  policies: adjust(env.backends.policies),
  processors: { ...processors, trim: wrap(processors.trim) },
  logger: silentLogger,
});
await worker.ready;
const trimQueue = bullmqTestQueue(prefix, { pollIntervalMs: 200, adjust });
/** The producer, as the trim routes use it. */
const queue = {
  enqueue: (data: TrimJobData) => trimQueue.enqueue('trim', trimJobId(data.objectsHash, data.kernel), data),
  waitFor: (id: string, ms: number) => trimQueue.waitFor('trim', id, ms),
  status: (id: string) => trimQueue.status('trim', id),
  depth: () => trimQueue.depth(['trim']),
  check: () => trimQueue.check(),
};

/** The same calls on another producer. */
function trimCalls(producer: BullmqJobQueue<JobKinds>) {
  return {
    enqueue: (data: TrimJobData) => producer.enqueue('trim', trimJobId(data.objectsHash, data.kernel), data),
    waitFor: (id: string, ms: number) => producer.waitFor('trim', id, ms),
    status: (id: string) => producer.status('trim', id),
    depth: () => producer.depth(['trim']),
    check: () => producer.check(),
    close: () => producer.close(),
  };
}

t.teardown(async () => {
  await trimQueue
    .bullQueue('trim')
    .obliterate({ force: true })
    .catch(() => {});
  await trimQueue.close();
  await worker.close();
  await env.cleanup();
  await deleteRedisKeys(REDIS_URL, prefix);
});

function object(name: string): Uint8Array {
  return fx.objects.get(name)!.bytes;
}

t.test('failure reasons carry whether the client was at fault', async (t) => {
  t.same(decodeFailure(encodeFailure('bad object', true)), { message: 'bad object', clientError: true });
  t.same(decodeFailure(encodeFailure('storage down', false)), { message: 'storage down', clientError: false });
});

t.test('enqueue and a worker in the same process: completed, with timings', async (t) => {
  const data = await uploadJob(env.store, [object('tools_like')]);
  await queue.check();
  t.equal(trimQueue.inProcess, false, 'jobs run by workers elsewhere: a request writes its objects before it enqueues');
  const id = await queue.enqueue(data);
  t.equal(id, trimJobId(data.objectsHash, data.kernel));
  t.notOk(id.includes(':'));
  const status = await queue.waitFor(id, 60_000);
  t.equal(status.state, 'completed');
  t.equal(status.result?.resultSha256, sha256(fx.oracle.single.get('tools_like')!));
  t.same(status.data, data);
  t.equal(status.attempts, 1);
  t.ok(status.createdAt instanceof Date && status.startedAt instanceof Date && status.finishedAt instanceof Date, 'timings');
  t.ok(status.createdAt!.getTime() <= status.startedAt!.getTime());
  t.ok(status.startedAt!.getTime() <= status.finishedAt!.getTime());
  t.ok(await env.store.head(status.result!.resultKey), 'result stored');
  t.ok(await env.catalog.getTrim(data.objectsHash, TEST_KERNEL, (await env.catalog.getKernel(TEST_KERNEL))!.sha256), 'trim recorded');
  t.same(await queue.status(id), status, 'status agrees with waitFor');
});

t.test('20 concurrent identical enqueues run the processor once', async (t) => {
  const data = await uploadJob(env.store, [object('field_offset')]);
  hooks.set(data.objectsHash, () => sleep(300));
  const ids = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue({ ...data })));
  t.equal(new Set(ids).size, 1);
  const statuses = await Promise.all(ids.map((id) => queue.waitFor(id, 60_000)));
  t.ok(
    statuses.every((s) => s.state === 'completed'),
    'all see it completed',
  );
  t.equal(runs.get(data.objectsHash), 1, 'one run');

  // Enqueued again once completed: BullMQ keeps the job, nothing runs again.
  await queue.enqueue(data);
  t.equal((await queue.waitFor(ids[0]!, 1000)).state, 'completed');
  t.equal(runs.get(data.objectsHash), 1);
});

t.test('a client error fails at once and is not retried', async (t) => {
  const data = await uploadJob(env.store, [new TextEncoder().encode('this is not an ELF object')]);
  const id = await queue.enqueue(data);
  const status = await queue.waitFor(id, 60_000);
  t.match(status, { state: 'failed', attempts: 1, error: { clientError: true, message: /not an ELF file/ } });
  t.ok(status.finishedAt instanceof Date);
  await sleep(300);
  t.equal(runs.get(data.objectsHash), 1, 'ran once');

  await queue.enqueue(data);
  t.equal((await queue.waitFor(id, 500)).state, 'failed', 'enqueued again: the failure stands');
  t.equal(runs.get(data.objectsHash), 1);
});

t.test('a server error is retried with backoff', async (t) => {
  const data = await uploadJob(env.store, [object('enum_relos')]);
  hooks.set(data.objectsHash, async (run) => {
    if (run < 3) throw new Error(`transient failure ${run}`);
  });
  const status = await queue.waitFor(await queue.enqueue(data), 60_000);
  t.match(status, { state: 'completed', attempts: 3 });
  t.equal(runs.get(data.objectsHash), 3);
});

t.test('a server failure that used up its attempts runs again when enqueued again', async (t) => {
  const data = await uploadJob(env.store, [object('bitfields')]);
  hooks.set(data.objectsHash, async (run) => {
    if (run <= 3) throw new Error('storage down');
  });
  const id = await queue.enqueue(data);
  t.match(await queue.waitFor(id, 60_000), { state: 'failed', attempts: 3, error: { clientError: false, message: 'storage down' } });
  await queue.enqueue(data);
  t.match(await queue.waitFor(id, 60_000), { state: 'completed' });
  t.equal(runs.get(data.objectsHash), 4);
});

t.test('waitFor returns the current status when the time is up', async (t) => {
  const data = await uploadJob(env.store, [object('type_relos')]);
  hooks.set(data.objectsHash, () => sleep(1500));
  const id = await queue.enqueue(data);
  const started = Date.now();
  const status = await queue.waitFor(id, 400);
  t.ok(Date.now() - started >= 390, 'waited');
  t.ok(status.state === 'active' || status.state === 'waiting', `still running (${status.state})`);
  t.ok((await queue.depth()) >= 1, 'counted in depth');
  t.equal((await queue.waitFor(id, 60_000)).state, 'completed');
  t.same(await queue.status('no-such-job'), { id: 'no-such-job', state: 'unknown' });
});

t.test('Redis unreachable: QueueUnavailableError, quickly', async (t) => {
  // Port 1 refuses connections: the producer never becomes ready.
  const down = trimCalls(bullmqTestQueue(prefix, { url: 'redis://127.0.0.1:1', operationTimeoutMs: 500 }));
  t.teardown(() => down.close());
  const hash = sha256('x');
  const data: TrimJobData = { objectHashes: [hash], objectsHash: objectsHashOf([hash]), kernel: TEST_KERNEL };
  const started = Date.now();
  await t.rejects(down.enqueue(data), QueueUnavailableError);
  await t.rejects(down.check(), QueueUnavailableError);
  await t.rejects(down.status('x'), QueueUnavailableError);
  await t.rejects(down.depth(), QueueUnavailableError);
  t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
});

t.test('Redis lost after start: QueueUnavailableError, then recovery', async (t) => {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  const flaky = trimCalls(bullmqTestQueue(prefix, { url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 1000 }));
  t.teardown(async () => {
    await flaky.close();
    for (const s of sockets) s.destroy();
    proxy.close();
  });

  await flaky.check();
  t.equal(await flaky.depth(), await queue.depth(), 'works through the proxy');

  // The outage: refuse new connections and cut the open ones.
  await new Promise<void>((resolve) => {
    proxy.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  const data = await uploadJob(env.store, [object('arrays')]);
  const started = Date.now();
  await t.rejects(flaky.enqueue(data), QueueUnavailableError);
  await t.rejects(flaky.waitFor('x', 10_000), QueueUnavailableError);
  t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);

  // Redis is back on the same address: the producer reconnects by itself.
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  let recovered = false;
  for (let i = 0; i < 50 && !recovered; i++) {
    recovered = await flaky.check().then(
      () => true,
      () => false,
    );
    if (!recovered) await sleep(200);
  }
  t.ok(recovered, 'the queue recovers when Redis is back');
  const status = await flaky.waitFor(await flaky.enqueue(data), 60_000);
  t.equal(status.state, 'completed');
});

t.test('kinds are kept apart: an id is known under its own kind, recent lists its kind', async (t) => {
  const data = await uploadJob(env.store, [object('tools_like'), object('enum_relos')]);
  const id = await queue.enqueue(data);
  t.equal((await queue.waitFor(id, 60_000)).state, 'completed');
  t.same(await trimQueue.status('compat', id), { id, state: 'unknown' }, 'not a compat job');
  t.same(await trimQueue.status('bundle', id), { id, state: 'unknown' }, 'nor a bundle job, though compat and bundle share a lane');
  const recent = await trimQueue.recent('trim', 50);
  t.ok(
    recent.some((s) => s.id === id && s.state === 'completed'),
    'listed among the recent trims',
  );
  t.ok(
    recent.every((s, i) => i === 0 || s.createdAt!.getTime() <= recent[i - 1]!.createdAt!.getTime()),
    'newest first',
  );
  t.same(await trimQueue.recent('sync', 5), []);
  t.equal(await trimQueue.scheduled('sync', 'no-such-scheduler'), null);
});
