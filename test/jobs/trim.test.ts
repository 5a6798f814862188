import { Buffer } from 'node:buffer';
import t, { type Test } from 'tap';
import { makeBtfTarXz } from '../../src/archive/index.js';
import { Btf, parseBpfObject, trimBtf } from '../../src/btf/index.js';
import { objectKey, putContentAddressed, type ObjectStore } from '../../src/storage/index.js';
import { objectsHashOf } from '../../src/queue/kinds.js';
import { type DamageReport, onDamage } from '../../src/storage/integrity.js';
import type { Allocate } from '../../src/storage/object-store.js';
import { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { KernelCache } from '../../src/executor/kernel-cache.js';
import { createTrimProcessor } from '../../src/jobs/trim.js';
import { JobError, withJobTimeout } from '../../src/queue/job.js';
import type { TrimJobData } from '../../src/queue/kinds.js';
import { verifyTrim } from '../../src/btf/verify.js';
import { loadFixtures, runBpftoolMinCore } from '../helpers/fixtures.js';
import { createTestEnvironment, registerTestKernel, sha256, silentLogger, TEST_KERNEL, uploadJob } from './setup.js';

const fx = await loadFixtures();

function object(name: string): Uint8Array {
  const o = fx.objects.get(name);
  if (!o) throw new Error(`fixture ${name} missing`);
  return o.bytes;
}

/** A store that counts writes. */
function countingStore(store: ObjectStore): ObjectStore & { puts: string[] } {
  const puts: string[] = [];
  return Object.assign(Object.create(store) as ObjectStore, {
    puts,
    put: (key: string, data: Uint8Array) => {
      puts.push(key);
      return store.put(key, data);
    },
  });
}

async function setup(t: Test, format: 'btf' | 'btf.tar.xz' = 'btf') {
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const kernelBytes = format === 'btf' ? fx.vmlinux : await makeBtfTarXz(TEST_KERNEL.kernel, fx.vmlinux);
  await registerTestKernel(env, kernelBytes, TEST_KERNEL, format);
  const store = countingStore(env.store);
  const kernelCache = new KernelCache({ maxBytes: 1 << 30 });
  const processor = createTrimProcessor({
    store,
    catalog: env.catalog,
    codec: new InlineCodecExecutor({ kernelCache }),
    logger: silentLogger,
  });
  const process = (data: TrimJobData) => processor(data, { id: 'test-job', progress: () => {} });
  return { env, store, kernelCache, process };
}

async function expectTrimError(t: Test, run: Promise<unknown>, expected: { code: string; clientError: boolean; message?: RegExp }) {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(error instanceof JobError, 'a JobError');
  if (!(error instanceof JobError)) {
    t.fail(`got ${String(error)}`);
    return;
  }
  t.equal(error.code, expected.code);
  t.equal(error.clientError, expected.clientError, expected.clientError ? 'client error' : 'server error');
  if (expected.message) t.match(error.message, expected.message);
}

t.test('the stored result is byte for byte what bpftool gen min_core_btf makes', async (t) => {
  const { env, store, process } = await setup(t);
  const job = await uploadJob(env.store, [object('tools_like')]);
  const result = await process(job);

  const stored = await env.store.get(result.resultKey);
  t.ok(stored, 'result stored');
  const want = fx.oracle.single.get('tools_like')!;
  t.ok(Buffer.from(stored!).equals(Buffer.from(want)), 'equals the bpftool oracle');
  t.equal(result.resultKey, `trimmed/${sha256(want)}.btf`);
  t.equal(result.resultSha256, sha256(want));
  t.equal(result.size, want.length);
  t.ok(result.relocationsVerified > 0, `verified ${result.relocationsVerified} relocations`);
  t.ok(result.durationMs >= 0);
  t.same(store.puts, [result.resultKey], 'one write: the result');

  const trim = await env.catalog.getTrim(job.objectsHash, TEST_KERNEL, (await env.catalog.getKernel(TEST_KERNEL))!.sha256);
  t.match(trim, {
    objectsHash: job.objectsHash,
    kernel: TEST_KERNEL,
    resultKey: result.resultKey,
    resultSha256: result.resultSha256,
    size: want.length,
  });
});

t.test('several objects: equal to bpftool over the same objects', async (t) => {
  const { env, process } = await setup(t);
  const result = await process(await uploadJob(env.store, [object('shared_a'), object('shared_b')]));
  const stored = await env.store.get(result.resultKey);
  t.ok(Buffer.from(stored!).equals(Buffer.from(fx.oracle.sharedPair)), 'equals bpftool over shared_a + shared_b');

  if (!fx.hasBpftool) return;
  const names = ['tools_like', 'field_offset', 'enum_relos', 'bitfields', 'type_relos'];
  const live = await runBpftoolMinCore(
    fx.vmlinuxPath,
    names.map((n) => fx.objects.get(n)!.path),
  );
  t.ok(live.ok, 'bpftool accepts the objects');
  if (!live.ok) return;
  const many = await process(await uploadJob(env.store, names.map(object)));
  t.ok(Buffer.from((await env.store.get(many.resultKey))!).equals(Buffer.from(live.btf)), `equals bpftool over ${names.join(', ')}`);
});

t.test('a kernel stored as .btf.tar.xz gives the same result', async (t) => {
  const { env, process } = await setup(t, 'btf.tar.xz');
  const result = await process(await uploadJob(env.store, [object('tools_like')]));
  t.equal(result.resultSha256, sha256(fx.oracle.single.get('tools_like')!));
});

t.test('a .btf.tar.xz kernel is unpacked once: later loads read the checked copy; a damaged copy is rebuilt', async (t) => {
  const { env, process } = await setup(t, 'btf.tar.xz');
  const record = (await env.catalog.getKernel(TEST_KERNEL))!;
  await process(await uploadJob(env.store, [object('tools_like')]));
  const copy = await env.catalog.getDerivedFile(record.sha256, 'btf');
  t.ok(copy, 'the unpacked copy is recorded for the packed file’s sha256');
  t.equal(copy?.sha256, sha256(fx.vmlinux), 'with the sha256 of the raw BTF');
  t.ok(Buffer.from((await env.store.get(copy!.storageKey))!).equals(Buffer.from(fx.vmlinux)), 'and stored');

  /** A processor with nothing decoded (as after a restart) over a store that lists its reads. */
  const cold = () => {
    const gets: string[] = [];
    const store = Object.assign(Object.create(env.store) as ObjectStore, {
      get: (key: string) => {
        gets.push(key);
        return env.store.get(key);
      },
    });
    const processor = createTrimProcessor({
      store,
      catalog: env.catalog,
      codec: new InlineCodecExecutor({ kernelCache: new KernelCache({ maxBytes: 1 << 30 }) }),
      logger: silentLogger,
    });
    return { gets, run: (data: TrimJobData) => processor(data, { id: 'cold-job', progress: () => {} }) };
  };

  const restarted = cold();
  const second = await restarted.run(await uploadJob(env.store, [object('field_offset')]));
  t.equal(second.resultSha256, sha256(fx.oracle.single.get('field_offset')!), 'bpftool’s result from the copy');
  t.notOk(restarted.gets.includes(record.storageKey), 'the .btf.tar.xz was not read');
  t.ok(restarted.gets.includes(copy!.storageKey), 'the copy was');

  const damaged = new Uint8Array(fx.vmlinux);
  damaged[damaged.length >> 1]! ^= 0x10;
  await env.store.put(copy!.storageKey, damaged);
  const repaired = cold();
  const third = await repaired.run(await uploadJob(env.store, [object('enum_relos')]));
  t.equal(third.resultSha256, sha256(fx.oracle.single.get('enum_relos')!), 'a damaged copy is never trimmed: bpftool’s result');
  t.ok(repaired.gets.includes(record.storageKey), 'the .btf.tar.xz was unpacked again');
  t.ok(Buffer.from((await env.store.get(copy!.storageKey))!).equals(Buffer.from(fx.vmlinux)), 'and the copy rebuilt');
});

t.test('on codec threads the copy is decoded while its sha256 is checked: a damaged copy is still never trimmed', async (t) => {
  const { env, process } = await setup(t, 'btf.tar.xz');
  const record = (await env.catalog.getKernel(TEST_KERNEL))!;
  await process(await uploadJob(env.store, [object('tools_like')]));
  const copy = (await env.catalog.getDerivedFile(record.sha256, 'btf'))!;
  const damages: DamageReport[] = [];
  t.teardown(onDamage((report) => damages.push(report)));

  /** A restarted service's trim path: codec threads holding nothing, a store that lists what it reads (and into what). */
  const cold = () => {
    const reads: { key: string; shared: boolean }[] = [];
    const store = Object.assign(Object.create(env.store) as ObjectStore, {
      get: async (key: string) => {
        reads.push({ key, shared: false });
        return env.store.get(key);
      },
      getInto: async (key: string, allocate: Allocate) => {
        const bytes = await env.store.getInto!(key, allocate);
        reads.push({ key, shared: bytes?.buffer instanceof SharedArrayBuffer });
        return bytes;
      },
    });
    const codec = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
    t.teardown(() => codec.close());
    const processor = createTrimProcessor({ store, catalog: env.catalog, codec, logger: silentLogger });
    return { reads, run: (data: TrimJobData) => processor(data, { id: 'cold-job', progress: () => {} }) };
  };

  const restarted = cold();
  const good = await restarted.run(await uploadJob(env.store, [object('field_offset')]));
  t.equal(good.resultSha256, sha256(fx.oracle.single.get('field_offset')!), 'bpftool’s result from the copy');
  t.same(
    restarted.reads.filter((r) => r.key === copy.storageKey),
    [{ key: copy.storageKey, shared: true }],
    'the copy was read once, into memory the thread shares',
  );
  t.notOk(
    restarted.reads.some((r) => r.key === record.storageKey),
    'the .btf.tar.xz was not read',
  );
  t.same(damages, []);

  const damaged = new Uint8Array(fx.vmlinux);
  damaged[damaged.length >> 1]! ^= 0x10;
  await env.store.put(copy.storageKey, damaged);
  const repaired = cold();
  const third = await repaired.run(await uploadJob(env.store, [object('enum_relos')]));
  t.equal(third.resultSha256, sha256(fx.oracle.single.get('enum_relos')!), 'a damaged copy is never trimmed: bpftool’s result');
  t.match(damages, [{ kind: 'derived', key: copy.storageKey, expected: copy.sha256, action: 'rebuilt' }], 'the damage reported');
  t.ok(
    repaired.reads.some((r) => r.key === record.storageKey),
    'the .btf.tar.xz was unpacked again',
  );
  t.ok(Buffer.from((await env.store.get(copy.storageKey))!).equals(Buffer.from(fx.vmlinux)), 'and the copy rebuilt');
  const again = await repaired.run(await uploadJob(env.store, [object('tools_like')]));
  t.equal(again.resultSha256, sha256(fx.oracle.single.get('tools_like')!), 'the decode kept is the rebuilt one');
});

t.test('running the same job twice is a no-op the second time', async (t) => {
  const { env, store, process, kernelCache } = await setup(t);
  const job = await uploadJob(env.store, [object('field_offset')]);
  const first = await process(job);
  const putsAfterFirst = store.puts.length;
  const trimsAfterFirst = await env.catalog.countTrims();
  const recordAfterFirst = await env.catalog.getTrim(job.objectsHash, TEST_KERNEL, (await env.catalog.getKernel(TEST_KERNEL))!.sha256);

  const second = await process(job);
  t.equal(second.resultKey, first.resultKey);
  t.equal(second.resultSha256, first.resultSha256);
  t.equal(store.puts.length, putsAfterFirst, 'nothing written');
  t.equal(await env.catalog.countTrims(), trimsAfterFirst, 'no new trim row');
  t.same(
    await env.catalog.getTrim(job.objectsHash, TEST_KERNEL, (await env.catalog.getKernel(TEST_KERNEL))!.sha256),
    recordAfterFirst,
    'the row is kept as it was',
  );
  t.match(kernelCache.stats(), { misses: 1, hits: 1, entries: 1 }, 'the kernel was decoded once');
});

t.test('concurrent jobs on one kernel share its load', async (t) => {
  const { env, process, kernelCache } = await setup(t);
  const jobs = await Promise.all(['tools_like', 'field_offset', 'enum_relos'].map((n) => uploadJob(env.store, [object(n)])));
  const results = await Promise.all(jobs.map((job) => process(job)));
  t.equal(new Set(results.map((r) => r.resultKey)).size, 3);
  t.match(kernelCache.stats(), { misses: 1, sharedLoads: 2, entries: 1, loadFailures: 0 });
});

t.test('client errors', async (t) => {
  const { env, process } = await setup(t);

  await t.test('an unknown kernel', async (t) => {
    const job = await uploadJob(env.store, [object('tools_like')], { ...TEST_KERNEL, kernel: '9.9.9-unknown' });
    await expectTrimError(t, process(job), { code: 'UNKNOWN_KERNEL', clientError: true, message: /9\.9\.9-unknown/ });
  });

  await t.test('an object that is not ELF', async (t) => {
    const job = await uploadJob(env.store, [new TextEncoder().encode('#!/bin/sh\necho this is not an ELF object\n')]);
    await expectTrimError(t, process(job), { code: 'INVALID_OBJECT', clientError: true, message: /not an ELF file/ });
  });

  await t.test('an object whose relocations libbpf rejects', async (t) => {
    const job = await uploadJob(env.store, [object('fail_ambiguous')]);
    await expectTrimError(t, process(job), { code: 'REJECTED_OBJECT', clientError: true });
  });

  await t.test('malformed job data', async (t) => {
    const job = await uploadJob(env.store, [object('tools_like')]);
    await expectTrimError(t, process({ ...job, objectHashes: ['../../etc/passwd'] }), { code: 'INVALID_JOB', clientError: true });
    await expectTrimError(t, process({ ...job, kernel: { ...TEST_KERNEL, distro: 'plan9' } }), {
      code: 'INVALID_JOB',
      clientError: true,
      message: /distro/,
    });
  });

  t.equal(await env.catalog.countTrims(), 0, 'nothing recorded');
});

t.test('server errors', async (t) => {
  const { env, process } = await setup(t);

  await t.test('an object the API did not store', async (t) => {
    const job = await uploadJob(env.store, [object('tools_like')]);
    await env.store.delete(`objects/${job.objectHashes[0]}.o`);
    await expectTrimError(t, process(job), { code: 'OBJECT_MISSING', clientError: false });
  });

  await t.test('a damaged object the executor has not parsed', async (t) => {
    const job = await uploadJob(env.store, [object('bitfields')]);
    const key = `objects/${job.objectHashes[0]}.o`;
    const damaged = new Uint8Array((await env.store.get(key))!);
    damaged[100]! ^= 0x10;
    await env.store.put(key, damaged);
    await expectTrimError(t, process(job), { code: 'OBJECT_DAMAGED', clientError: false, message: /is damaged/ });
  });

  await t.test('an object whose parse the executor holds is not read again', async (t) => {
    const job = await uploadJob(env.store, [object('enum_relos')]);
    const first = await process(job);
    await env.store.delete(`objects/${job.objectHashes[0]}.o`);
    const again = await process(job);
    t.equal(again.resultSha256, first.resultSha256, 'trimmed from the parse made from the checked bytes');
    const restarted = createTrimProcessor({
      store: env.store,
      catalog: env.catalog,
      codec: new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 }),
      logger: silentLogger,
    });
    await expectTrimError(t, restarted(job, { id: 'restarted', progress: () => {} }), { code: 'OBJECT_MISSING', clientError: false });
  });

  await t.test('a kernel file that changed since it was registered', async (t) => {
    const other = { ...TEST_KERNEL, kernel: '5.15.0-2-btfhubtest' };
    const key = await registerTestKernel(env, fx.vmlinux, other);
    await env.store.put(key, fx.vmlinux.subarray(0, fx.vmlinux.length - 1));
    const job = await uploadJob(env.store, [object('tools_like')], other);
    await expectTrimError(t, process(job), { code: 'KERNEL_CHANGED', clientError: false });
  });

  await t.test('a kernel file that does not decode', async (t) => {
    const other = { ...TEST_KERNEL, kernel: '5.15.0-3-btfhubtest' };
    await registerTestKernel(env, new TextEncoder().encode('not BTF at all'), other);
    const job = await uploadJob(env.store, [object('tools_like')], other);
    const error = await process(job).catch((e: unknown) => e);
    t.match(error, { code: 'KERNEL_CORRUPT', clientError: false, retryable: false });
  });
});

