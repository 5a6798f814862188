/**
 * A new trim on the embedded default (in-process queue): the job starts while the upload is
 * still being written, and the answer waits for both. The API's store is wrapped so that its
 * writes of uploads (`objects/`) wait for the test; the job keeps the real store.
 */
import t from 'tap';
import { objectsHash, sha256Hex } from '../../src/api/trim-service.js';
import { StorageError } from '../../src/storage/errors.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { objectKey } from '../../src/storage/keys.js';
import { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { btfForm, fixtureObject, oracle, RAW_FIELDS, RAW_KERNEL, registerKernel, setupApi, why } from './helpers.js';

/** `store` with its writes of uploads held until `release`, or failing when `fail` is set. */
function holdingUploads(store: ObjectStore, options: { fail?: boolean } = {}) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  const wrapped = Object.assign(Object.create(store) as ObjectStore, {
    put: async (key: string, data: Uint8Array) => {
      if (!key.startsWith('objects/')) return store.put(key, data);
      held++;
      await gate;
      if (options.fail === true) throw new StorageError('UNAVAILABLE', `disk full writing ${key}`);
      return store.put(key, data);
    },
  });
  return { wrapped, release, held: () => held };
}

const settled = <T>(promise: Promise<T>) => {
  const state = { done: false };
  void promise.finally(() => (state.done = true));
  return state;
};

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('the job trims while the upload is written; the answer comes once the upload is on disk', async (t) => {
  let uploads!: ReturnType<typeof holdingUploads>;
  const { app, fixtures, store, catalog } = await setupApi(t, {
    wrap: ({ store }) => ((uploads = holdingUploads(store)), { store: uploads.wrapped }),
  });
  t.equal(store === uploads.wrapped, false, 'the job writes through the real store');
  const object = fixtureObject(fixtures, 'tools_like');
  const sha256 = sha256Hex(object.bytes);
  const answer = app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  const state = settled(answer);

  // The trim row is written by the job, while the upload's write is still held.
  const hash = objectsHash([sha256]);
  const kernel = await catalog.getKernel(RAW_KERNEL);
  for (let i = 0; i < 200 && (await catalog.getTrim(hash, RAW_KERNEL, kernel!.sha256)) === null; i++) await tick(10);
  t.not(await catalog.getTrim(hash, RAW_KERNEL, kernel!.sha256), null, 'the job finished while the upload was being written');
  t.equal(uploads.held(), 1, 'one upload write, held');
  t.equal(await store.get(objectKey(sha256)), null, 'the upload is not stored yet');
  await tick(20);
  t.notOk(state.done, 'no answer before the upload is stored');

  uploads.release();
  const res = await answer;
  t.equal(res.statusCode, 200, why(res));
  t.ok(Buffer.from(res.rawPayload).equals(Buffer.from(oracle(fixtures, 'tools_like'))), 'the bytes bpftool writes');
  t.ok(Buffer.from((await store.get(objectKey(sha256)))!).equals(object.bytes), 'the upload is stored');
  t.not(await catalog.getObject(sha256), null, 'and recorded');
  t.match(String(res.headers['server-timing']), /store;dur=[\d.]+.*total;dur=/, 'the wait for the write is named');
});

t.test("a failed upload write fails the request even though the job's trim succeeded", async (t) => {
  let uploads!: ReturnType<typeof holdingUploads>;
  const { app, fixtures, catalog } = await setupApi(t, {
    wrap: ({ store }) => ((uploads = holdingUploads(store, { fail: true })), { store: uploads.wrapped }),
  });
  const object = fixtureObject(fixtures, 'enum64');
  const answer = app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  await tick(50);
  uploads.release();
  const res = await answer;
  t.equal(res.statusCode, 503, why(res));
  t.match(res.json(), { error: 'unavailable', message: /store/ });
  t.equal(await catalog.getObject(sha256Hex(object.bytes)), null, 'the object is not recorded');

  // The job fails too (libbpf rejects the object): the store's failure is still the answer.
  const rejected = app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'fail_anon_root')]) });
  const failing = await rejected;
  t.equal(failing.statusCode, 503, `the write's failure wins: ${why(failing)}`);
});

t.test("a failed job's answer (422) also waits for the upload's write", async (t) => {
  let uploads!: ReturnType<typeof holdingUploads>;
  const { app, fixtures, store } = await setupApi(t, {
    wrap: ({ store }) => ((uploads = holdingUploads(store)), { store: uploads.wrapped }),
  });
  const object = fixtureObject(fixtures, 'fail_anon_root');
  const answer = app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  const state = settled(answer);
  for (let i = 0; i < 200 && uploads.held() === 0; i++) await tick(10);
  await tick(100);
  t.notOk(state.done, 'no answer while the write is held');
  uploads.release();
  const res = await answer;
  t.equal(res.statusCode, 422, why(res));
  t.match(res.json(), { error: 'trim_failed', message: /anonymous/i });
  t.ok(Buffer.from((await store.get(objectKey(sha256Hex(object.bytes))))!).equals(object.bytes), 'stored, as uploads that reach a job are');
});

