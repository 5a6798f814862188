import t from 'tap';
import { putContentAddressed, type ObjectInfo, type ObjectStore } from '../../src/storage/index.js';
import { settledContentWrite } from '../../src/storage/content-addressed.js';
import { readVerified, sha256Hex } from '../../src/storage/integrity.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real filesystem store whose puts can be made to fail after writing, as a racing S3 copy does. */
class FlakyStore implements ObjectStore {
  puts = 0;
  gets = 0;
  failAfterWrite = false;
  constructor(private readonly inner: FsObjectStore) {}
  get description() {
    return this.inner.description;
  }
  get(key: string) {
    this.gets++;
    return this.inner.get(key);
  }
  head(key: string): Promise<ObjectInfo | null> {
    return this.inner.head(key);
  }
  async put(key: string, data: Uint8Array) {
    this.puts++;
    await this.inner.put(key, data);
    if (this.failAfterWrite) throw new Error('copy refused: key is being replaced');
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix?: string) {
    return this.inner.list(prefix);
  }
  check() {
    return this.inner.check();
  }
  close() {
    return this.inner.close();
  }
}

t.test('content-addressed writes: one put for concurrent writers, none when present, a lost race is not an error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FlakyStore(new FsObjectStore(dir));
  const bytes = new Uint8Array([1, 2, 3, 4]);
  await Promise.all(Array.from({ length: 20 }, () => putContentAddressed(store, 'objects/a.o', bytes)));
  t.equal(store.puts, 1, '20 concurrent writers, one put');
  t.same(await store.get('objects/a.o'), bytes);
  await putContentAddressed(store, 'objects/a.o', bytes);
  t.equal(store.puts, 1, 'already present: no put');

  store.failAfterWrite = true;
  await putContentAddressed(store, 'objects/b.o', bytes);
  t.equal(store.puts, 2, 'the put failed after another writer stored the same bytes: done');

  await store.delete('objects/c.o');
  const failing = new FlakyStore(new FsObjectStore(dir));
  failing.put = async () => {
    throw new Error('store down');
  };
  await t.rejects(putContentAddressed(failing, 'objects/c.o', bytes), /store down/, 'a put that stored nothing is an error');
});

t.test('content-addressed writes compare hashes: a same-size damaged copy is replaced and reported', async (t) => {
  const { onDamage } = await import('../../src/storage/integrity.js');
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FlakyStore(new FsObjectStore(dir));
  const reports: unknown[] = [];
  t.teardown(onDamage((report) => reports.push(report)));
  const bytes = new Uint8Array([1, 2, 3, 4]);
  t.equal(await putContentAddressed(store, 'objects/d.o', bytes), 'written');
  t.equal(await putContentAddressed(store, 'objects/d.o', bytes), 'present');
  const flipped = new Uint8Array([1, 2, 3, 5]);
  await new FsObjectStore(dir).put('objects/d.o', flipped);
  t.equal(await putContentAddressed(store, 'objects/d.o', bytes, 'object'), 'repaired', 'same size, other bytes: written again');
  t.same(await store.get('objects/d.o'), bytes);
  t.match(reports, [{ kind: 'object', key: 'objects/d.o', action: 'replaced' }]);
});

t.test('a reader can wait for a write of the key in flight in this process, whatever store object it holds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FlakyStore(new FsObjectStore(dir));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const inner = store.put.bind(store);
  store.put = async (key: string, data: Uint8Array) => {
    await gate;
    await inner(key, data);
  };
  const bytes = new Uint8Array([9, 8, 7]);
  const writing = putContentAddressed(store, 'objects/w.o', bytes);
  // Another object over the same directory (a reader's own wrapper): it sees no file yet.
  const reader = new FsObjectStore(dir);
  t.equal(await reader.get('objects/w.o'), null, 'not there while the write waits');
  let settled = false;
  const waiting = settledContentWrite('objects/w.o').then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(settled, 'the reader waits for the write');
  release();
  await waiting;
  t.same(await reader.get('objects/w.o'), bytes, 'and then reads the bytes');
  t.equal(await writing, 'written');

  await settledContentWrite('objects/none.o');
  t.pass('no write in flight: at once');

  const failing = new FlakyStore(new FsObjectStore(dir));
  failing.put = async () => {
    throw new Error('store down');
  };
  const failed = putContentAddressed(failing, 'objects/f.o', bytes).catch((error: unknown) => error);
  await settledContentWrite('objects/f.o');
  t.equal(await reader.get('objects/f.o'), null, 'a failed write: the wait ends, and the reader finds what the key holds');
  t.match(await failed, /store down/);
});

t.test('absent: the key is written without reading it first; a copy there after all is replaced whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FlakyStore(new FsObjectStore(dir));
  const bytes = new Uint8Array([5, 6, 7, 8]);
  t.equal(await putContentAddressed(store, 'objects/n.o', bytes, 'object', { absent: true }), 'written');
  t.equal(store.gets, 0, 'nothing read before the write');
  t.same(await new FsObjectStore(dir).get('objects/n.o'), bytes, 'stored');

  await new FsObjectStore(dir).put('objects/m.o', new Uint8Array([5, 6, 7, 0]));
  t.equal(await putContentAddressed(store, 'objects/m.o', bytes, 'object', { absent: true }), 'written', 'the guess was wrong');
  t.same(await new FsObjectStore(dir).get('objects/m.o'), bytes, 'the copy there is replaced by the right bytes');
  t.equal(store.gets, 0);

  t.equal(await putContentAddressed(store, 'objects/m.o', bytes, 'object'), 'present', 'without the hint: read, and found');
  t.equal(store.gets, 1);
});

t.test('trustConfirmed: a key this process wrote or found lately is not read again, until a read finds it damaged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FlakyStore(new FsObjectStore(dir));
  const bytes = new Uint8Array([1, 1, 2, 3, 5, 8]);
  const trusted = { trustConfirmed: true } as const;
  t.equal(
    await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted),
    'written',
    'not confirmed yet: read, then written',
  );
  t.equal(store.gets, 1);
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted), 'present', 'written by this process: trusted');
  t.equal(store.gets, 1, 'without a read');
  t.equal(store.puts, 1);
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result'), 'present', 'a caller that does not trust reads');
  t.equal(store.gets, 2);

  // Damaged behind the process's back: a trusting write does not see it...
  await new FsObjectStore(dir).put('trimmed/t.btf', new Uint8Array([1, 1, 2, 3, 5, 9]));
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted), 'present');
  t.equal(store.puts, 1, 'not written again');
  // ...a read does (through another store object, as the API's reads are), and forgets it,
  const read = await readVerified(new FsObjectStore(dir), 'trimmed/t.btf', sha256Hex(bytes));
  t.equal(read.state, 'damaged', 'the read checks the bytes');
  // ...so the next trusting write reads the key, and repairs it.
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted), 'repaired');
  t.same(await new FsObjectStore(dir).get('trimmed/t.btf'), bytes, 'repaired');
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted), 'present', 'and trusted again');
  t.equal(store.puts, 2);

  // A copy removed behind its back: the read that finds it missing forgets it too.
  await new FsObjectStore(dir).delete('trimmed/t.btf');
  t.equal((await readVerified(store, 'trimmed/t.btf', sha256Hex(bytes))).state, 'missing');
  t.equal(await putContentAddressed(store, 'trimmed/t.btf', bytes, 'trim_result', trusted), 'written', 'written again');
  t.same(await new FsObjectStore(dir).get('trimmed/t.btf'), bytes);
});
