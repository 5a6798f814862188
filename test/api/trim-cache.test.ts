/**
 * The API's memory of trimmed results (an LRU bounded by bytes) and the background writer of
 * cache-hit counts (coalesced, bounded, failures dropped and reported once per flush).
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import type { KernelRef, TrimHits } from '../../src/catalog/catalog.js';
import { ENTRY_OVERHEAD_BYTES, TrimResultCache } from '../../src/api/trim-cache.js';
import { TrimHitRecorder } from '../../src/api/trim-hits.js';

const K: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const other: KernelRef = { ...K, kernel: '5.15.0-92-generic' };
const hash = (n: number) => n.toString(16).padStart(64, '0');
/** The kernel file's sha256: part of every key. */
const KS = 'f'.repeat(64);

t.test('TrimResultCache: keyed by objects hash and kernel, least recently used out first, bounded by bytes', async (t) => {
  const cache = new TrimResultCache(3 * (1000 + ENTRY_OVERHEAD_BYTES));
  cache.set(hash(1), K, KS, new Uint8Array(1000).fill(1), 'a');
  cache.set(hash(2), K, KS, new Uint8Array(1000).fill(2), 'b');
  cache.set(hash(3), K, KS, new Uint8Array(1000).fill(3), 'c');
  t.equal(cache.get(hash(1), other, KS), undefined, 'another kernel is another key');
  t.equal(cache.get(hash(1), K, KS)?.sha256, 'a', 'hash 1 used: now the most recent');
  cache.set(hash(4), K, KS, new Uint8Array(1000).fill(4), 'd');
  t.equal(cache.get(hash(2), K, KS), undefined, 'the least recently used went out');
  t.same(
    [1, 3, 4].map((n) => cache.get(hash(n), K, KS)?.btf[0]),
    [1, 3, 4],
  );
  t.ok(cache.stats().bytes <= cache.maxBytes);
  cache.set(hash(9), K, KS, new Uint8Array(5000), 'big');
  t.equal(cache.get(hash(9), K, KS), undefined, 'an entry over the whole budget is not kept');
  const source = new Uint8Array(10).fill(7);
  cache.set(hash(5), K, KS, source, 'e');
  source.fill(0);
  t.equal(cache.get(hash(5), K, KS)?.btf[0], 7, 'the cache keeps its own copy');
  t.equal(new TrimResultCache(0).get(hash(1), K, KS), undefined);
  t.throws(() => new TrimResultCache(-1));
});

t.test('TrimResultCache: what an entry really costs is within the overhead the budget counts', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const result = new Uint8Array(3000);
  // Hashes and sha256s made as the service makes them: fresh hex strings for every request.
  const hashes = Array.from({ length: 100_000 }, () => randomBytes(32).toString('hex'));
  const sha256s = hashes.map(() => 'a'.repeat(64).slice(0, 63) + 'b');
  const held: { cache?: TrimResultCache } = { cache: new TrimResultCache(Number.MAX_SAFE_INTEGER) };
  for (let n = 0; n < hashes.length; n++) held.cache!.set(hashes[n]!, K, KS, result, sha256s[n]!);
  // The cost is what letting the cache go frees (measured this way round, code the loader no
  // longer runs being dropped by the same collections cannot make it look smaller).
  for (let i = 0; i < 3; i++) gc();
  const withCache = process.memoryUsage().heapUsed;
  t.equal(held.cache!.stats().entries, hashes.length);
  delete held.cache;
  for (let i = 0; i < 3; i++) gc();
  const perEntry = (withCache - process.memoryUsage().heapUsed) / hashes.length;
  t.ok(perEntry > 100, `an entry costs something (${perEntry.toFixed(0)} bytes of heap)`);
  t.ok(perEntry <= ENTRY_OVERHEAD_BYTES, `${perEntry.toFixed(0)} bytes of heap per entry, counted as ${ENTRY_OVERHEAD_BYTES}`);
});

