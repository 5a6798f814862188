import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openCatalog } from '../../src/catalog/index.js';
import { runCatalogContract } from './contract.js';

const root = mkdtempSync(join(tmpdir(), 'btfhub-catalog-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let next = 0;

runCatalogContract(t, {
  dialect: 'sqlite',
  async newDatabase() {
    const dir = join(root, String(next++));
    return { database: { kind: 'sqlite', path: join(dir, 'catalog.sqlite') }, cleanup: async () => {} };
  },
  // A path under a regular file: the directory cannot be created, so opening fails.
  unreachable: { kind: 'sqlite', path: join(import.meta.dirname ?? '.', 'sqlite.test.ts', 'catalog.sqlite') },
});

t.test('a file database is in WAL mode and creates its directory', async (t) => {
  const path = join(root, 'nested', 'dir', 'catalog.sqlite');
  const catalog = await openCatalog({ kind: 'sqlite', path });
  t.teardown(() => catalog.close());
  await catalog.migrate();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});

t.test('a file that is not a SQLite database is refused at open', async (t) => {
  const path = join(root, 'garbage.sqlite');
  writeFileSync(path, 'this is not a database, just some text long enough to have a header...'.repeat(20));
  await t.rejects(openCatalog({ kind: 'sqlite', path }), /not a database/);
});

t.test(':memory: works for a single process', async (t) => {
  const catalog = await openCatalog({ kind: 'sqlite', path: ':memory:' });
  t.teardown(() => catalog.close());
  await catalog.migrate();
  t.equal(
    await catalog.upsertKernel({
      distro: 'debian',
      distroVersion: '12',
      arch: 'arm64',
      kernel: '6.1.0-18-arm64',
      storageKey: 'debian/12/arm64/6.1.0-18-arm64.btf.tar.xz',
      size: 1,
      sha256: 'f'.repeat(64),
    }),
    'added',
  );
  t.equal((await catalog.listKernels({}, { limit: 10, offset: 0 })).total, 1);
});
