/**
 * The worker-thread codec executor: the same answers as the inline one (bytes bpftool writes,
 * failures by stage, limits named), with the work on threads that may die: a task past its
 * heap cap or its time budget fails alone, its thread is replaced, and the next task runs.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { CodecTaskError } from '../../src/executor/codec-executor.js';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { REMEMBERED_OBJECTS, WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { parsesToPushOut, storedObjects } from '../helpers/stored-objects.js';
import { buildElf } from '../helpers/elf-builder.js';
import { withRepeatedRelocations } from '../helpers/hostile-inputs.js';

const fx = await loadFixtures();
const object = (name: string) => ({ name: `${name}.bpf.o`, bytes: fx.objects.get(name)!.bytes });
const vmlinuxSha = createHash('sha256').update(fx.vmlinux).digest('hex');
const kernel = (loads: { n: number } = { n: 0 }, storageKey = 'ubuntu/22.04/x86_64/test.btf') => ({
  cacheKey: { storageKey, sha256: vmlinuxSha },
  loadRaw: async () => {
    loads.n++;
    // A copy: the executor takes the bytes it is given (moved to its thread).
    return new Uint8Array(fx.vmlinux);
  },
});

const executor = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
t.teardown(() => executor.close());

t.test('trim on a thread: the bytes bpftool writes, the kernel decoded once in the thread', async (t) => {
  const fresh = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 0 });
  t.equal(fresh.threadHeap(), undefined, 'no thread started: no heap to report');
  fresh.start();
  for (let waited = 0; fresh.threadHeap() === undefined && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  t.ok(fresh.threadHeap()!.used > 0, 'a started thread reports its heap before its first task');
  await fresh.close();
  const loads = { n: 0 };
  const first = await executor.trim(kernel(loads), [object('tools_like')]);
  t.same(Buffer.from(first.bytes), Buffer.from(fx.oracle.single.get('tools_like')!), 'byte-identical to bpftool gen min_core_btf');
  t.equal(first.sha256, createHash('sha256').update(first.bytes).digest('hex'));
  t.equal(first.kernelCached, false);
  const second = await executor.trim(kernel(loads), [object('tools_like')]);
  t.equal(second.kernelCached, true, 'the second trim finds the decode in the thread');
  t.equal(loads.n, 1, 'the raw BTF was read once');
  t.equal(executor.decodedKernels().count, 1);
  const heap = executor.threadHeap()!;
  t.ok(heap.used > 0 && heap.total >= heap.used, `the thread reported its heap: ${heap.used} used of ${heap.total}`);
  t.ok(heap.external >= executor.decodedKernels().bytes / 2, 'its ArrayBuffers include the decoded kernel');
  t.equal(new InlineCodecExecutor({ kernelCacheBytes: 0 }).threadHeap(), undefined, 'inline: no threads');
});

t.test("a thread collects its tasks' dead buffers itself: its external memory stays near its decoded kernels", async (t) => {
  const loads = { n: 0 };
  const tools = object('tools_like');
  let highest = 0;
  // Every trim leaves a few MB of ArrayBuffers behind (the object's copy, its parse, the
  // result); V8 alone would let them pile up to 64 MiB before collecting.
  for (let n = 0; n < 40; n++) {
    const bytes = new Uint8Array(tools.bytes.length + 8);
    bytes.set(tools.bytes);
    new DataView(bytes.buffer).setUint32(tools.bytes.length, n);
    await executor.trim(kernel(loads), [{ name: tools.name, bytes }]);
    highest = Math.max(highest, executor.threadHeap()!.external - executor.decodedKernels().bytes);
  }
  t.ok(highest > 0, `measured: ${(highest / 1048576).toFixed(1)} MiB beyond the decoded kernels at most`);
  t.ok(highest <= 16 * 1048576 + 8 * 1048576, 'within the 16 MiB slack plus one task');
});

t.test('a task whose kernel is not kept leaves its buffers to V8: no full collection after each', async (t) => {
  const tools = object('tools_like');
  // A bundle's tasks: a new 5.5 MB kernel each time, decoded and dropped (cacheKernel: false).
  const uncached = (n: number) =>
    executor.trim(
      {
        cacheKey: { storageKey: `ubuntu/22.04/x86_64/uncached-${n}.btf`, sha256: vmlinuxSha },
        loadRaw: async () => new Uint8Array(fx.vmlinux),
      },
      [tools],
      {
        cacheKernel: false,
      },
    );
  await uncached(0);
  const before = executor.threadCollections();
  for (let n = 1; n <= 8; n++) await uncached(n);
  t.equal(
    executor.threadCollections(),
    before,
    `8 dropped kernels (${((8 * fx.vmlinux.length) / 1048576).toFixed(0)} MiB): no collection of the thread's own`,
  );
  // A task that keeps its kernel then collects them if V8 has not yet: after two such tasks,
  // either the thread collected, or what it holds beyond its kernels is back within the slack
  // (plus one task's buffers).
  await executor.trim(kernel(), [tools]);
  await executor.trim(kernel(), [tools]);
  const after = executor.threadCollections();
  const held = executor.threadHeap()!.external - executor.decodedKernels().bytes;
  t.ok(
    after > before || held <= 16 * 1048576 + 8 * 1048576,
    `after two kept-kernel tasks: ${after - before} collections of its own, ${(held / 1048576).toFixed(1)} MiB held beyond its kernels`,
  );
});

t.test('the kernel bytes are moved to the thread when they own their buffer, copied when they are a view', async (t) => {
  const owned = new Uint8Array(fx.vmlinux);
  const moved = await executor.trim(
    { cacheKey: { storageKey: 'ubuntu/22.04/x86_64/moved.btf', sha256: vmlinuxSha }, loadRaw: async () => owned },
    [object('tools_like')],
    { cacheKernel: false },
  );
  t.same(Buffer.from(moved.bytes), Buffer.from(fx.oracle.single.get('tools_like')!), 'the bytes bpftool writes');
  t.equal(owned.byteLength, 0, 'the array it was given is detached: moved, not copied');

  const larger = new Uint8Array(fx.vmlinux.length + 8);
  larger.set(fx.vmlinux, 8);
  const view = larger.subarray(8);
  const copied = await executor.trim(
    { cacheKey: { storageKey: 'ubuntu/22.04/x86_64/view.btf', sha256: vmlinuxSha }, loadRaw: async () => view },
    [object('tools_like')],
    { cacheKernel: false },
  );
  t.same(Buffer.from(copied.bytes), Buffer.from(moved.bytes), 'the same answer');
  t.equal(view.byteLength, fx.vmlinux.length, 'a view into a larger buffer is copied and left whole');
  t.ok(Buffer.from(view).equals(Buffer.from(fx.vmlinux)), 'and unchanged');
});

t.test('a kernel a trim did not keep comes back from the thread as a spare, and the next kernel is read into it', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const oracle = Buffer.from(fx.oracle.single.get('tools_like')!);
  const uncached = (name: string, raw: Uint8Array) =>
    pool.trim(
      { cacheKey: { storageKey: `ubuntu/22.04/x86_64/${name}.btf`, sha256: vmlinuxSha }, loadRaw: async () => raw },
      [object('tools_like')],
      {
        cacheKernel: false,
      },
    );

  // A bundle reads its kernels ahead into the executor's buffers (rounded up: a view shorter than its buffer).
  const first = pool.allocateKernel(fx.vmlinux.length);
  first.set(fx.vmlinux);
  const bufferLength = first.buffer.byteLength;
  t.ok(bufferLength > first.byteLength, 'a view shorter than its buffer');
  t.ok(Buffer.from((await uncached('a', first)).bytes).equals(oracle), 'the bytes bpftool writes');
  t.equal(first.byteLength, 0, 'moved to the thread whole, though shorter than its buffer');
  t.same(pool.spares.stats(), { count: 1, bytes: bufferLength, reused: 0, fresh: 1 }, 'given back after the task');

  // The next kernel goes into the same memory: what the thread decodes is what was written there.
  const second = pool.allocateKernel(fx.vmlinux.length);
  t.equal(pool.spares.stats().reused, 1, 'the spare was reused');
  t.equal(second.buffer.byteLength, bufferLength);
  second.fill(0);
  second.set(fx.vmlinux);
  t.ok(Buffer.from((await uncached('b', second)).bytes).equals(oracle), 'the same answer from the reused buffer');

  // A kernel that does not decode: the task fails as before, and its buffer still comes back.
  const broken = pool.allocateKernel(fx.vmlinux.length);
  broken.fill(0);
  const failure = await uncached('broken', broken).catch((e: unknown) => e);
  t.match(failure, { name: 'CodecTaskError', stage: 'kernel' });
  t.equal(pool.spares.stats().count, 1, "a failed trim's kernel comes back too");

  // A trim that keeps its kernel keeps its buffer: the decode is a view into it.
  const kept = pool.allocateKernel(fx.vmlinux.length);
  kept.set(fx.vmlinux);
  await pool.trim({ cacheKey: { storageKey: 'ubuntu/22.04/x86_64/kept.btf', sha256: vmlinuxSha }, loadRaw: async () => kept }, [
    object('tools_like'),
  ]);
  t.equal(pool.spares.stats().count, 0, 'nothing given back for a kernel the thread keeps');
  t.ok(
    Buffer.from((await pool.trim(kernel({ n: 0 }, 'ubuntu/22.04/x86_64/kept.btf'), [object('tools_like')])).bytes).equals(oracle),
    'and its decode still answers',
  );
});

t.test('an object a thread has been sent is named, not copied, in the next tasks; a dropped parse is asked for', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const withHash = (name: string) => {
    const { bytes } = fx.objects.get(name)!;
    return { name: `${name}.bpf.o`, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  const tools = withHash('tools_like');
  const oracle = Buffer.from(fx.oracle.single.get('tools_like')!);
  t.ok(Buffer.from((await pool.trim(kernel(), [tools])).bytes).equals(oracle), 'the bytes bpftool writes');
  t.equal(pool.objectBytesSent, tools.bytes.length, 'the first task carries the bytes');
  const again = await pool.trim(kernel(), [{ ...tools, name: 'renamed.bpf.o' }]);
  t.ok(Buffer.from(again.bytes).equals(oracle), 'the same answer from the kept parse');
  t.equal(pool.objectBytesSent, tools.bytes.length, 'the second names it only');
  const rows = await pool.describeRelocations([tools]);
  t.equal(rows.objects[0]!.name, 'tools_like.bpf.o', 'named as this task names it');

  // As many other objects as the thread keeps parses of push tools_like's out.
  const others = parsesToPushOut(['tools_like']).map(withHash);
  for (const other of others) await pool.checkObjects([other]);
  const sentBefore = pool.objectBytesSent;
  const afterDrop = await pool.trim(kernel(), [tools]);
  t.ok(Buffer.from(afterDrop.bytes).equals(oracle), 'the thread asked for the bytes it had dropped: the same answer');
  t.equal(pool.objectBytesSent, sentBefore + tools.bytes.length, 'sent once more, on request');

  // Without a sha256 nothing can be named: the bytes go every time.
  const anonymous = { name: 'tools_like.bpf.o', bytes: tools.bytes };
  await pool.trim(kernel(), [anonymous]);
  await pool.trim(kernel(), [anonymous]);
  t.equal(pool.objectBytesSent, sentBefore + 3 * tools.bytes.length);
  t.equal(pool.objectBytesShared, 0, 'ordinary buffers are copied');

  // Bytes in shared memory (big uploads): the thread reads them in place.
  const shared = new Uint8Array(new SharedArrayBuffer(tools.bytes.length));
  shared.set(tools.bytes);
  const fromShared = await pool.trim(kernel(), [{ name: 'shared.bpf.o', bytes: shared }]);
  t.ok(Buffer.from(fromShared.bytes).equals(oracle), 'the same answer from shared memory');
  t.equal(pool.objectBytesSent, sentBefore + 4 * tools.bytes.length);
  t.equal(pool.objectBytesShared, tools.bytes.length, 'sent as shared memory');
});

t.test('checks, descriptions and compat rows equal the inline executor', async (t) => {
  const inline = new InlineCodecExecutor({ kernelCacheBytes: 0 });
  await executor.checkObjects([object('tools_like'), object('enum_relos')]);
  const bad = await executor
    .checkObjects([object('tools_like'), { name: 'notes.txt', bytes: new TextEncoder().encode('hello') }])
    .catch((e: unknown) => e);
  t.ok(bad instanceof CodecTaskError);
  t.match(bad, { stage: 'object', message: /notes\.txt.*not an ELF file/ });
  const objects = [object('tools_like'), object('enum_relos')];
  t.same(await executor.describeRelocations(objects), await inline.describeRelocations(objects));
  t.same(await executor.compatKernel(kernel(), objects), await inline.compatKernel(kernel(), objects));
});

t.test('an object over a codec bound is a limit failure naming it', async (t) => {
  const limited = new WorkerCodecExecutor({
    threads: 1,
    heapMb: 256,
    taskTimeoutMs: 60_000,
    kernelCacheBytes: 0,
    limits: { maxRelocations: 1000 },
  });
  t.teardown(() => limited.close());
  const many = withRepeatedRelocations(fx.objects.get('tools_like')!.bytes, 500);
  const error = await limited.checkObjects([{ name: 'many.o', bytes: many }]).catch((e: unknown) => e);
  t.match(error, { name: 'CodecTaskError', stage: 'limit', limit: { name: 'maxRelocations', value: 1000 } });
  t.ok((error as CodecTaskError).limit!.actual! > 1000);
});

t.test('past its time budget a task fails alone; the thread is replaced and the next task runs', async (t) => {
  const slow = new WorkerCodecExecutor({
    threads: 1,
    heapMb: 256,
    taskTimeoutMs: 1,
    kernelCacheBytes: 0,
    limits: { maxRelocations: 1e9, maxExtBlocks: 1e9 },
  });
  t.teardown(() => slow.close());
  // Each task parses ~60,000 relocations on a thread that has just started (tens of ms), so
  // none can answer inside 1 ms. A small real object could: the second task once did on CI.
  const big = (times: number): { name: string; bytes: Uint8Array } => ({
    name: `big${times}.o`,
    bytes: withRepeatedRelocations(fx.objects.get('tools_like')!.bytes, times),
  });
  const error = await slow.checkObjects([big(400)]).catch((e: unknown) => e);
  t.match(error, { name: 'CodecTaskError', stage: 'timeout', limit: { name: 'codecTaskTimeoutMs', value: 1 } });
  t.equal(slow.lost.timeout, 1);
  // ...and each fails on its own (queued ones behind it run on the new thread).
  const both = await Promise.allSettled([slow.checkObjects([big(401)]), slow.checkObjects([big(402)])]);
  t.same(
    both.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  t.equal(slow.lost.timeout, 3, 'one thread replaced per task');
});

t.test('an input that blows the heap cap kills its thread only; the next task is answered', async (t) => {
  // With the relocation bounds lifted, 580,000 relocations (~90 bytes each once parsed) do not
  // fit in 16 MiB of heap: linear, just too large for the cap.
  const small = new WorkerCodecExecutor({
    threads: 1,
    heapMb: 16,
    taskTimeoutMs: 120_000,
    kernelCacheBytes: 0,
    limits: { maxRelocations: 1e9, maxExtBlocks: 1e9 },
  });
  t.teardown(() => small.close());
  const hog = withRepeatedRelocations(fx.objects.get('tools_like')!.bytes, 4000);
  const error = await small.checkObjects([{ name: 'hog.o', bytes: hog }]).catch((e: unknown) => e);
  t.match(error, { name: 'CodecTaskError', stage: 'memory', limit: { name: 'codecThreadHeapMb', value: 16 } });
  t.equal(small.lost.memory, 1);
  const after = await small.checkObjects([{ name: 'x.o', bytes: new Uint8Array(8) }]).catch((e: unknown) => e);
  t.match(after, { stage: 'object' }, 'a new thread answers the next task');
});

t.test("the kernel source's own failure passes through unchanged; the thread stays usable", async (t) => {
  const failure = new Error('store down');
  const failed = await executor
    .trim({ cacheKey: { storageKey: 'x/1/x86_64/other.btf', sha256: 'f'.repeat(64) }, loadRaw: () => Promise.reject(failure) }, [
      object('tools_like'),
    ])
    .catch((e: unknown) => e);
  t.equal(failed, failure);
  const ok = await executor.trim(kernel(), [object('tools_like')]);
  t.ok(ok.bytes.length > 0);
});

t.test('work for one kernel always goes to the same thread', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 2, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const loads = { n: 0 };
  for (let i = 0; i < 4; i++) await pool.trim(kernel(loads, 'ubuntu/22.04/x86_64/affine.btf'), [object('tools_like')]);
  t.equal(loads.n, 1, 'decoded once for four trims over two threads');
  t.equal(pool.decodedKernels().count, 1);
});

t.test('trims of one kernel at once use both threads: the second decodes the kernel too, once', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 2, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const loads = { n: 0 };
  const hot = () => kernel(loads, 'ubuntu/22.04/x86_64/hot.btf');
  const want = Buffer.from(fx.oracle.single.get('tools_like')!);
  const first = [1, 2, 3].map(() => pool.trim(hot(), [object('tools_like')]));
  t.ok(
    pool.backlog().every((n) => n > 0),
    `every thread has work (backlog ${pool.backlog().join(', ')}): the third trim found its kernel's thread two deep`,
  );
  for (const done of await Promise.all(first)) t.same(Buffer.from(done.bytes), want, 'byte-identical to bpftool');
  t.equal(loads.n, 2, 'the kernel decoded once on each thread');
  const again = [1, 2, 3, 4].map(() => pool.trim(hot(), [object('tools_like')]));
  await Promise.all(again);
  t.equal(loads.n, 2, 'and not again: each thread kept its decode');
  t.equal(pool.decodedKernels().count, 2);
});

t.test('closed: tasks are refused', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 1, heapMb: 64, taskTimeoutMs: 1000, kernelCacheBytes: 0 });
  await pool.close();
  await t.rejects(pool.checkObjects([object('tools_like')]), /closed/);
});

t.test(
  'checkKernel on a thread: what the inline executor says (type count, missing structs, an ELF .BTF section); refusals by stage',
  async (t) => {
    const inline = new InlineCodecExecutor({ kernelCacheBytes: 0 });
    const cachedBefore = executor.decodedKernels().count;
    const structs = ['task_struct', 'no_such_struct_anywhere'];
    const raw = await executor.checkKernel(fx.vmlinux, { structs });
    t.same(raw, await inline.checkKernel(fx.vmlinux, { structs }));
    t.ok(raw.typeCount > 1000, `the fixture kernel's types: ${raw.typeCount}`);
    t.ok(raw.missingStructs.includes('no_such_struct_anywhere'));
    t.notOk(raw.missingStructs.includes('task_struct'));
    t.equal(raw.rawBtf, undefined, 'raw BTF in, nothing to give back');
    const elf = buildElf({ sections: [{ name: '.BTF', data: fx.vmlinux }] });
    const fromElf = await executor.checkKernel(elf);
    t.equal(fromElf.typeCount, raw.typeCount);
    t.ok(fromElf.rawBtf && Buffer.from(fromElf.rawBtf).equals(Buffer.from(fx.vmlinux)), 'the .BTF section of an ELF');
    const notBtf = await executor.checkKernel(new Uint8Array(64)).catch((e: unknown) => e);
    t.ok(notBtf instanceof CodecTaskError);
    t.match(notBtf, { stage: 'kernel', message: /neither raw BTF/ });
    t.equal(executor.decodedKernels().count, cachedBefore, 'checked kernels are not cached');
  },
);

t.test('a trim with cacheKernel false decodes for the task and keeps nothing; a cached decode is still used', async (t) => {
  const loads = { n: 0 };
  const fresh = kernel(loads, 'ubuntu/22.04/x86_64/uncached.btf');
  const before = executor.decodedKernels().count;
  const first = await executor.trim(fresh, [object('tools_like')], { cacheKernel: false });
  t.same(Buffer.from(first.bytes), Buffer.from(fx.oracle.single.get('tools_like')!), 'the same bytes');
  t.equal(first.kernelCached, false);
  await executor.trim(fresh, [object('tools_like')], { cacheKernel: false });
  t.equal(loads.n, 2, 'read again: not kept');
  t.equal(executor.decodedKernels().count, before);
  const cached = await executor.trim(kernel(), [object('tools_like')], { cacheKernel: false });
  t.equal(cached.kernelCached, true, "the trim path's decode is used when there");
});

/**
 * A kept kernel read ahead of its check (TrimKernel.loadUnchecked): into shared memory, sent
 * to the thread at once, checked here while the thread decodes. Nothing is answered from the
 * bytes before the check says they are good; damaged bytes are replaced by the check's.
 */
