/**
 * The chunks Node's HTTP parser makes for an upload are freed once the request is answered
 * (UploadBudget.watch / releaseChunks, src/api/release-buffer.ts), over a real socket: the
 * answers stay bpftool's bytes, the stored objects stay the uploaded bytes, a request sent
 * again is answered as before, and an injected request's buffers (its caller's) are never
 * touched.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { objectKey } from '../../src/storage/keys.js';
import { btfForm, fixtureObject, oracle, setupApi, why, XZ_FIELDS } from './helpers.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

t.test("an upload's chunks are freed once it is answered; answers and stored objects keep their bytes", async (t) => {
  const { app, fixtures, store } = await setupApi(t, { withArchiveKernel: true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const uploads = app.services.uploads;

  /** POSTs `form` over the socket; resolves once the server has run its onResponse hooks (the released count moved). */
  async function post(form: ReturnType<typeof btfForm>) {
    const before = uploads.chunkBytesReleased();
    const res = await fetch(`${base}/api/v1/btf`, { method: 'POST', headers: form.headers, body: form.payload });
    const bytes = Buffer.from(await res.arrayBuffer());
    // onResponse runs when the server has written the answer, which may be just after the client read it.
    for (let i = 0; i < 100 && uploads.chunkBytesReleased() === before; i++) await sleep(10);
    return { status: res.status, cache: res.headers.get('x-btfhub-cache'), bytes, released: uploads.chunkBytesReleased() - before };
  }

  const big = fixtureObject(fixtures, 'tools_like');
  const bigForm = btfForm([big]);
  const first = await post(bigForm);
  t.equal(first.status, 200);
  t.same(first.bytes, Buffer.from(oracle(fixtures, 'tools_like')), 'bytes equal bpftool gen min_core_btf');
  t.ok(
    first.released >= big.bytes.length - 2 * 65_536 && first.released <= bigForm.payload.length,
    `the chunks holding the ${big.bytes.length}-byte object were freed (${first.released} bytes)`,
  );
  const again = await post(bigForm);
  t.equal(again.cache, 'hit', 'sent again: answered from the cache');
  t.same(again.bytes, first.bytes, 'the same bytes');
  t.ok(again.released >= big.bytes.length - 2 * 65_536, 'and its chunks freed too');

  const small = fixtureObject(fixtures, 'enum64');
  const smallAnswer = await post(btfForm([small]));
  t.equal(smallAnswer.status, 200);
  t.same(
    smallAnswer.bytes,
    Buffer.from(oracle(fixtures, 'enum64')),
    'a small object (once used in place of its chunk) trims as bpftool does',
  );
  t.ok(smallAnswer.released >= small.bytes.length, `its chunk was freed (${smallAnswer.released} bytes)`);

  const pair = await post(btfForm([fixtureObject(fixtures, 'shared_a'), fixtureObject(fixtures, 'shared_b')]));
  t.equal(pair.status, 200);
  t.same(pair.bytes, Buffer.from(fixtures.oracle.sharedPair), 'two files in one body (sharing chunks) trim as bpftool does');

  for (const object of [big, small]) {
    const stored = await store.get(objectKey(sha256(object.bytes)));
    t.ok(stored !== null && Buffer.from(stored).equals(Buffer.from(object.bytes)), `the stored ${object.name} is the uploaded bytes`);
  }
  // Another kernel needs the objects' bytes again, read back from the store and the codec thread's parse.
  const other = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([small], XZ_FIELDS) });
  t.equal(other.statusCode, 200, why(other));

  const injectedForm = btfForm([big]);
  const kept = Buffer.from(injectedForm.payload);
  const before = uploads.chunkBytesReleased();
  const injected = await app.inject({ method: 'POST', url: '/api/v1/btf', ...injectedForm });
  t.equal(injected.statusCode, 200, why(injected));
  t.same(injected.rawPayload, first.bytes);
  t.equal(uploads.chunkBytesReleased(), before, 'an injected request frees nothing');
  t.ok(injectedForm.payload.equals(kept), "the caller's payload is intact");
});
