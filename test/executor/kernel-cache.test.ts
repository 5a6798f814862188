import { readFile } from 'node:fs/promises';
import t from 'tap';
import { Btf } from '../../src/btf/index.js';
import { KernelCache, type KernelCacheKey, retainedBytes } from '../../src/executor/kernel-cache.js';
import { loadFixtures } from '../helpers/fixtures.js';

/** A stand-in for a decoded kernel: the cache only looks at memoryBytes and the buffer of its bytes (none here). */
function fakeBtf(memoryBytes: number, label = ''): Btf {
  return { memoryBytes, bytes: new Uint8Array(0), label } as unknown as Btf;
}

const key = (name: string, sha256 = 'a'.repeat(64)): KernelCacheKey => ({ storageKey: `ubuntu/22.04/x86_64/${name}.btf`, sha256 });

t.test('evicts least recently used entries to stay within the byte budget', async (t) => {
  const cache = new KernelCache({ maxBytes: 100 });
  await cache.get(key('a'), async () => fakeBtf(40));
  await cache.get(key('b'), async () => fakeBtf(40));
  t.match(cache.stats(), { bytes: 80, entries: 2, evictions: 0, misses: 2 });

  await cache.get(key('a'), async () => t.fail('a is cached') as never); // a is now the most recent
  await cache.get(key('c'), async () => fakeBtf(40));
  t.ok(cache.has(key('a')), 'a, recently used, stays');
  t.notOk(cache.has(key('b')), 'b, least recently used, is evicted');
  t.ok(cache.has(key('c')));
  t.match(cache.stats(), { bytes: 80, entries: 2, evictions: 1, hits: 1, misses: 3 });

  await cache.get(key('d'), async () => fakeBtf(100));
  t.match(cache.stats(), { bytes: 100, entries: 1, evictions: 3 }, 'one entry of the whole budget evicts the rest');

  await cache.get(key('e'), async () => fakeBtf(101));
  t.notOk(cache.has(key('e')), 'larger than the budget: returned, not cached');
  t.match(cache.stats(), { bytes: 100, entries: 1, uncacheable: 1 });

  cache.clear();
  t.match(cache.stats(), { bytes: 0, entries: 0 });
});

t.test('the sha256 is part of the key', async (t) => {
  const cache = new KernelCache({ maxBytes: 1000 });
  const old = await cache.get(key('a', '1'.repeat(64)), async () => fakeBtf(10, 'old'));
  const changed = await cache.get(key('a', '2'.repeat(64)), async () => fakeBtf(10, 'new'));
  t.not(old, changed);
  t.match(cache.stats(), { misses: 2, entries: 2 });
});

t.test('concurrent requests for one kernel share one load', async (t) => {
  const cache = new KernelCache({ maxBytes: 1000 });
  let loads = 0;
  let release!: (btf: Btf) => void;
  const load = () => {
    loads++;
    return new Promise<Btf>((resolve) => (release = resolve));
  };
  const waiting = Array.from({ length: 10 }, () => cache.get(key('a'), load));
  t.equal(cache.stats().loading, 1);
  const btf = fakeBtf(10);
  release(btf);
  const results = await Promise.all(waiting);
  t.equal(loads, 1, 'loaded once');
  t.ok(
    results.every((r) => r === btf),
    'everyone gets the same decode',
  );
  t.match(cache.stats(), { misses: 1, sharedLoads: 9, hits: 0, entries: 1, loading: 0 });
});

t.test('a failed load is passed to every waiter and not cached', async (t) => {
  const cache = new KernelCache({ maxBytes: 1000 });
  let loads = 0;
  const failing = async () => {
    loads++;
    await new Promise((resolve) => setTimeout(resolve, 10));
    throw new Error('store down');
  };
  const results = await Promise.allSettled([cache.get(key('a'), failing), cache.get(key('a'), failing)]);
  t.ok(results.every((r) => r.status === 'rejected' && /store down/.test(String(r.reason))));
  t.equal(loads, 1);
  t.match(cache.stats(), { loadFailures: 1, entries: 0, loading: 0 });

  const btf = await cache.get(key('a'), async () => fakeBtf(5));
  t.equal(btf.memoryBytes, 5, 'the next request loads again');
});

t.test('a budget of 0 caches nothing but still shares loads', async (t) => {
  const cache = new KernelCache({ maxBytes: 0 });
  let loads = 0;
  const load = async () => {
    loads++;
    return fakeBtf(1);
  };
  await Promise.all([cache.get(key('a'), load), cache.get(key('a'), load)]);
  t.equal(loads, 1);
  await cache.get(key('a'), load);
  t.equal(loads, 2);
  t.equal(cache.stats().entries, 0);
  t.throws(() => new KernelCache({ maxBytes: -1 }), RangeError);
});

const vmlinux = await readFile('/sys/kernel/btf/vmlinux').catch(() => null);

t.test('budgets in real kernel sizes', { skip: vmlinux === null ? 'no /sys/kernel/btf/vmlinux here' : false }, async (t) => {
  const bytes = vmlinux!;
  const btf = Btf.parse(bytes);
  t.ok(btf.memoryBytes >= bytes.length, `a decoded kernel costs ${btf.memoryBytes} bytes for ${bytes.length} of BTF`);
  const cache = new KernelCache({ maxBytes: btf.memoryBytes * 2 });
  for (const name of ['a', 'b', 'c']) await cache.get(key(name), async () => Btf.parse(bytes));
  t.match(cache.stats(), { entries: 2, evictions: 1, bytes: btf.memoryBytes * 2 });
});

t.test('a decode whose bytes are a view of a larger buffer counts the whole buffer: it keeps it alive', async (t) => {
  const raw = vmlinux ?? (await loadFixtures()).vmlinux;
  const larger = new Uint8Array(new SharedArrayBuffer(raw.length + 1024 * 1024));
  larger.set(raw);
  const view = Btf.parse(larger.subarray(0, raw.length));
  const exact = Btf.parse(new Uint8Array(raw));
  t.equal(retainedBytes(exact), exact.memoryBytes, 'bytes owning their buffer: memoryBytes');
  t.equal(retainedBytes(view), view.memoryBytes + 1024 * 1024, 'a view: the rest of its buffer too');
  const cache = new KernelCache({ maxBytes: 1 << 30 });
  await cache.get(key('view'), async () => view);
  t.equal(cache.stats().bytes, retainedBytes(view), 'what the cache counts');
});
