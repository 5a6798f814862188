/**
 * Uploads joined into shared memory weigh on V8's collector as ordinary buffers do
 * (src/api/shared-join-pressure.ts): their size counts as external memory while they live,
 * and stops counting once they are collected; those under 128 KiB carry no weight.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { isWeighed, WEIGHED_MIN_BYTES, weighShared } from '../../src/api/shared-join-pressure.js';
import { joinChunks, SHARED_JOIN_MIN_BYTES } from '../../src/api/uploads.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const arrayBuffers = () => process.memoryUsage().arrayBuffers;

/** A full collection, then the ArrayBuffer count once V8's sweeper (which may run on another thread) has stopped moving it. */
async function collected(): Promise<number> {
  gc();
  let count = arrayBuffers();
  for (let i = 0; i < 100; i++) {
    await sleep(10);
    const now = arrayBuffers();
    if (now === count) break;
    count = now;
  }
  return count;
}

t.test('a shared buffer weighs its size while it lives, and nothing once collected', async (t) => {
  const size = 8 * 1024 * 1024;
  const start = await collected();
  // In a scope of its own, so that nothing holds the buffer once it returns.
  (() => {
    const shared = new SharedArrayBuffer(size);
    const unweighed = arrayBuffers();
    weighShared(shared);
    t.ok(arrayBuffers() - unweighed >= size, `weighed: ${arrayBuffers() - unweighed} more bytes of ArrayBuffers`);
    gc();
    t.ok(isWeighed(shared), 'still weighed after a collection, while the shared buffer lives');
  })();
  const left = (await collected()) - start;
  t.ok(left < size, `gone with it: ${left} bytes left of ${2 * size}`);
});

t.test('a shared buffer under 128 KiB carries no weight (malloc would zero it out of its heap)', async (t) => {
  const small = new SharedArrayBuffer(WEIGHED_MIN_BYTES - 1);
  weighShared(small);
  t.notOk(isWeighed(small), 'under the line: none');
  const atTheLine = new SharedArrayBuffer(WEIGHED_MIN_BYTES);
  weighShared(atTheLine);
  t.ok(isWeighed(atTheLine), 'from 128 KiB on, weighed');
});

t.test('a joined upload is weighed; a small one, not shared, is not', async (t) => {
  const big = new Uint8Array(4 * 1024 * 1024).fill(1);
  const joined = joinChunks([big.subarray(0, 2 * 1024 * 1024), big.subarray(2 * 1024 * 1024)], big.length);
  t.ok(joined.buffer instanceof SharedArrayBuffer && isWeighed(joined.buffer), 'shared and weighed');
  const small = joinChunks([new Uint8Array(SHARED_JOIN_MIN_BYTES - 1).fill(2)], SHARED_JOIN_MIN_BYTES - 1);
  t.notOk(small.buffer instanceof SharedArrayBuffer, 'a small file is an ordinary copy, nothing to weigh');
});