t.test('a kernel sent before its check: the trim waits for the check, and uses the bytes it names', async (t) => {
  const oracle = Buffer.from(fx.oracle.single.get('tools_like')!);
  // Another valid BTF than the kernel's: a trim on it answers other bytes, or fails.
  const other = fx.oracle.single.get('tools_like')!;
  const unchecked = (
    storageKey: string,
    bytesFor: (allocate: (size: number) => Uint8Array) => Uint8Array,
    check: () => Promise<Uint8Array | null>,
  ) => {
    const calls = { loadRaw: 0, unchecked: 0, shared: false, checkedAfterSend: false };
    return {
      calls,
      kernel: {
        cacheKey: { storageKey, sha256: vmlinuxSha },
        loadRaw: async () => {
          calls.loadRaw++;
          return new Uint8Array(fx.vmlinux);
        },
        loadUnchecked: async (allocate: (size: number) => Uint8Array) => {
          calls.unchecked++;
          const bytes = bytesFor(allocate);
          calls.shared = bytes.buffer instanceof SharedArrayBuffer;
          return { bytes, check };
        },
      },
    };
  };
  const copyInto = (source: Uint8Array) => (allocate: (size: number) => Uint8Array) => {
    const bytes = allocate(source.length);
    bytes.set(source);
    return bytes;
  };

  const good = unchecked('u/1/x86_64/good.btf', copyInto(fx.vmlinux), async () => null);
  const first = await executor.trim(good.kernel, [object('tools_like')]);
  t.same(Buffer.from(first.bytes), oracle, 'checked good: the bytes bpftool writes');
  t.same(good.calls, { loadRaw: 0, unchecked: 1, shared: true, checkedAfterSend: false }, 'read once, into shared memory');
  t.equal((await executor.trim(good.kernel, [object('tools_like')])).kernelCached, true, 'its decode is kept');
  // The next such read goes into shared memory faulted in meanwhile (warm-shared-buffer.ts).
  await executor.warmShared.settled();
  const warmBefore = executor.warmShared.counts.warm;
  let into: ArrayBufferLike | undefined;
  const warmRead = unchecked(
    'u/1/x86_64/warm.btf',
    (allocate) => {
      const bytes = copyInto(fx.vmlinux)(allocate);
      into = bytes.buffer;
      return bytes;
    },
    async () => null,
  );
  t.same(Buffer.from((await executor.trim(warmRead.kernel, [object('tools_like')])).bytes), oracle, 'from a warm buffer: the same bytes');
  t.equal(executor.warmShared.counts.warm, warmBefore + 1, 'the read took the warm buffer');
  t.ok(
    into!.byteLength >= fx.vmlinux.length && into!.byteLength % (1024 * 1024) === 0,
    'a buffer rounded up to 1 MiB, the bytes a view of it',
  );

  // The check answers late: the thread has long decoded the damaged bytes by then.
  const damaged = unchecked('u/1/x86_64/damaged.btf', copyInto(other), async () => {
    await new Promise((r) => setTimeout(r, 150));
    return new Uint8Array(fx.vmlinux);
  });
  const replaced = await executor.trim(damaged.kernel, [object('tools_like')]);
  t.same(Buffer.from(replaced.bytes), oracle, "damaged: the trim is the replacement's, not the bytes sent first");
  t.equal((await executor.trim(damaged.kernel, [object('tools_like')])).kernelCached, true, "the replacement's decode is the one kept");

  const garbage = unchecked(
    'u/1/x86_64/garbage.btf',
    (allocate) => allocate(4096),
    async () => new Uint8Array(fx.vmlinux),
  );
  const fromGarbage = await executor.trim(garbage.kernel, [object('tools_like')]);
  t.same(Buffer.from(fromGarbage.bytes), oracle, 'bytes that do not decode are no failure when the check replaces them');

  const failure = new Error('store down while rebuilding');
  let failures = 0;
  const failing = unchecked('u/1/x86_64/failing.btf', copyInto(fx.vmlinux), () =>
    failures++ === 0 ? Promise.reject(failure) : Promise.resolve(null),
  );
  t.equal(
    await executor.trim(failing.kernel, [object('tools_like')]).catch((e: unknown) => e),
    failure,
    "the check's failure is the trim's",
  );
  const after = await executor.trim(failing.kernel, [object('tools_like')]);
  t.equal(after.kernelCached, false, 'nothing was kept from the failed load: read again');
  t.equal(failing.calls.unchecked, 2);

  // A store that cannot read into shared memory (S3 answers its own buffers): checked before it is sent.
  let checked = false;
  const plain = unchecked(
    'u/1/x86_64/plain.btf',
    () => new Uint8Array(other),
    async () => {
      checked = true;
      return new Uint8Array(fx.vmlinux);
    },
  );
  const fromPlain = await executor.trim(plain.kernel, [object('tools_like')]);
  t.ok(checked && !plain.calls.shared, 'not shared: checked before sending');
  t.same(Buffer.from(fromPlain.bytes), oracle, "and the check's bytes used");

  const bundleLike = unchecked('u/1/x86_64/not-kept.btf', copyInto(fx.vmlinux), async () => null);
  await executor.trim(bundleLike.kernel, [object('tools_like')], { cacheKernel: false });
  t.same(
    [bundleLike.calls.loadRaw, bundleLike.calls.unchecked],
    [1, 0],
    'a kernel not kept is read checked (its buffer comes back as a spare)',
  );
});

