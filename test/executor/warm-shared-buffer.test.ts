/**
 * The warm shared buffer: the next kernel read that fits goes into memory already faulted in;
 * one buffer at most, sized from the last read (rounded up), none past the bound or once cleared.
 */
import t from 'tap';
import { WarmSharedBuffer } from '../../src/executor/warm-shared-buffer.js';

const KIB = 1024;

t.test('a read that fits takes the warm buffer, and the next one is made', async (t) => {
  const prefaulted: number[] = [];
  const warm = new WarmSharedBuffer({ roundTo: 64 * KIB, prefault: async (bytes) => void prefaulted.push(bytes.byteLength) });
  const first = warm.take(100 * KIB);
  t.ok(first.buffer instanceof SharedArrayBuffer, 'shared memory');
  t.equal(first.byteLength, 100 * KIB);
  t.equal(first.buffer.byteLength, 100 * KIB, 'none warm yet: fresh memory of the exact size');
  await warm.settled();
  t.same(prefaulted, [128 * KIB], 'a buffer of the size rounded up was faulted in');
  t.equal(warm.heldBytes, 128 * KIB);

  const second = warm.take(120 * KIB);
  t.equal(second.byteLength, 120 * KIB, 'a view of the size asked for');
  t.equal(second.byteOffset, 0);
  t.equal(second.buffer.byteLength, 128 * KIB, 'at the start of the warm buffer');
  t.equal(warm.heldBytes, 0, 'taken');
  await warm.settled();
  t.equal(warm.heldBytes, 128 * KIB, 'and made again');
  t.same(warm.counts, { warm: 1, fresh: 1, dropped: 0 });

  const larger = warm.take(300 * KIB);
  t.equal(larger.buffer.byteLength, 300 * KIB, 'too small: fresh memory');
  await warm.settled();
  t.equal(warm.heldBytes, 320 * KIB, 'the warm buffer grows to the larger read');
  t.equal(warm.take(10 * KIB).buffer.byteLength, 320 * KIB, 'a small read fits a large buffer');
  await warm.settled();
  t.equal(warm.heldBytes, 64 * KIB, 'the next is sized from the last read');
});

t.test('no warm buffer past the bound, after a failed prefault, or once cleared', async (t) => {
  let calls = 0;
  const bounded = new WarmSharedBuffer({ roundTo: KIB, maxBytes: 8 * KIB, prefault: async () => void calls++ });
  bounded.take(9 * KIB);
  await bounded.settled();
  t.equal(calls, 0, 'a read past maxBytes leaves nothing warm');
  t.equal(bounded.heldBytes, 0);

  const failing = new WarmSharedBuffer({ roundTo: KIB, prefault: () => Promise.reject(new Error('no /dev/zero')) });
  failing.take(4 * KIB);
  await failing.settled();
  t.equal(failing.heldBytes, 0, 'a failed prefault keeps nothing');
  t.equal(failing.take(4 * KIB).buffer.byteLength, 4 * KIB, 'reads still get memory');

  let release!: () => void;
  const slow = new WarmSharedBuffer({ roundTo: KIB, prefault: () => new Promise<void>((r) => (release = r)) });
  slow.take(4 * KIB);
  slow.clear();
  release();
  await slow.settled();
  t.equal(slow.heldBytes, 0, 'a buffer faulted in after clear is not kept');
  slow.take(4 * KIB);
  await slow.settled();
  t.equal(slow.heldBytes, 0, 'nor made again');
});

t.test('a warm buffer no read takes for idleMs is dropped; the next read makes another', async (t) => {
  // Warm buffers are 8 KiB (rounded up), fresh reads of 4 KiB exactly: the size says which a read got.
  const warm = new WarmSharedBuffer({ roundTo: 8 * KIB, idleMs: 300, prefault: async () => undefined });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  warm.take(4 * KIB);
  await warm.settled();
  t.equal(warm.heldBytes, 8 * KIB);
  await sleep(100);
  t.equal(warm.take(4 * KIB).buffer.byteLength, 8 * KIB, 'taken within idleMs: the warm buffer');
  await warm.settled();
  await sleep(150);
  t.equal(warm.heldBytes, 8 * KIB, 'the new one has its own idleMs from when it was made');
  await sleep(400);
  t.equal(warm.heldBytes, 0, 'unused for idleMs: dropped');
  t.same(warm.counts, { warm: 1, fresh: 1, dropped: 1 });
  t.equal(warm.take(4 * KIB).buffer.byteLength, 4 * KIB, 'the next read gets fresh memory of its size');
  await warm.settled();
  t.equal(warm.heldBytes, 8 * KIB, 'and a warm buffer follows it');
  warm.clear();
});

t.test('the default prefault writes zeros over the whole buffer through /dev/zero', async (t) => {
  const warm = new WarmSharedBuffer({ roundTo: 256 * KIB });
  warm.take(200 * KIB);
  await warm.settled();
  t.equal(warm.heldBytes, 256 * KIB);
  const bytes = warm.take(256 * KIB);
  t.equal(bytes.buffer.byteLength, 256 * KIB, 'the faulted-in buffer');
  t.ok(
    bytes.every((b) => b === 0),
    'all zeros',
  );
  warm.clear();
});