t.test('verifyTrim', async (t) => {
  const full = Btf.parse(fx.vmlinux);
  const tools = parseBpfObject(object('tools_like'), 'tools_like.bpf.o');
  const shared = parseBpfObject(object('shared_a'), 'shared_a.bpf.o');

  const faithful = verifyTrim(full, Btf.parse(trimBtf(full, [tools])), [tools]);
  t.ok(faithful.relocations > 0);
  t.equal(faithful.mismatchCount, 0, 'a trim for the object passes');

  const wrong = verifyTrim(full, Btf.parse(trimBtf(full, [shared])), [tools]);
  t.ok(wrong.mismatchCount > 0, `a trim made for another object fails (${wrong.mismatchCount} mismatches)`);
  t.ok(wrong.mismatches.length <= 20);
  t.match(wrong.mismatches[0], { object: 'tools_like.bpf.o', full: String, trimmed: String });
});

t.test('withJobTimeout', async (t) => {
  const slow = new Promise((resolve) => setTimeout(resolve, 200, 'late'));
  const error = await withJobTimeout(slow, 20).catch((e: unknown) => e);
  t.match(error, { code: 'TIMEOUT', clientError: false });
  t.equal(await withJobTimeout(Promise.resolve(7), 1000), 7);
});

t.test(
  "an object still being written in this process (an in-process job started beside its upload's write) is read once written",
  async (t) => {
    const { env, process } = await setup(t);
    const bytes = object('tools_like');
    const hash = sha256(bytes);
    // The API's write of the upload, held: the job (whose executor holds no parse) must wait for it.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const writer = Object.assign(Object.create(env.store) as ObjectStore, {
      put: async (key: string, data: Uint8Array) => {
        await gate;
        return env.store.put(key, data);
      },
    });
    const writing = putContentAddressed(writer, objectKey(hash), bytes, 'object', { sha256: hash });
    let done = false;
    const running = process({ objectHashes: [hash], objectsHash: objectsHashOf([hash]), kernel: TEST_KERNEL }).finally(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.notOk(done, 'the job waits for the write');
    release();
    const result = await running;
    t.equal(await writing, 'written');
    t.ok(
      Buffer.from((await env.store.get(result.resultKey))!).equals(Buffer.from(fx.oracle.single.get('tools_like')!)),
      'the bytes bpftool writes',
    );

    // Without a write in flight, a missing object is the job's error as before.
    const missing = sha256(new Uint8Array([1, 2, 3]));
    await expectTrimError(t, process({ objectHashes: [missing], objectsHash: objectsHashOf([missing]), kernel: TEST_KERNEL }), {
      code: 'OBJECT_MISSING',
      clientError: false,
    });
  },
);

t.test('a later job trusts the result its process wrote; a rebuild (rewrite) writes it whatever its process remembers', async (t) => {
  const { env, store, process } = await setup(t);
  const job = await uploadJob(env.store, [object('enum64')]);
  const first = await process(job);
  t.same(store.puts, [first.resultKey], 'written once');
  const want = (await env.store.get(first.resultKey))!;
  // Damaged behind the job's back, in another process say: no read here has seen it.
  const damaged = new Uint8Array(want);
  damaged[10]! ^= 0x10;
  await env.store.put(first.resultKey, damaged);
  await process(job);
  t.same(store.puts, [first.resultKey], 'a later job takes the copy its process wrote for being there');
  const rebuilt = await process({ ...job, rewrite: true });
  t.equal(rebuilt.resultKey, first.resultKey);
  t.same(store.puts, [first.resultKey, first.resultKey], 'a rebuild checks the copy, and writes it');
  t.ok(Buffer.from((await env.store.get(first.resultKey))!).equals(Buffer.from(want)), 'repaired');
});