t.test('objects given by hash are read only when the thread was not sent them, or asks for them again', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const { sha, loads, stored } = storedObjects(fx);
  const oracle = Buffer.from(fx.oracle.single.get('tools_like')!);

  // The upload's check sends the bytes: the trim after it names the object only, and reads nothing.
  await pool.checkObjects([{ ...object('tools_like'), sha256: sha('tools_like') }]);
  const afterCheck = await pool.trim(kernel(), [stored('tools_like')]);
  t.ok(Buffer.from(afterCheck.bytes).equals(oracle), 'the bytes bpftool writes');
  t.same(loads, [], 'not read: the thread holds its parse');

  const fresh = await pool.trim(kernel(), [stored('field_offset')]);
  t.ok(Buffer.from(fresh.bytes).equals(Buffer.from(fx.oracle.single.get('field_offset')!)), 'read when the thread was never sent it');
  t.same(loads, ['field_offset']);
  await pool.trim(kernel(), [stored('field_offset')]);
  t.same(loads, ['field_offset'], 'once');

  // Other parses push tools_like's out: the thread asks, and the object is read for it.
  for (const name of parsesToPushOut(['tools_like', 'field_offset', 'arrays']))
    await pool.checkObjects([{ ...object(name), sha256: sha(name) }]);
  const asked = await pool.trim(kernel(), [stored('tools_like')]);
  t.ok(Buffer.from(asked.bytes).equals(oracle), 'the same answer');
  t.same(loads, ['field_offset', 'tools_like'], 'read on the thread’s request');

  const failure = new Error('object gone from the store');
  t.equal(
    await pool.trim(kernel(), [stored('arrays', () => Promise.reject(failure))]).catch((e: unknown) => e),
    failure,
    "a read's failure is the trim's, unchanged",
  );
  for (const name of parsesToPushOut(['tools_like', 'field_offset', 'arrays']))
    await pool.checkObjects([{ ...object(name), sha256: sha(name) }]);
  let failed = false;
  const onRequest = stored('tools_like', () => ((failed = true), Promise.reject(failure)));
  t.equal(await pool.trim(kernel(), [onRequest]).catch((e: unknown) => e), failure, 'also when the thread asked for the bytes');
  t.ok(failed);
  const after = await pool.trim(kernel(), [stored('tools_like')]);
  t.ok(Buffer.from(after.bytes).equals(oracle), 'the thread stays usable');
});

