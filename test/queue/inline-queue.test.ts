import t from 'tap';
import { InlineTrimQueue } from '../../src/queue/inline-queue.js';
import { objectsHashOf, QueueUnavailableError, trimJobId, type TrimJobData, type TrimJobResult } from '../../src/queue/trim-queue.js';
import { KernelCache } from '../../src/worker/kernel-cache.js';
import { createTrimProcessor, TrimJobError } from '../../src/worker/trim-job.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { createTestEnvironment, registerTestKernel, sha256, silentLogger, TEST_KERNEL, uploadJob } from '../worker/setup.js';

function job(n: number): TrimJobData {
  const hash = sha256(`object ${n}`);
  return { objectHashes: [hash], objectsHash: objectsHashOf([hash]), kernel: TEST_KERNEL };
}

function result(data: TrimJobData): TrimJobResult {
  return { resultKey: `trimmed/${data.objectsHash}.btf`, resultSha256: data.objectsHash, size: 1, durationMs: 1, relocationsVerified: 1 };
}

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

t.test('concurrent identical enqueues are one run', async (t) => {
  let runs = 0;
  const gate = deferred();
  const queue = new InlineTrimQueue({
    concurrency: 4,
    processor: async (data) => {
      runs++;
      await gate.promise;
      return result(data);
    },
  });
  t.teardown(() => queue.close());
  const data = job(1);
  const ids = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue({ ...data })));
  t.equal(new Set(ids).size, 1, 'one id');
  t.equal(ids[0], trimJobId(data.objectsHash, data.kernel));
  t.equal(await queue.depth(), 1);
  gate.release();
  const status = await queue.waitFor(ids[0]!, 5000);
  t.equal(status.state, 'completed');
  t.same(status.result, result(data));
  t.equal(status.attempts, 1);
  t.ok(status.createdAt && status.startedAt && status.finishedAt, 'timings');
  t.ok(status.finishedAt!.getTime() >= status.startedAt!.getTime());
  t.equal(runs, 1, 'the processor ran once');

  // Enqueued again after completion: the finished job stands, nothing runs.
  t.equal(await queue.enqueue(data), ids[0]);
  t.equal((await queue.status(ids[0]!)).state, 'completed');
  t.equal(runs, 1);
  t.equal(await queue.depth(), 0);
});

t.test('waitFor returns the active status when the time is up', async (t) => {
  const gate = deferred();
  const queue = new InlineTrimQueue({
    concurrency: 1,
    processor: async (data) => {
      await gate.promise;
      return result(data);
    },
  });
  t.teardown(() => queue.close());
  const id = await queue.enqueue(job(1));
  const started = Date.now();
  const status = await queue.waitFor(id, 100);
  t.ok(Date.now() - started >= 90, 'waited the timeout');
  t.equal(status.state, 'active');
  t.equal(status.result, undefined);

  const second = await queue.enqueue(job(2));
  t.equal((await queue.waitFor(second, 10)).state, 'waiting', 'concurrency 1: the second waits');
  t.equal(await queue.depth(), 2);
  gate.release();
  t.equal((await queue.waitFor(second, 5000)).state, 'completed');
  t.same(await queue.waitFor('no-such-job', 10), { id: 'no-such-job', state: 'unknown' });
});

t.test('concurrency is bounded', async (t) => {
  let running = 0;
  let peak = 0;
  const queue = new InlineTrimQueue({
    concurrency: 3,
    processor: async (data) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      return result(data);
    },
  });
  t.teardown(() => queue.close());
  const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => queue.enqueue(job(i))));
  const statuses = await Promise.all(ids.map((id) => queue.waitFor(id, 5000)));
  t.ok(statuses.every((s) => s.state === 'completed'));
  t.equal(peak, 3);
});

