/**
 * The in-process queue: the trim kind alone first (the contract every kind follows: one run per
 * id, retries, time budget, retention, close), then several kinds at once (lanes, progress,
 * recent jobs, schedules, depth).
 */
import t from 'tap';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { createTrimProcessor } from '../../src/jobs/trim.js';
import { INLINE_MAX_KEPT, InlineJobQueue, type InlineJobQueueOptions } from '../../src/queue/inline.js';
import { JobError, type JobPolicy, type JobProcessor, QueueUnavailableError } from '../../src/queue/job.js';
import { jobPolicies, objectsHashOf, trimJobId, type TrimJobData, type TrimJobResult } from '../../src/queue/kinds.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { createTestEnvironment, registerTestKernel, sha256, silentLogger, TEST_KERNEL, uploadJob } from '../jobs/setup.js';

type TrimOnly = { trim: { data: TrimJobData; result: TrimJobResult } };

const TRIM_POLICY: JobPolicy = jobPolicies({ workerConcurrency: 1, jobTimeoutMs: 60_000 }).trim;

/** An in-process queue of trims alone, with `policy` over the trim policy. */
function trimQueue(
  options: { processor: JobProcessor<TrimJobData, TrimJobResult>; logger?: InlineJobQueueOptions<TrimOnly>['logger'] } & Partial<JobPolicy>,
) {
  const { processor, logger, ...policy } = options;
  const queue = new InlineJobQueue<TrimOnly>({
    processors: { trim: processor },
    policies: { trim: { ...TRIM_POLICY, timeoutMs: undefined, ...policy } },
    ...(logger !== undefined && { logger }),
  });
  return {
    queue,
    enqueue: (data: TrimJobData) => queue.enqueue('trim', trimJobId(data.objectsHash, data.kernel), data),
    waitFor: (id: string, ms: number) => queue.waitFor('trim', id, ms),
    status: (id: string) => queue.status('trim', id),
    depth: () => queue.depth(['trim']),
    check: () => queue.check(),
    close: () => queue.close(),
  };
}

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
  const queue = trimQueue({
    concurrency: 4,
    processor: async (data) => {
      runs++;
      await gate.promise;
      return result(data);
    },
  });
  t.teardown(() => queue.close());
  t.equal(queue.queue.inProcess, true, 'jobs run in this process: a job may start while its request still writes');
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
  const queue = trimQueue({
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
  const queue = trimQueue({
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
  const queue = trimQueue({
    concurrency: 2,
    attempts: 3,
    backoffMs: 1,
    logger: silentLogger,
    processor: async (data) => {
      if (data.objectsHash === client.objectsHash) {
        clientRuns++;
        throw new JobError('INVALID_OBJECT', true, 'not an ELF file');
      }
      if (data.objectsHash === flaky.objectsHash) {
        if (++flakyRuns < 3) throw new Error('storage hiccup');
        return result(data);
      }
      brokenRuns++;
      throw new JobError('INTERNAL', false, 'storage down');
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
  const queue = trimQueue({
    concurrency: 1,
    attempts: 1,
    timeoutMs: 30,
    logger: silentLogger,
    processor: (data) => new Promise((resolve) => setTimeout(resolve, 300, result(data))),
  });
  t.teardown(() => queue.close());
  const status = await queue.waitFor(await queue.enqueue(job(1)), 5000);
  t.match(status, { state: 'failed', error: { clientError: false, message: /within 30 ms/ } });
});

t.test('finished statuses are bounded', async (t) => {
  const queue = trimQueue({ concurrency: 1, keepCompleted: { ageSeconds: 3600, count: 2 }, processor: async (data) => result(data) });
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

t.test('finished statuses kept in process: at most INLINE_MAX_KEPT per kind and state, whatever the policy keeps', async (t) => {
  t.equal(INLINE_MAX_KEPT, 1000);
  const run = async (maxKept: number | undefined, policyCount: number, jobs: number) => {
    const queue = new InlineJobQueue<TrimOnly>({
      processors: { trim: async (data) => result(data) },
      policies: { trim: { ...TRIM_POLICY, timeoutMs: undefined, concurrency: 4, keepCompleted: { ageSeconds: 3600, count: policyCount } } },
      ...(maxKept !== undefined && { maxKept }),
    });
    t.teardown(() => queue.close());
    const ids: string[] = [];
    for (let i = 0; i < jobs; i++) ids.push(await queue.enqueue('trim', trimJobId(job(i).objectsHash, job(i).kernel), job(i)));
    for (const id of ids) await queue.waitFor('trim', id, 5000);
    const states = await Promise.all(ids.map(async (id) => (await queue.status('trim', id)).state));
    return { forgotten: states.indexOf('completed'), kept: states.filter((s) => s === 'completed').length };
  };
  t.same(
    await run(undefined, 10_000, 1200),
    { forgotten: 200, kept: 1000 },
    'the default cap below the policy’s 10,000: the oldest 200 forgotten',
  );
  t.same(await run(5, 10_000, 8), { forgotten: 3, kept: 5 }, 'a cap of 5');
  t.same(await run(5, 2, 8), { forgotten: 6, kept: 2 }, 'a policy below the cap wins');
});

t.test('close waits for running jobs and fails waiting ones', async (t) => {
  const gate = deferred();
  const queue = trimQueue({
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
    codec: new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 }),
    logger: silentLogger,
  });
  const queue = trimQueue({ concurrency: 2, processor, logger: silentLogger });
  t.teardown(() => queue.close());

  const data = await uploadJob(env.store, [fx.objects.get('tools_like')!.bytes]);
  const status = await queue.waitFor(await queue.enqueue(data), 60_000);
  t.equal(status.state, 'completed');
  t.equal(status.result?.resultSha256, sha256(fx.oracle.single.get('tools_like')!));

  const bad = await uploadJob(env.store, [new TextEncoder().encode('not an object')]);
  t.match(await queue.waitFor(await queue.enqueue(bad), 60_000), { state: 'failed', attempts: 1, error: { clientError: true } });
});

// ---------------------------------------------------------------------------------------
// Several kinds in one queue

type Kinds = {
  a: { data: { n: number }; result: { n: number } };
  b: { data: { n: number }; result: { n: number } };
  c: { data: { n: number }; result: { n: number } };
};

function policy(lane: string, overrides: Partial<JobPolicy> = {}): JobPolicy {
  return { ...TRIM_POLICY, lane, concurrency: 1, attempts: 1, timeoutMs: undefined, ...overrides };
}

t.test('kinds sharing a lane share its concurrency; another lane runs beside them', async (t) => {
  const gates = new Map<string, ReturnType<typeof deferred>>();
  const running = new Set<string>();
  const peak = { shared: 0 };
  const run =
    (kind: string): JobProcessor<{ n: number }, { n: number }> =>
    async (data, context) => {
      running.add(context.id);
      if (kind !== 'c') peak.shared = Math.max(peak.shared, [...running].filter((id) => !id.startsWith('c')).length);
      const gate = deferred();
      gates.set(context.id, gate);
      await gate.promise;
      running.delete(context.id);
      return { n: data.n };
    };
  const queue = new InlineJobQueue<Kinds>({
    processors: { a: run('a'), b: run('b'), c: run('c') },
    policies: { a: policy('shared'), b: policy('shared'), c: policy('own') },
  });
  t.teardown(() => queue.close());
  await queue.enqueue('a', 'a1', { n: 1 });
  await queue.enqueue('b', 'b1', { n: 2 });
  await queue.enqueue('c', 'c1', { n: 3 });
  await new Promise((resolve) => setImmediate(resolve));
  t.same([...running].sort(), ['a1', 'c1'], 'a runs, b waits for the shared lane, c runs in its own');
  t.equal((await queue.status('b', 'b1')).state, 'waiting');
  t.equal(await queue.depth(['a']), 2, 'depth counts the lane: a and b');
  t.equal(await queue.depth(['c']), 1);
  gates.get('a1')!.release();
  t.equal((await queue.waitFor('a', 'a1', 5000)).state, 'completed');
  await new Promise((resolve) => setImmediate(resolve));
  t.same([...running].sort(), ['b1', 'c1'], 'b takes the lane once a is done');
  gates.get('b1')!.release();
  gates.get('c1')!.release();
  t.match(await queue.waitFor('b', 'b1', 5000), { state: 'completed', result: { n: 2 } });
  t.match(await queue.waitFor('c', 'c1', 5000), { state: 'completed', result: { n: 3 } });
  t.equal(peak.shared, 1, 'never two of the shared lane at once');
});

t.test('progress, kinds kept apart, recent jobs newest first', async (t) => {
  const gate = deferred();
  const queue = new InlineJobQueue<Kinds>({
    processors: {
      a: async (data, context) => {
        context.progress({ done: 1, total: 4, failed: 0 });
        await gate.promise;
        return { n: data.n };
      },
      b: async (data) => ({ n: data.n }),
      c: async (data) => ({ n: data.n }),
    },
    policies: { a: policy('a'), b: policy('b'), c: policy('c') },
  });
  t.teardown(() => queue.close());
  await queue.enqueue('a', 'job-1', { n: 1 });
  await new Promise((resolve) => setImmediate(resolve));
  t.match(await queue.status('a', 'job-1'), { state: 'active', progress: { done: 1, total: 4, failed: 0 } });
  t.same(await queue.status('b', 'job-1'), { id: 'job-1', state: 'unknown' }, 'an id is only known under its own kind');
  gate.release();
  await queue.waitFor('a', 'job-1', 5000);
  for (let n = 2; n <= 4; n++) {
    await queue.enqueue('b', `job-${n}`, { n });
    await queue.waitFor('b', `job-${n}`, 5000);
    await new Promise((resolve) => setTimeout(resolve, 2)); // distinct creation times
  }
  t.same(
    (await queue.recent('b', 2)).map((s) => s.id),
    ['job-4', 'job-3'],
    'newest first, this kind only, at most the limit',
  );
  t.same(
    (await queue.recent('a', 10)).map((s) => s.id),
    ['job-1'],
  );
  t.same(await queue.recent('c', 10), []);
});

t.test('retention: finished jobs older than their kind keeps them are forgotten', async (t) => {
  const queue = new InlineJobQueue<Kinds>({
    processors: {
      a: async (data) => ({ n: data.n }),
      b: async () => Promise.reject(new JobError('INVALID_JOB', true, 'no')),
      c: async (data) => ({ n: data.n }),
    },
    policies: {
      a: policy('a', { keepCompleted: { ageSeconds: 0, count: 100 } }),
      b: policy('b', { keepFailed: { ageSeconds: 3600, count: 1 } }),
      c: policy('c'),
    },
  });
  t.teardown(() => queue.close());
  await queue.waitFor('a', await queue.enqueue('a', 'old', { n: 1 }), 5000);
  await new Promise((resolve) => setTimeout(resolve, 5));
  await queue.waitFor('a', await queue.enqueue('a', 'new', { n: 2 }), 5000);
  t.equal((await queue.status('a', 'old')).state, 'unknown', 'past its age');
  await queue.waitFor('b', await queue.enqueue('b', 'f1', { n: 1 }), 5000);
  await queue.waitFor('b', await queue.enqueue('b', 'f2', { n: 2 }), 5000);
  t.equal((await queue.status('b', 'f1')).state, 'unknown', 'past the count of failed jobs kept');
  t.match(await queue.status('b', 'f2'), { state: 'failed', error: { message: 'no', clientError: true } });
});

t.test('a schedule enqueues a fresh job every interval, never behind a running one', async (t) => {
  let runs = 0;
  let gate = deferred();
  const queue = new InlineJobQueue<Kinds>({
    processors: {
      a: async (data) => {
        runs++;
        await gate.promise;
        return { n: data.n };
      },
      b: async (data) => ({ n: data.n }),
      c: async (data) => ({ n: data.n }),
    },
    policies: { a: policy('a'), b: policy('b'), c: policy('c') },
  });
  t.teardown(() => queue.close());
  t.equal(await queue.scheduled('a', 'every-50'), null);
  await queue.schedule('a', 'every-50', { data: { n: 7 }, everyMs: 50 });
  t.match(await queue.scheduled('a', 'every-50'), { data: { n: 7 }, everyMs: 50, nextRunAt: Date });
  t.equal(await queue.scheduled('b', 'every-50'), null, 'a schedule belongs to its kind');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(runs, 1, 'the first run is still going: no second one is stacked behind it');
  const [first] = await queue.recent('a', 10);
  t.match(first, { id: /^a-\d+-[0-9a-z]+$/, state: 'active', data: { n: 7 } });
  gate.release();
  gate = deferred();
  gate.release();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.ok(runs >= 2, `the schedule runs again once the first is done (${runs} runs)`);
  await queue.schedule('a', 'every-50', null);
  t.equal(await queue.scheduled('a', 'every-50'), null, 'removed');
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(runs, after, 'no more runs');
});

t.test('an unknown kind is a programming error, not a job', async (t) => {
  const queue = new InlineJobQueue<Kinds>({
    processors: { a: async (data) => ({ n: data.n }), b: async (data) => ({ n: data.n }), c: async (data) => ({ n: data.n }) },
    policies: { a: policy('a'), b: policy('b'), c: policy('c') },
  });
  t.teardown(() => queue.close());
  await t.rejects(queue.enqueue('d' as 'a', 'x', { n: 1 }), /unknown job kind "d"/);
  t.throws(
    () =>
      new InlineJobQueue<Kinds>({
        processors: { a: async (d) => d, b: async (d) => d, c: async (d) => d },
        policies: { a: policy('a', { concurrency: 0 }), b: policy('b'), c: policy('c') },
      }),
    RangeError,
  );
});