t.test('past the objects a thread is remembered to hold, the oldest are forgotten, not the latest', async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 1, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const base = fx.objects.get('enum64')!.bytes;
  // Distinct objects (a trailer the parse ignores), one more than the pool remembers per thread.
  const variants = Array.from({ length: REMEMBERED_OBJECTS + 1 }, (_, i) => {
    const bytes = new Uint8Array(base.length + 4);
    bytes.set(base);
    new DataView(bytes.buffer).setUint32(base.length, i);
    return { name: `variant${i}.bpf.o`, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  });
  for (const variant of variants) await pool.checkObjects([variant]);
  const loads: string[] = [];
  const byHash = (variant: (typeof variants)[number]) => ({
    name: variant.name,
    sha256: variant.sha256,
    load: async () => (loads.push(variant.name), variant.bytes),
  });
  const oracle = Buffer.from(fx.oracle.single.get('enum64')!);
  // The one checked just before the last: remembered, and its parse kept on the thread.
  const latest = await pool.trim(kernel(), [byHash(variants.at(-2)!)]);
  t.ok(Buffer.from(latest.bytes).equals(oracle), 'the bytes bpftool writes');
  t.same(loads, [], 'named only: not read again');
  // The first one: forgotten (and its parse long dropped), so read and sent again.
  const oldest = await pool.trim(kernel(), [byHash(variants[0]!)]);
  t.ok(Buffer.from(oldest.bytes).equals(oracle), 'the same answer');
  t.same(loads, ['variant0.bpf.o'], 'read once more');
});

