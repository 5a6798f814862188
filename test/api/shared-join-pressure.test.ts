/**
 * Uploads joined into shared memory weigh on V8's collector as ordinary buffers do
 * (src/api/shared-join-pressure.ts): their size counts as external memory while they live,
 * and stops counting once they are collected.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { weighShared } from '../../src/api/shared-join-pressure.js';
import { joinChunks, SHARED_JOIN_MIN_BYTES } from '../../src/api/uploads.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const arrayBuffers = () => process.memoryUsage().arrayBuffers;

t.test('a shared buffer weighs its size while it lives, and nothing once collected', async (t) => {
  const size = 8 * 1024 * 1024;
  gc();
  const start = arrayBuffers();
  // In a scope of its own, so that nothing holds the buffer once it returns.
  (() => {
    const shared = new SharedArrayBuffer(size);
    const unweighed = arrayBuffers();
    weighShared(shared);
    t.ok(arrayBuffers() - unweighed >= size, `weighed: ${arrayBuffers() - unweighed} more bytes of ArrayBuffers`);
    gc();
    t.ok(arrayBuffers() - unweighed >= size, 'still weighed while the shared buffer lives');
    t.equal(shared.byteLength, size);
  })();
  gc();
  t.ok(arrayBuffers() - start < size, `gone with it: ${arrayBuffers() - start} bytes left of ${2 * size}`);
});

t.test('a joined upload is weighed; a small one, not shared, is not', async (t) => {
  const big = new Uint8Array(4 * 1024 * 1024).fill(1);
  gc();
  const before = arrayBuffers();
  const joined = joinChunks([big.subarray(0, 2 * 1024 * 1024), big.subarray(2 * 1024 * 1024)], big.length);
  t.ok(joined.buffer instanceof SharedArrayBuffer);
  t.ok(arrayBuffers() - before >= 2 * big.length, 'the shared copy and its weight');
  const small = new Uint8Array(SHARED_JOIN_MIN_BYTES - 1).fill(2);
  const beforeSmall = arrayBuffers();
  joinChunks([small], small.length);
  t.ok(arrayBuffers() - beforeSmall < 2 * small.length, 'a small file is one copy, unweighed');
});
