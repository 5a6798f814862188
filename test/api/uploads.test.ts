/**
 * Joining an upload's chunks (uploads.ts): the same bytes whatever the chunking; big files in
 * shared memory (a codec thread gets a view of them, not a copy), small ones as before.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { joinChunks, SHARED_JOIN_MIN_BYTES } from '../../src/api/uploads.js';

function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

t.test('the same bytes, in shared memory from the threshold on', async (t) => {
  for (const length of [0, 1, 3, SHARED_JOIN_MIN_BYTES - 1, SHARED_JOIN_MIN_BYTES, SHARED_JOIN_MIN_BYTES + 1, 1_700_000]) {
    const bytes = randomBytes(length);
    for (const chunkSize of [1 << 16, 1000, Math.max(1, length)]) {
      if (length > 100_000 && chunkSize === 1000) continue; // thousands of chunks prove nothing more
      const joined = joinChunks(chunked(bytes, chunkSize), length);
      const what = `${length} bytes in chunks of ${chunkSize}`;
      t.equal(joined.length, length, what);
      t.ok(Buffer.from(joined.buffer, joined.byteOffset, joined.byteLength).equals(bytes), `${what}: same bytes`);
      t.equal(joined.buffer instanceof SharedArrayBuffer, length >= SHARED_JOIN_MIN_BYTES, `${what}: shared iff at least the threshold`);
    }
  }
});

t.test("a small single chunk is used in place; a big one is copied out of the parser's buffer", async (t) => {
  const small = randomBytes(100);
  const joined = joinChunks([small], small.length);
  t.equal(joined.buffer, small.buffer, 'no copy');
  t.equal(joined.byteOffset, small.byteOffset);
  const big = randomBytes(SHARED_JOIN_MIN_BYTES);
  const shared = joinChunks([big], big.length);
  big.fill(0);
  t.notOk(Buffer.from(shared).equals(big), 'a copy of its own');
});
