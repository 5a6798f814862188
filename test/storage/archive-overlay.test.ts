/** The service's store over a read-only archive checkout (`btfhub serve --archive`). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ArchiveOverlayStore } from '../../src/storage/archive-overlay.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-overlay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('ArchiveOverlayStore: reads fall back to the archive, writes never reach it, listings merge', async (t) => {
  const upperDir = await tempDir(t);
  const lowerDir = await tempDir(t);
  const upper = new FsObjectStore(upperDir);
  const lower = new FsObjectStore(lowerDir);
  await lower.put('a/1.btf', Buffer.from('archive a1'));
  await lower.put('b/2.btf', Buffer.from('archive b2'));
  await upper.put('b/2.btf', Buffer.from('store b2'));
  await upper.put('trimmed/x.btf', Buffer.from('x'));
  const overlay = new ArchiveOverlayStore(upper, lower);
  t.same(Buffer.from((await overlay.get('a/1.btf'))!).toString(), 'archive a1');
  t.same(Buffer.from((await overlay.get('b/2.btf'))!).toString(), 'store b2', 'the store wins');
  t.equal(await overlay.get('c/3.btf'), null);
  const into = (size: number) => new Uint8Array(size + 16).subarray(0, size);
  t.same(Buffer.from((await overlay.getInto('a/1.btf', into))!).toString(), 'archive a1', 'getInto falls back to the archive too');
  t.same(Buffer.from((await overlay.getInto('b/2.btf', into))!).toString(), 'store b2', 'where the store wins');
  t.equal(await overlay.getInto('c/3.btf', into), null);
  t.equal((await overlay.head('a/1.btf'))?.size, 10);
  await overlay.put('a/1.btf', Buffer.from('new'));
  t.same(Buffer.from((await lower.get('a/1.btf'))!).toString(), 'archive a1', 'the archive is untouched');
  const keys: string[] = [];
  for await (const info of overlay.list()) keys.push(info.key);
  t.same(keys, ['a/1.btf', 'b/2.btf', 'trimmed/x.btf'], 'one listing, in key order, each key once');
  await overlay.check();
  t.match(overlay.description, /over archive/);
});

t.test('ArchiveOverlayStore: keys only the service writes are never looked up in the archive', async (t) => {
  const upper = new FsObjectStore(await tempDir(t));
  const lowerDir = await tempDir(t);
  const lower = new FsObjectStore(lowerDir);
  // An archive that (against its layout) holds service keys: the overlay does not see them.
  await lower.put('objects/a.o', Buffer.from('archive object'));
  await lower.put('trimmed/t.btf', Buffer.from('archive trim'));
  await lower.put('ubuntu/22.04/x86_64/k.btf.tar.xz', Buffer.from('kernel'));
  const overlay = new ArchiveOverlayStore(upper, lower);
  const into = (size: number) => new Uint8Array(size);
  t.equal(await overlay.get('objects/a.o'), null, 'get: the store only');
  t.equal(await overlay.getInto('trimmed/t.btf', into), null, 'getInto: the store only');
  t.equal(await overlay.head('objects/a.o'), null, 'head: the store only');
  const copy = join(await tempDir(t), 'copy');
  t.equal(await overlay.getFile('objects/a.o', copy), false, 'getFile: the store only');
  t.same(Buffer.from((await overlay.get('ubuntu/22.04/x86_64/k.btf.tar.xz'))!).toString(), 'kernel', 'a kernel key still falls back');
  await upper.put('objects/a.o', Buffer.from('store object'));
  t.same(Buffer.from((await overlay.get('objects/a.o'))!).toString(), 'store object', "the store's own copy is read");
});