t.test("with two codec threads a new upload is checked on the kernel's thread: sent to the threads once", async (t) => {
  const { app, fixtures, codec, store, catalog } = await setupApi(t, { env: { BTFHUB_CODEC_THREADS: '2' } });
  t.ok(codec instanceof WorkerCodecExecutor && codec.threads === 2, 'two threads');
  const pool = codec as WorkerCodecExecutor;
  const base = fixtureObject(fixtures, 'enum64');
  // Kernels of several identities: their threads differ (an idle pool's least busy thread is the first).
  for (let i = 0; i < 4; i++) {
    const ref = i === 0 ? RAW_KERNEL : { ...RAW_KERNEL, kernel: `5.15.0-${100 + i}-generic` };
    if (i > 0) await registerKernel(store, catalog, ref, 'btf', fixtures.vmlinux);
    const bytes = new Uint8Array(base.bytes.length + 4);
    bytes.set(base.bytes);
    new DataView(bytes.buffer).setUint32(base.bytes.length, i);
    const before = pool.objectBytesSent;
    const fields = { ...RAW_FIELDS, kernel_version: ref.kernel };
    const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([{ name: `variant${i}`, bytes }], fields) });
    t.equal(res.statusCode, 200, why(res));
    t.ok(Buffer.from(res.rawPayload).equals(Buffer.from(oracle(fixtures, 'enum64'))), 'the bytes bpftool writes');
    t.equal(pool.objectBytesSent - before, bytes.length, `kernel ${ref.kernel}: checked and trimmed on one thread, sent once`);
  }
});

t.test(
  'a new upload is written without reading its key first; a result made before is trusted until a read finds it damaged',
  async (t) => {
    const apiReads: string[] = [];
    const { app, fixtures, store, catalog } = await setupApi(t, {
      config: { trimCacheBytes: 0 },
      wrap: ({ store }) => ({
        store: Object.assign(Object.create(store) as ObjectStore, {
          get: (key: string) => (apiReads.push(key), store.get(key)),
        }),
      }),
    });
    // The job's store (the real one): its reads counted too.
    const jobReads: string[] = [];
    const get = store.get.bind(store);
    store.get = (key: string) => (jobReads.push(key), get(key));
    const base = fixtureObject(fixtures, 'enum64');
    const want = oracle(fixtures, 'enum64');
    // The same object with other trailing bytes: a new objects hash, the same trimmed result.
    const variant = (n: number) => ({ name: `v${n}.o`, bytes: Buffer.concat([base.bytes, Buffer.alloc(16, n)]) });
    const reads = (prefix: string) => [...apiReads, ...jobReads].filter((key) => key.startsWith(prefix)).length;

    const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([variant(1)]) });
    t.equal(first.statusCode, 200, why(first));
    t.ok(Buffer.from(first.rawPayload).equals(Buffer.from(want)), "bpftool's bytes");
    t.equal(reads('objects/'), 0, 'the new upload (no catalog record) was not read before its write');
    t.not(await catalog.getObject(sha256Hex(variant(1).bytes)), null, 'stored and recorded');
    t.equal(reads('trimmed/'), 1, 'the result was looked for once before its first write');

    const second = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([variant(2)]) });
    t.equal(second.statusCode, 200, why(second));
    t.ok(Buffer.from(second.rawPayload).equals(Buffer.from(want)));
    t.equal(reads('trimmed/'), 1, 'the same result again: not read back');
    t.equal(reads('objects/'), 0);

    // Damaged behind the service's back: the GET's read finds it, and forgets it.
    const resultKey = `trimmed/${sha256Hex(want)}.btf`;
    const damaged = new Uint8Array(want);
    damaged[10]! ^= 0x10;
    await get(resultKey).then((bytes) => t.ok(bytes !== null, 'the result is stored'));
    await store.put(resultKey, damaged);
    const hash = String(second.headers['x-btfhub-objects-hash']);
    const refused = await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`);
    t.equal(refused.statusCode, 404, 'the damaged copy is not sent');
    const third = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([variant(3)]) });
    t.equal(third.statusCode, 200, why(third));
    t.ok(Buffer.from(third.rawPayload).equals(Buffer.from(want)));
    t.ok(Buffer.from((await get(resultKey))!).equals(Buffer.from(want)), 'the next trim making it checked the copy and repaired it');
  },
);
