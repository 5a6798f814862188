/**
 * Joining an upload's chunks (uploads.ts): the same bytes whatever the chunking; big files in
 * shared memory (a codec thread gets a view of them, not a copy), small ones in a copy of
 * their own. Freeing the parser's chunks once a request is answered (UploadBudget,
 * release-buffer.ts): only those, once.
 */
import { randomBytes } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { releaseBuffer } from '../../src/api/release-buffer.js';
import { joinChunks, SHARED_JOIN_MIN_BYTES, UploadBudget } from '../../src/api/uploads.js';

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

t.test("a file is always a copy of its own, out of the parser's chunks (they are freed once the request is answered)", async (t) => {
  const small = randomBytes(100);
  const kept = Buffer.from(small);
  const joined = joinChunks([small], small.length);
  t.not(joined.buffer, small.buffer, 'a single small chunk is copied too');
  small.fill(0);
  t.ok(Buffer.from(joined).equals(kept), 'the copy keeps the bytes when the chunk is wiped');
  const big = randomBytes(SHARED_JOIN_MIN_BYTES);
  const shared = joinChunks([big], big.length);
  big.fill(0);
  t.notOk(Buffer.from(shared).equals(big), 'a copy of its own');
});

t.test('chunks that no longer hold the file (freed before they were joined) are an error, never other bytes', async (t) => {
  // Each chunk in a buffer of its own, as the parser makes them.
  const chunks = chunked(randomBytes(200_000), 1 << 16).map((chunk) => new Uint8Array(chunk));
  t.throws(() => joinChunks(chunks, 200_001), /hold 200000 of its 200001 bytes/);
  releaseBuffer(chunks[1]!.buffer);
  t.throws(() => joinChunks(chunks, 200_000), /hold 134464 of its 200000 bytes: read after they were freed/);
});

/** A request as UploadBudget sees it: only `raw` matters. */
function fakeRequest(raw: unknown): FastifyRequest {
  return { raw } as FastifyRequest;
}

/** A request Node's HTTP server would have parsed, with this Content-Type. */
function parsedRequest(contentType: string): FastifyRequest {
  const raw = new IncomingMessage(new Socket());
  raw.headers['content-type'] = contentType;
  return fakeRequest(raw);
}

t.test("UploadBudget frees the file chunks Node's parser made for a request, once answered, and nothing else", async (t) => {
  const budget = new UploadBudget(0);
  const request = parsedRequest('multipart/form-data; boundary=x');
  budget.watch(request);
  const parserChunk = new Uint8Array(new ArrayBuffer(65_536)).fill(1);
  const fieldsOnly = new Uint8Array(new ArrayBuffer(20_000)).fill(5);
  const tooBig = new Uint8Array(new ArrayBuffer(65_537)).fill(2);
  const slice = new Uint8Array(new ArrayBuffer(30_000)).subarray(100);
  for (const chunk of [parserChunk, fieldsOnly, tooBig, slice]) request.raw.push(chunk);
  // Two file views into one chunk (the end of one part, the start of the next): freed once.
  budget.holdChunk(request, parserChunk.subarray(10, 30_000));
  budget.holdChunk(request, parserChunk.subarray(30_100));
  // A view of a copy busboy made (from Node's Buffer pool), never pushed by the parser.
  const pooled = Buffer.from("a small chunk, sliced from Node's Buffer pool");
  budget.holdChunk(request, pooled);
  budget.holdChunk(request, tooBig);
  budget.holdChunk(request, slice);
  budget.holdChunk(request, new Uint8Array(new SharedArrayBuffer(100_000)));

  t.equal(budget.releaseChunks(request), 65_536, 'the file chunk the parser made is freed, once');
  t.equal(parserChunk.length, 0, 'every view of it reads nothing now');
  t.equal(budget.chunkBytesReleased(), 65_536);
  t.equal(fieldsOnly.length, 20_000, 'a chunk no file was read from is left to the collector');
  t.equal(pooled.toString(), "a small chunk, sliced from Node's Buffer pool", 'a Buffer the parser did not make is never freed');
  t.equal(tooBig.length, 65_537, 'a buffer bigger than one read of the socket is not a chunk of the parser');
  t.equal(slice.length, 29_900, 'nor a slice of a bigger buffer');
  t.equal(budget.releaseChunks(request), 0, 'a second release finds nothing');
});

t.test("UploadBudget watches only multipart requests parsed by Node's HTTP server", async (t) => {
  const budget = new UploadBudget(0);
  const json = parsedRequest('application/json');
  budget.watch(json);
  const jsonChunk = new Uint8Array(new ArrayBuffer(65_536));
  json.raw.push(jsonChunk);
  budget.holdChunk(json, jsonChunk);
  t.equal(budget.releaseChunks(json), 0, 'not a multipart body');
  t.equal(jsonChunk.length, 65_536);

  const injected = fakeRequest(new PassThrough());
  budget.watch(injected);
  const injectedChunk = new Uint8Array(new ArrayBuffer(65_536));
  (injected.raw as unknown as PassThrough).push(injectedChunk);
  budget.holdChunk(injected, injectedChunk);
  t.equal(budget.releaseChunks(injected), 0, "a request injected in process carries its caller's buffers");
  t.equal(injectedChunk.length, 65_536, 'intact');

  const unwatched = parsedRequest('multipart/form-data; boundary=x');
  const unwatchedChunk = new Uint8Array(new ArrayBuffer(65_536));
  unwatched.raw.push(unwatchedChunk);
  budget.holdChunk(unwatched, unwatchedChunk);
  t.equal(budget.releaseChunks(unwatched), 0, "chunks pushed before watch are not known to be the parser's");
});

t.test('releaseBuffer detaches what it may and says so', async (t) => {
  const own = new ArrayBuffer(100_000);
  t.equal(releaseBuffer(own), true);
  t.equal(own.byteLength, 0, 'detached');
  t.equal(releaseBuffer(own), false, 'already detached');
  t.equal(releaseBuffer(new SharedArrayBuffer(100_000)), false, 'never shared memory');
  t.equal(releaseBuffer(new ArrayBuffer(0)), false, 'nothing to free');
});
