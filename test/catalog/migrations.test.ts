import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { mkdirSync } from 'node:fs';
import { defaultMigrationsDir, findMigrationsDir, loadMigrations, pendingMigrations } from '../../src/catalog/migrations.js';

function dirWith(t: Test, files: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'btfhub-migrations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of files) writeFileSync(join(dir, file), `-- ${file}\n`);
  return dir;
}

t.test("the package's migrations load for both dialects, with the same versions and names", async (t) => {
  t.match(defaultMigrationsDir(), /[/\\]migrations$/);
  const sqlite = await loadMigrations('sqlite');
  const postgres = await loadMigrations('postgres');
  t.ok(sqlite.length >= 1);
  t.same(
    sqlite.map((m) => [m.version, m.name]),
    postgres.map((m) => [m.version, m.name]),
  );
  t.equal(sqlite[0]?.version, 1);
  t.match(sqlite[0]?.sql, /CREATE TABLE kernels/);
});

t.test('findMigrationsDir walks up to the package root, and no further than 4 levels', async (t) => {
  const root = dirWith(t, ['package.json']);
  mkdirSync(join(root, 'migrations'));
  const deep = join(root, 'dist', 'src', 'catalog');
  mkdirSync(deep, { recursive: true });
  t.equal(findMigrationsDir(deep), join(root, 'migrations'), 'from dist/src/catalog');
  t.equal(findMigrationsDir(join(root, 'dist', 'src')), join(root, 'migrations'));
  const tooDeep = join(deep, 'a', 'b');
  mkdirSync(tooDeep, { recursive: true });
  t.throws(() => findMigrationsDir(tooDeep), /migrations directory not found at or above/);
});

t.test('versions sort numerically and each dialect prefers its own file', async (t) => {
  const dir = dirWith(t, [
    '010_ten.sql',
    '009_nine.sqlite.sql',
    '009_nine.postgres.sql',
    '002_two.sql',
    '002_two.postgres.sql',
    'README.md',
  ]);
  const sqlite = await loadMigrations('sqlite', dir);
  t.same(
    sqlite.map((m) => m.file),
    ['002_two.sql', '009_nine.sqlite.sql', '010_ten.sql'],
  );
  const postgres = await loadMigrations('postgres', dir);
  t.same(
    postgres.map((m) => m.file),
    ['002_two.postgres.sql', '009_nine.postgres.sql', '010_ten.sql'],
  );
  t.same(
    postgres.map((m) => m.version),
    [2, 9, 10],
  );
  t.equal(postgres[0]?.sql, '-- 002_two.postgres.sql\n');
});

t.test('malformed directories are refused with the file named', async (t) => {
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['1_short.sql'])), /1_short\.sql: name must be/);
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['001-dash.sql'])), /001-dash\.sql/);
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['001_Upper.sql'])), /001_Upper\.sql/);
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['001_x.mysql.sql'])), /001_x\.mysql\.sql/);
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['001_a.sql', '001_b.sql'])), /001_b\.sql and 001_a\.sql have the same version 1/);
  await t.rejects(loadMigrations('postgres', dirWith(t, ['001_a.postgres.sql', '001_b.postgres.sql'])), /same version 1/);
  await t.rejects(loadMigrations('sqlite', dirWith(t, ['001_a.sql', '002_b.postgres.sql'])), /version 2 has no file for sqlite/);
});

t.test('pendingMigrations skips applied versions and refuses renamed ones', async (t) => {
  const all = [
    { version: 1, name: 'initial', file: '001_initial.sql', sql: '' },
    { version: 2, name: 'more', file: '002_more.sql', sql: '' },
  ];
  t.same(pendingMigrations(all, new Map()), all);
  t.same(pendingMigrations(all, new Map([[1, 'initial']])), [all[1]]);
  t.same(
    pendingMigrations(
      all,
      new Map([
        [1, 'initial'],
        [2, 'more'],
        [3, 'newer'],
      ]),
    ),
    [],
    'newer versions are tolerated',
  );
  t.throws(() => pendingMigrations(all, new Map([[1, 'other']])), /version 1 was applied as 'other'/);
});
