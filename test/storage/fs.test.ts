import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { createArchiveStore, createObjectStore } from '../../src/storage/index.js';
import { collect, listKeys, objectStoreContract, rejectsWithCode, type TapTest } from './contract.js';

async function tempDir(t: TapTest): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-fs-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes files directly, the way a btfhub-archive checkout exists on disk. */
async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

/** Every name under `dir`, recursively, without following links. */
async function allNames(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

t.test('contract', async (t) => {
  objectStoreContract(t, async (t) => new FsObjectStore(await tempDir(t)));
});

t.test('reads an archive checkout as is', async (t) => {
  const root = await tempDir(t);
  await writeTree(root, {
    'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz': 'xz',
    'fedora/34/x86_64/5.11.12-300.fc34.x86_64.btf.tar.xz': 'fedora',
  });
  const store = new FsObjectStore(root);
  t.equal(store.description, `fs:${root}`);
  t.same(await listKeys(store), ['fedora/34/x86_64/5.11.12-300.fc34.x86_64.btf.tar.xz', 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz']);
  t.equal(Buffer.from((await store.get('ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz')) ?? []).toString(), 'xz');
  t.equal(await store.get('ubuntu/20.04'), null, 'a directory is not an object');
  t.equal(await store.head('ubuntu/20.04'), null);
  await store.delete('ubuntu/20.04');
  t.equal((await listKeys(store)).length, 2, 'deleting a directory key does nothing');
});

t.test('symlinked release aliases', async (t) => {
  const root = await tempDir(t);
  await writeTree(root, {
    'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz': 'focal',
    'ubuntu/20.04/arm64/5.4.0-42-generic.btf.tar.xz': 'focal arm',
    'ubuntu/18.04/x86_64/4.15.0-20-generic.btf.tar.xz': 'bionic',
    'shared/5.10.btf': 'shared',
  });
  await symlink('20.04', join(root, 'ubuntu/focal'));
  await symlink('18.04', join(root, 'ubuntu/bionic'));
  // An alias that sorts before its target must not win either.
  await symlink('20.04', join(root, 'ubuntu/00-focal'));
  // A loop back to the root must not hang the walk.
  await symlink('../..', join(root, 'ubuntu/20.04/loop'));
  // A symlinked file is an object of its own.
  await symlink('../shared/5.10.btf', join(root, 'ubuntu/5.10.btf'));
  await symlink('missing', join(root, 'ubuntu/dangling'));
  await symlink('self-loop', join(root, 'ubuntu/self-loop'));
  const store = new FsObjectStore(root);

  t.same(
    await listKeys(store),
    [
      'shared/5.10.btf',
      'ubuntu/18.04/x86_64/4.15.0-20-generic.btf.tar.xz',
      'ubuntu/20.04/arm64/5.4.0-42-generic.btf.tar.xz',
      'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz',
      'ubuntu/5.10.btf',
    ],
    'each real directory once, under its real name',
  );
  t.same(await listKeys(store, 'ubuntu/focal/'), [
    'ubuntu/focal/arm64/5.4.0-42-generic.btf.tar.xz',
    'ubuntu/focal/x86_64/5.4.0-42-generic.btf.tar.xz',
  ]);
  t.same(
    await listKeys(store, 'ubuntu/f'),
    ['ubuntu/focal/arm64/5.4.0-42-generic.btf.tar.xz', 'ubuntu/focal/x86_64/5.4.0-42-generic.btf.tar.xz'],
    'an alias is followed when its target is outside the prefix',
  );
  t.same(await listKeys(store, 'ubuntu/b'), ['ubuntu/bionic/x86_64/4.15.0-20-generic.btf.tar.xz']);
  t.same(await listKeys(store, 'ubuntu/0'), [
    'ubuntu/00-focal/arm64/5.4.0-42-generic.btf.tar.xz',
    'ubuntu/00-focal/x86_64/5.4.0-42-generic.btf.tar.xz',
  ]);
  const viaAlias = await store.get('ubuntu/focal/x86_64/5.4.0-42-generic.btf.tar.xz');
  t.equal(Buffer.from(viaAlias ?? []).toString(), 'focal', 'readable through the alias');
  t.equal((await store.head('ubuntu/bionic/x86_64/4.15.0-20-generic.btf.tar.xz'))?.size, 6);
  t.equal(await store.get('ubuntu/dangling'), null, 'a dangling link is a missing object');
  t.equal(await store.get('ubuntu/self-loop'), null, 'so is a link to itself');
  t.equal(await store.head('ubuntu/self-loop/below'), null);
});

t.test('no key escapes the root', async (t) => {
  const base = await tempDir(t);
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await writeTree(outside, { 'secret.txt': 'secret' });
  await writeTree(root, { 'inside.btf': 'inside' });
  await symlink(outside, join(root, 'evil'));
  await symlink(join(outside, 'secret.txt'), join(root, 'evil-file'));
  const store = new FsObjectStore(root);

  await rejectsWithCode(t, store.get('evil/secret.txt'), 'INVALID_KEY', 'get through a directory link');
  await rejectsWithCode(t, store.head('evil/secret.txt'), 'INVALID_KEY', 'head through a directory link');
  await rejectsWithCode(t, store.get('evil-file'), 'INVALID_KEY', 'get of a file link');
  await rejectsWithCode(t, store.put('evil/planted.txt', new Uint8Array([1])), 'INVALID_KEY', 'put through a link');
  await rejectsWithCode(t, store.put('evil/deeper/planted.txt', new Uint8Array([1])), 'INVALID_KEY', 'put below a link');
  await rejectsWithCode(t, store.delete('evil/secret.txt'), 'INVALID_KEY', 'delete through a link');
  await rejectsWithCode(t, collect(store.list('evil/')), 'INVALID_KEY', 'list through a link');
  await rejectsWithCode(t, store.get('../outside/secret.txt'), 'INVALID_KEY', "'..' never reaches the filesystem");
  t.same(await listKeys(store), ['inside.btf'], 'links leading outside are not listed');
  t.same((await allNames(outside)).sort(), ['secret.txt'], 'nothing was written outside');
  t.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'secret', 'nothing was deleted outside');
});

t.test('a directory removed after a put is made again by the next put; one replaced by a file is refused', async (t) => {
  const root = await tempDir(t);
  const store = new FsObjectStore(root);
  await store.put('objects/a.o', new Uint8Array([1]));
  await rm(join(root, 'objects'), { recursive: true });
  await store.put('objects/b.o', new Uint8Array([2]));
  t.same(await store.get('objects/b.o'), new Uint8Array([2]), 'written into the directory made again');
  t.equal(await store.get('objects/a.o'), null);
  const timing = { syncMs: 0 };
  await store.put('objects/c.o', new Uint8Array([3]), timing);
  t.ok(timing.syncMs > 0, 'the put says how long its fsyncs took');
  await rm(join(root, 'objects'), { recursive: true });
  await writeFile(join(root, 'objects'), 'not a directory');
  await rejectsWithCode(t, store.put('objects/d.o', new Uint8Array([4])), 'INVALID_KEY');
});

t.test(
  'puts leave no descriptor open: the file closed beside its rename, the directory after its fsync',
  { skip: !existsSync('/proc/self/fd') && 'no /proc/self/fd here' },
  async (t) => {
    const root = await tempDir(t);
    const store = new FsObjectStore(root);
    const open = async () => (await readdir('/proc/self/fd')).length;
    await store.put('objects/first.o', new Uint8Array([0]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await open();
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.put(`objects/${i}.o`, new Uint8Array([i]))));
    await rm(join(root, 'objects'), { recursive: true });
    await store.put('objects/again.o', new Uint8Array([1])).catch(() => undefined);
    await rejectsWithCode(t, store.put('objects/again.o/below', new Uint8Array([2])), 'INVALID_KEY');
    // The directories' closes run in the background once each put is durable.
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.equal(await open(), before, 'as many descriptors open as before the puts');
    t.same(await store.get('objects/again.o'), new Uint8Array([1]));
  },
);

t.test('put is atomic', async (t) => {
  const root = await tempDir(t);
  const store = new FsObjectStore(root);
  const key = 'ubuntu/22.04/x86_64/big.btf';
  const old = new Uint8Array(4 * 1024 * 1024).fill(1);
  const next = new Uint8Array(48 * 1024 * 1024).fill(2);
  await store.put(key, old);

  const oldBuffer = Buffer.from(old);
  const nextBuffer = Buffer.from(next);
  let writing = true;
  let reads = 0;
  const problems: string[] = [];
  const seen = new Set<string>();
  const reader = (async () => {
    while (writing) {
      const [data, keys] = await Promise.all([store.get(key), listKeys(store)]);
      reads++;
      if (keys.length !== 1 || keys[0] !== key) problems.push(`listed ${JSON.stringify(keys)}`);
      const buffer = data === null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (buffer?.equals(oldBuffer)) seen.add('old');
      else if (buffer?.equals(nextBuffer)) seen.add('new');
      else problems.push(buffer === null ? 'the key vanished' : `a partial object of ${buffer.byteLength} bytes`);
    }
  })();
  await store.put(key, next);
  writing = false;
  await reader;
  t.same(problems, [], 'every read saw a whole object and no temporary file');
  t.ok(reads > 0 && seen.size > 0, `${reads} reads saw ${[...seen].join(' and ')} objects`);
  t.equal((await store.head(key))?.size, next.byteLength);
  t.same(await allNames(join(root, 'ubuntu/22.04/x86_64')), ['big.btf'], 'no temporary file left behind');
});

t.test('a failed put leaves nothing behind', async (t) => {
  const root = await tempDir(t);
  const store = new FsObjectStore(root);
  await store.put('dir/inner', new Uint8Array([1]));
  await rejectsWithCode(t, store.put('dir', new Uint8Array([2])), 'INVALID_KEY', 'a directory is in the way');
  t.same((await allNames(root)).sort(), ['dir', 'dir/inner'], 'the temporary file was removed');

  await store.put('file', new Uint8Array([1]));
  await rejectsWithCode(t, store.put('file/below', new Uint8Array([2])), 'INVALID_KEY', 'a file is in the way');
  await rejectsWithCode(t, store.put('a/.btfhub-tmp-1234', new Uint8Array([1])), 'INVALID_KEY', 'temporary names are reserved');
  t.same(await listKeys(store), ['dir/inner', 'file']);
});

t.test('getInto: a file changed under the read is read again whole, never cut; a directory or an escaping key is not read', async (t) => {
  const root = await tempDir(t);
  const store = new FsObjectStore(root);
  const path = join(root, 'k/grows.btf');
  await store.put('k/grows.btf', Buffer.from('0123456789'));
  // The allocation runs between the file's stat and its read: a writer that is not a put
  // (by hand, in place) appends there.
  const grown = await store.getInto('k/grows.btf', (size) => {
    writeFileSync(path, '0123456789abcdef');
    return new Uint8Array(size);
  });
  t.equal(Buffer.from(grown!).toString(), '0123456789abcdef', 'grown: the whole new file');
  const shrunk = await store.getInto('k/grows.btf', (size) => {
    writeFileSync(path, '0123');
    return new Uint8Array(size).fill(0x2e);
  });
  t.equal(Buffer.from(shrunk!).toString(), '0123', 'shrunk: the file as it is now, no stale tail');
  await mkdir(join(root, 'k/dir.btf'));
  t.equal(await store.getInto('k/dir.btf', (size) => new Uint8Array(size)), null, 'a directory reads as missing');
  await rejectsWithCode(
    t,
    store.getInto('../outside', (size) => new Uint8Array(size)),
    'INVALID_KEY',
  );
});

t.test('a missing root', async (t) => {
  const base = await tempDir(t);
  const store = new FsObjectStore(join(base, 'missing'));
  await rejectsWithCode(t, store.check(), 'NOT_FOUND');
  t.equal(await store.get('a'), null);
  t.equal(await store.head('a'), null);
  await store.delete('a');
  t.same(await listKeys(store), []);
  await store.put('created/on/first/put', new Uint8Array([7]));
  await store.check();
  t.same(await listKeys(store), ['created/on/first/put']);
});

t.test('a root that is a file', async (t) => {
  const base = await tempDir(t);
  await writeFile(join(base, 'file'), 'not a directory');
  const store = new FsObjectStore(join(base, 'file'));
  await rejectsWithCode(t, store.check(), 'UNAVAILABLE');
  await rejectsWithCode(t, store.put('a', new Uint8Array([1])), 'UNAVAILABLE');
});

t.test('createObjectStore and createArchiveStore', async (t) => {
  const base = await tempDir(t);
  const store = createObjectStore({ storage: { kind: 'fs', root: join(base, 'data/objects') } });
  t.ok(store instanceof FsObjectStore);
  await store.check(); // the service's own root is created up front
  await store.close();

  t.equal(createArchiveStore({}), null);
  const archive = createArchiveStore({ archiveDir: join(base, 'no-checkout') });
  t.ok(archive instanceof FsObjectStore);
  await rejectsWithCode(t, archive?.check() ?? Promise.resolve(), 'NOT_FOUND', 'an archive is never created');
});
