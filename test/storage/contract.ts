/**
 * The behaviour every ObjectStore backend must share, as one suite run against each backend.
 * Each subtest gets a fresh, empty store from the factory and closes it afterwards.
 */
import { randomBytes } from 'node:crypto';
import tap from 'tap';
import type { ObjectInfo, ObjectStore } from '../../src/storage/object-store.js';
import { StorageError } from '../../src/storage/errors.js';
import { readInto } from '../../src/storage/file-transfer.js';
import { compareKeys, kernelKey, MAX_KEY_LENGTH, trimmedKey } from '../../src/storage/keys.js';

export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

/** Makes a fresh, empty store; the contract closes it. */
export type StoreFactory = (t: TapTest) => Promise<ObjectStore>;

export async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const items: ObjectInfo[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export async function listKeys(store: ObjectStore, prefix?: string): Promise<string[]> {
  return (await collect(store.list(prefix))).map((item) => item.key);
}

export const INVALID_KEYS: readonly string[] = [
  '',
  '/absolute',
  'trailing/',
  'a//b',
  '.',
  '..',
  './a',
  'a/./b',
  '../escape',
  'a/../../escape',
  'a/..',
  'back\\slash',
  'nul\0byte',
  'x'.repeat(MAX_KEY_LENGTH + 1),
];

/** Rejects with StorageError of `code`. */
export async function rejectsWithCode(t: TapTest, promise: Promise<unknown>, code: string, message?: string): Promise<void> {
  await t.rejects(promise, { name: 'StorageError', code }, message ?? `rejects with ${code}`);
}

const bytes = (text: string) => new TextEncoder().encode(text);

export function objectStoreContract(t: TapTest, createStore: StoreFactory): void {
  const withStore = (name: string, body: (t: TapTest, store: ObjectStore) => Promise<void>) =>
    t.test(name, async (t) => {
      const store = await createStore(t);
      t.teardown(() => store.close());
      await body(t, store);
    });

  withStore('a fresh store is reachable and empty', async (t, store) => {
    await store.check();
    t.same(await listKeys(store), []);
    t.type(store.description, 'string');
  });

  withStore('missing keys read as null and delete quietly', async (t, store) => {
    t.equal(await store.get('no/such/key.btf'), null);
    t.equal(await store.head('no/such/key.btf'), null);
    await store.delete('no/such/key.btf');
    t.same(await listKeys(store, 'no/'), []);
  });

  withStore('put then get, head and list', async (t, store) => {
    const before = Date.now();
    await store.put('ubuntu/20.04/x86_64/5.4.0-42-generic.btf', bytes('kernel btf'));
    t.same(await store.get('ubuntu/20.04/x86_64/5.4.0-42-generic.btf'), bytes('kernel btf'));
    const info = await store.head('ubuntu/20.04/x86_64/5.4.0-42-generic.btf');
    t.equal(info?.key, 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf');
    t.equal(info?.size, 10);
    t.ok(info?.modified instanceof Date);
    // Second-granular clocks (HTTP dates) may round down.
    t.ok((info?.modified?.getTime() ?? 0) >= before - 2000, 'modified is recent');
    const listed = await collect(store.list());
    t.same(
      listed.map(({ key, size }) => ({ key, size })),
      [{ key: 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf', size: 10 }],
    );
  });

  withStore('binary data survives the round trip', async (t, store) => {
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const random = new Uint8Array(randomBytes(1024 * 1024 + 7));
    await store.put('bin/every-byte', everyByte);
    await store.put('bin/random', random);
    await store.put('bin/empty', new Uint8Array(0));
    t.same(Buffer.from((await store.get('bin/every-byte')) ?? []), Buffer.from(everyByte));
    t.ok(Buffer.from(random).equals(Buffer.from((await store.get('bin/random')) ?? [])), '1 MiB of random bytes');
    t.equal((await store.get('bin/empty'))?.byteLength, 0, 'an empty object exists and is empty');
    t.equal((await store.head('bin/empty'))?.size, 0);
    t.equal((await store.head('bin/random'))?.size, random.byteLength);
  });

  withStore('readInto: the object in bytes the caller allocated where the store reads into them, else its get', async (t, store) => {
    const random = new Uint8Array(randomBytes(300_000));
    await store.put('kernels/k.btf', random);
    // A reused buffer: larger than the object, holding an older kernel's bytes.
    const reused = new Uint8Array(1 << 20).fill(0xaa);
    const sizes: number[] = [];
    const read = await readInto(store, 'kernels/k.btf', (size) => {
      sizes.push(size);
      return reused.subarray(0, size);
    });
    t.ok(read !== null && Buffer.from(read).equals(Buffer.from(random)), 'the whole object, unchanged');
    if (store.getInto !== undefined) {
      t.same(sizes, [random.length], 'its size asked for once');
      t.equal(read!.buffer, reused.buffer, "read into the caller's buffer");
      t.equal(read!.byteOffset, 0);
      t.equal(reused[random.length], 0xaa, 'nothing written past the object');
    } else {
      t.same(sizes, [], 'a store without getInto: its get, nothing allocated');
    }
    t.equal(await readInto(store, 'kernels/none.btf', () => t.fail('no allocation for a missing key') as never), null);
    await store.put('kernels/empty.btf', new Uint8Array(0));
    t.equal((await readInto(store, 'kernels/empty.btf', (size) => new Uint8Array(size)))?.byteLength, 0, 'an empty object');
    t.ok(Buffer.from((await readInto(store, 'kernels/k.btf', undefined))!).equals(Buffer.from(random)), 'no allocator: the ordinary get');
  });

  withStore('put overwrites', async (t, store) => {
    await store.put('trimmed/x.btf', bytes('old object, longer'));
    await store.put('trimmed/x.btf', bytes('new'));
    t.same(await store.get('trimmed/x.btf'), bytes('new'));
    t.equal((await store.head('trimmed/x.btf'))?.size, 3);
    t.same(await listKeys(store), ['trimmed/x.btf']);
  });

  withStore('delete removes, twice is fine', async (t, store) => {
    await store.put('a/one', bytes('1'));
    await store.put('a/two', bytes('2'));
    await store.delete('a/one');
    await store.delete('a/one');
    t.equal(await store.get('a/one'), null);
    t.equal(await store.head('a/one'), null);
    t.same(await listKeys(store), ['a/two']);
  });

  withStore('list is in key order and filters by string prefix', async (t, store) => {
    const keys = [
      'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz',
      'ubuntu/20.04/arm64/5.4.0-42-generic.btf.tar.xz',
      'ubuntu/18.04/x86_64/4.15.0-20-generic.btf.tar.xz',
      'centos/8/x86_64/4.18.0-193.el8.x86_64.btf',
      'a.txt',
      'a/b',
      'a/a',
      'a-b/x',
      'a0',
      'A',
      'trimmed/0123.btf',
      'unicode/é.btf',
    ];
    for (const [index, key] of keys.entries()) await store.put(key, bytes('x'.repeat(index)));
    const sorted = [...keys].sort(compareKeys);
    t.same(await listKeys(store), sorted, 'everything, sorted');
    t.same(await listKeys(store, ''), sorted, "'' is everything");
    t.same(
      await listKeys(store, 'ubuntu/'),
      sorted.filter((key) => key.startsWith('ubuntu/')),
    );
    t.same(await listKeys(store, 'ubuntu/20'), [
      'ubuntu/20.04/arm64/5.4.0-42-generic.btf.tar.xz',
      'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz',
    ]);
    t.same(await listKeys(store, 'a'), ['a-b/x', 'a.txt', 'a/a', 'a/b', 'a0'], 'a prefix is a string prefix');
    t.same(await listKeys(store, 'a/'), ['a/a', 'a/b']);
    t.same(await listKeys(store, 'a/a'), ['a/a'], 'a full key lists itself');
    t.same(await listKeys(store, 'nothing/'), []);
    t.same(await listKeys(store, 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz/'), [], 'a file is no directory');
    const sizes = await collect(store.list('centos/'));
    t.equal(sizes[0]?.size, keys.indexOf('centos/8/x86_64/4.18.0-193.el8.x86_64.btf'));
  });

  withStore('invalid keys are rejected by every operation', async (t, store) => {
    for (const key of INVALID_KEYS) {
      const label = JSON.stringify(key.slice(0, 40));
      await rejectsWithCode(t, store.get(key), 'INVALID_KEY', `get ${label}`);
      await rejectsWithCode(t, store.head(key), 'INVALID_KEY', `head ${label}`);
      await rejectsWithCode(t, store.put(key, bytes('x')), 'INVALID_KEY', `put ${label}`);
      await rejectsWithCode(t, store.delete(key), 'INVALID_KEY', `delete ${label}`);
    }
    for (const prefix of ['/', '../', 'a//', 'a/../', '\\']) {
      await rejectsWithCode(t, collect(store.list(prefix)), 'INVALID_KEY', `list ${JSON.stringify(prefix)}`);
    }
    t.same(await listKeys(store), [], 'nothing was written');
  });

  withStore('errors are StorageError instances', async (t, store) => {
    const error = await store.get('../x').catch((caught: unknown) => caught);
    t.ok(error instanceof StorageError);
    t.match((error as Error).message, /invalid object key/);
  });

  withStore('the service key builders make storable keys', async (t, store) => {
    const kernel = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
    const full = kernelKey(kernel, 'btf.tar.xz');
    const trimmed = trimmedKey('ab'.repeat(32));
    await store.put(full, bytes('full'));
    await store.put(trimmed, bytes('trimmed'));
    t.same(await listKeys(store), [trimmed, full].sort(compareKeys));
    t.same(await store.get(trimmed), bytes('trimmed'));
  });

  withStore('concurrent puts of different keys all land', async (t, store) => {
    const keys = Array.from({ length: 20 }, (_, i) => `many/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((key) => store.put(key, bytes(key))));
    t.same(await listKeys(store, 'many/'), keys);
    t.same(await store.get('many/07'), bytes('many/07'));
  });
}