t.test('client errors are not retried; server errors are', async (t) => {
  let clientRuns = 0;
  let flakyRuns = 0;
  let brokenRuns = 0;
  const client = job(1);
  const flaky = job(2);
  const broken = job(3);
  const queue = new InlineTrimQueue({
    concurrency: 2,
    attempts: 3,
    backoffMs: 1,
    logger: silentLogger,
    processor: async (data) => {
      if (data.objectsHash === client.objectsHash) {
        clientRuns++;
        throw new TrimJobError('INVALID_OBJECT', true, 'not an ELF file');
      }
      if (data.objectsHash === flaky.objectsHash) {
        if (++flakyRuns < 3) throw new Error('storage hiccup');
        return result(data);
      }
      brokenRuns++;
      throw new TrimJobError('INTERNAL', false, 'storage down');
    },
  });
  t.teardown(() => queue.close());

  const clientId = await queue.enqueue(client);
  const failed = await queue.waitFor(clientId, 5000);
  t.match(failed, { state: 'failed', attempts: 1, error: { message: 'not an ELF file', clientError: true } });
  await queue.enqueue(client);
  t.equal((await queue.waitFor(clientId, 100)).state, 'failed', 'enqueued again: still the same failure');
  t.equal(clientRuns, 1, 'a client error runs once');

  const flakyStatus = await queue.waitFor(await queue.enqueue(flaky), 5000);
  t.match(flakyStatus, { state: 'completed', attempts: 3 });

  const brokenId = await queue.enqueue(broken);
  t.match(await queue.waitFor(brokenId, 5000), { state: 'failed', attempts: 3, error: { message: 'storage down', clientError: false } });
  t.equal(brokenRuns, 3);
  await queue.enqueue(broken);
  t.match(await queue.waitFor(brokenId, 5000), { state: 'failed', attempts: 3 });
  t.equal(brokenRuns, 6, 'a server failure runs again when enqueued again');
});

t.test('a run past jobTimeoutMs fails as a server error', async (t) => {
  const queue = new InlineTrimQueue({
    concurrency: 1,
    attempts: 1,
    jobTimeoutMs: 30,
    logger: silentLogger,
    processor: (data) => new Promise((resolve) => setTimeout(resolve, 300, result(data))),
  });
  t.teardown(() => queue.close());
  const status = await queue.waitFor(await queue.enqueue(job(1)), 5000);
  t.match(status, { state: 'failed', error: { clientError: false, message: /within 30 ms/ } });
});

t.test('finished statuses are bounded', async (t) => {
  const queue = new InlineTrimQueue({ concurrency: 1, maxFinished: 2, processor: async (data) => result(data) });
  t.teardown(() => queue.close());
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await queue.enqueue(job(i));
    await queue.waitFor(id, 5000);
    ids.push(id);
  }
  t.equal((await queue.status(ids[0]!)).state, 'unknown', 'the oldest is forgotten');
  t.equal((await queue.status(ids[1]!)).state, 'completed');
  t.equal((await queue.status(ids[2]!)).state, 'completed');
});

t.test('close waits for running jobs and fails waiting ones', async (t) => {
  const gate = deferred();
  const queue = new InlineTrimQueue({
    concurrency: 1,
    processor: async (data) => {
      await gate.promise;
      return result(data);
    },
  });
  const running = await queue.enqueue(job(1));
  const waiting = await queue.enqueue(job(2));
  await new Promise((resolve) => setImmediate(resolve));
  let closed = false;
  const closing = queue.close().then(() => (closed = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(closed, 'close waits for the running job');
  gate.release();
  await closing;
  t.equal((await queue.status(running)).state, 'completed');
  t.match(await queue.status(waiting), { state: 'failed', error: { clientError: false } });
  await t.rejects(queue.enqueue(job(3)), QueueUnavailableError);
  await t.rejects(queue.check(), QueueUnavailableError);
});

t.test('with the real processor', async (t) => {
  const fx = await loadFixtures();
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  await registerTestKernel(env, fx.vmlinux);
  const processor = createTrimProcessor({
    store: env.store,
    catalog: env.catalog,
    kernelCache: new KernelCache({ maxBytes: 1 << 30 }),
    logger: silentLogger,
  });
  const queue = new InlineTrimQueue({ concurrency: 2, processor, logger: silentLogger });
  t.teardown(() => queue.close());

  const data = await uploadJob(env.store, [fx.objects.get('tools_like')!.bytes]);
  const status = await queue.waitFor(await queue.enqueue(data), 60_000);
  t.equal(status.state, 'completed');
  t.equal(status.result?.resultSha256, sha256(fx.oracle.single.get('tools_like')!));

  const bad = await uploadJob(env.store, [new TextEncoder().encode('not an object')]);
  t.match(await queue.waitFor(await queue.enqueue(bad), 60_000), { state: 'failed', attempts: 1, error: { clientError: true } });
});
