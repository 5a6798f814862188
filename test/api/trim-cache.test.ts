/**
 * The API's memory of trimmed results (an LRU bounded by bytes) and the background writer of
 * cache-hit counts (coalesced, bounded, failures dropped and reported once per flush).
 */
import t from 'tap';
import type { KernelRef } from '../../src/catalog/catalog.js';
import { TrimResultCache } from '../../src/api/trim-cache.js';
import { TrimHitRecorder } from '../../src/api/trim-hits.js';

const K: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const other: KernelRef = { ...K, kernel: '5.15.0-92-generic' };
const hash = (n: number) => n.toString(16).padStart(64, '0');

t.test('TrimResultCache: keyed by objects hash and kernel, least recently used out first, bounded by bytes', async (t) => {
  const cache = new TrimResultCache(3 * (1000 + 256));
  cache.set(hash(1), K, new Uint8Array(1000).fill(1), 'a');
  cache.set(hash(2), K, new Uint8Array(1000).fill(2), 'b');
  cache.set(hash(3), K, new Uint8Array(1000).fill(3), 'c');
  t.equal(cache.get(hash(1), other), undefined, 'another kernel is another key');
  t.equal(cache.get(hash(1), K)?.sha256, 'a', 'hash 1 used: now the most recent');
  cache.set(hash(4), K, new Uint8Array(1000).fill(4), 'd');
  t.equal(cache.get(hash(2), K), undefined, 'the least recently used went out');
  t.same([1, 3, 4].map((n) => cache.get(hash(n), K)?.btf[0]), [1, 3, 4]);
  t.ok(cache.stats().bytes <= cache.maxBytes);
  cache.set(hash(9), K, new Uint8Array(5000), 'big');
  t.equal(cache.get(hash(9), K), undefined, 'an entry over the whole budget is not kept');
  const source = new Uint8Array(10).fill(7);
  cache.set(hash(5), K, source, 'e');
  source.fill(0);
  t.equal(cache.get(hash(5), K)?.btf[0], 7, 'the cache keeps its own copy');
  t.equal(new TrimResultCache(0).get(hash(1), K), undefined);
  t.throws(() => new TrimResultCache(-1));
});

t.test('TrimHitRecorder: hits coalesced and written in the background; bounded; failures dropped, reported once', async (t) => {
  const written: string[] = [];
  let failing = false;
  const catalog = {
    recordTrimHit: async (objectsHash: string, kernel: KernelRef) => {
      if (failing) throw new Error('catalog down');
      written.push(`${objectsHash.slice(-1)} ${kernel.kernel}`);
    },
  };
  const reports: [string, number][] = [];
  const recorder = new TrimHitRecorder(catalog, { flushIntervalMs: 20, maxPending: 2, onError: (err, dropped) => reports.push([String(err), dropped]) });
  recorder.record(hash(1), K);
  recorder.record(hash(1), K);
  recorder.record(hash(2), K);
  recorder.record(hash(3), K); // a third distinct pair: over maxPending, dropped
  t.same(written, [], 'nothing written on the request path');
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.same(written, ['1 5.15.0-91-generic', '1 5.15.0-91-generic', '2 5.15.0-91-generic'], 'written by the timer, every hit counted');
  t.equal(recorder.dropped, 1, 'the hit past the bound is counted as dropped');

  failing = true;
  recorder.record(hash(1), K);
  recorder.record(hash(2), K);
  await recorder.flush();
  t.equal(reports.length, 1, 'one report per flush');
  t.match(reports[0], ['Error: catalog down', 2]);
  failing = false;
  recorder.record(hash(4), K);
  await recorder.close();
  t.same(written.at(-1), '4 5.15.0-91-generic', 'close writes what is pending');
});