t.test('TrimResultCache: equal results are held once, counted once, freed with their last entry', async (t) => {
  const overhead = ENTRY_OVERHEAD_BYTES;
  const result = new Uint8Array(4000).fill(9);
  const cache = new TrimResultCache(4000 + 100 * overhead);
  for (let n = 0; n < 100; n++) cache.set(hash(n), K, KS, result, 'same');
  t.same(
    { entries: cache.stats().entries, results: cache.stats().results, bytes: cache.stats().bytes },
    { entries: 100, results: 1, bytes: 4000 + 100 * overhead },
    'a hundred objects hashes with one result: its bytes once, an overhead per entry',
  );
  t.equal(cache.get(hash(0), K, KS)?.btf, cache.get(hash(99), K, KS)?.btf, 'the entries share one buffer');
  cache.set(hash(100), K, KS, new Uint8Array(10).fill(1), 'other');
  t.same(
    [1, 2].map((n) => cache.get(hash(n), K, KS)),
    [undefined, undefined],
    'the two least recently used entries went out to make room (266 bytes: two overheads)',
  );
  t.equal(cache.get(hash(3), K, KS)?.btf[0], 9, 'the shared result stays while entries point at it');
  cache.set(hash(3), K, KS, new Uint8Array(10).fill(2), 'changed');
  t.equal(cache.get(hash(3), K, KS)?.sha256, 'changed', 'an entry set again points at its new result');
  t.equal(cache.stats().results, 3);

  const small = new TrimResultCache(3 * (100 + overhead));
  small.set(hash(1), K, KS, new Uint8Array(100), 'x');
  small.set(hash(2), K, KS, new Uint8Array(100), 'x');
  small.set(hash(3), K, KS, new Uint8Array(100), 'y');
  small.set(hash(4), K, KS, new Uint8Array(100), 'z');
  small.set(hash(5), K, KS, new Uint8Array(100), 'w');
  t.same(
    [1, 2, 3, 4, 5].map((n) => small.get(hash(n), K, KS)?.sha256),
    [undefined, undefined, 'y', 'z', 'w'],
    'once both entries of x are out, x is gone',
  );
  t.same(
    { results: small.stats().results, bytes: small.stats().bytes },
    { results: 3, bytes: 3 * (100 + overhead) },
    'x freed with its last entry',
  );
});

t.test('TrimResultCache: keyed by the kernel content too; remembers the last kernel sha256 the catalog gave', async (t) => {
  const cache = new TrimResultCache(10_000);
  cache.set(hash(1), K, KS, new Uint8Array([1]), 'old');
  t.equal(cache.get(hash(1), K, 'e'.repeat(64)), undefined, "a replaced kernel (new sha256) misses the old content's trim");
  t.equal(cache.get(hash(1), K, KS)?.sha256, 'old');
  t.equal(cache.lastKernelSha256(K), undefined);
  cache.noteKernel(K, KS);
  cache.noteKernel(K, 'e'.repeat(64));
  t.equal(cache.lastKernelSha256(K), 'e'.repeat(64), 'the latest noted wins');
  t.equal(cache.lastKernelSha256(other), undefined);
});

t.test('TrimHitRecorder: hits coalesced and written in the background; bounded; failures dropped, reported once', async (t) => {
  const written: string[] = [];
  let writes = 0;
  let failing = false;
  const catalog = {
    recordTrimHits: async (hits: readonly TrimHits[]) => {
      if (failing) throw new Error('catalog down');
      writes++;
      for (const { objectsHash, kernel, count } of hits) written.push(`${objectsHash.slice(-1)} ${kernel.kernel} x${count}`);
    },
  };
  const reports: [string, number][] = [];
  const recorder = new TrimHitRecorder(catalog, {
    flushIntervalMs: 20,
    maxPending: 2,
    onError: (err, dropped) => reports.push([String(err), dropped]),
  });
  recorder.record(hash(1), K, KS);
  recorder.record(hash(1), K, KS);
  recorder.record(hash(2), K, KS);
  recorder.record(hash(3), K, KS); // a third distinct pair: over maxPending, dropped
  t.same(written, [], 'nothing written on the request path');
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.same(written, ['1 5.15.0-91-generic x2', '2 5.15.0-91-generic x1'], 'written by the timer, every hit counted');
  t.equal(writes, 1, 'the whole batch in one write, a count per trim (not a write per hit)');
  t.equal(recorder.dropped, 1, 'the hit past the bound is counted as dropped');

  failing = true;
  recorder.record(hash(1), K, KS);
  recorder.record(hash(2), K, KS);
  await recorder.flush();
  t.equal(reports.length, 1, 'one report per flush');
  t.match(reports[0], ['Error: catalog down', 2]);
  failing = false;
  recorder.record(hash(4), K, KS);
  await recorder.close();
  t.same(written.at(-1), '4 5.15.0-91-generic x1', 'close writes what is pending');
});