t.test("checks named for a kernel run on that kernel's thread: its trim uses their parse, nothing is sent twice", async (t) => {
  const pool = new WorkerCodecExecutor({ threads: 2, heapMb: 256, taskTimeoutMs: 60_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => pool.close());
  const base = fx.objects.get('enum64')!.bytes;
  const oracle = Buffer.from(fx.oracle.single.get('enum64')!);
  // Kernels of several identities (their threads differ), one new object each.
  const run = async (hinted: boolean) => {
    const loads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const bytes = new Uint8Array(base.length + 4);
      bytes.set(base);
      new DataView(bytes.buffer).setUint32(base.length, hinted ? i : 100 + i);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const name = `k${i}-${hinted}.bpf.o`;
      const target = kernel({ n: 0 }, `ubuntu/22.04/x86_64/k${i}.btf`);
      await pool.checkObjects([{ name, bytes, sha256 }], hinted ? target.cacheKey : undefined);
      const trimmed = await pool.trim(target, [{ name, sha256, load: async () => (loads.push(name), bytes) }]);
      t.ok(Buffer.from(trimmed.bytes).equals(oracle), `${name}: the bytes bpftool writes`);
    }
    return loads;
  };
  const sentBefore = pool.objectBytesSent;
  t.same(await run(true), [], "named for the kernel: every trim used the check's parse");
  t.equal(pool.objectBytesSent - sentBefore, 6 * (base.length + 4), 'each object sent once');
  t.not((await run(false)).length, 0, 'without the name, some checks ran on another thread and their trims read the object again');
});
