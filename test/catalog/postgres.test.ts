import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { openCatalog } from '../../src/catalog/index.js';
import { createTestSchema, TEST_DATABASE_URL } from '../helpers/postgres.js';
import { runCatalogContract } from './contract.js';

runCatalogContract(t, {
  dialect: 'postgres',
  async newDatabase() {
    const { url, schema, drop } = await createTestSchema();
    return { database: { kind: 'postgres', url, schema }, cleanup: drop };
  },
  // Port 1 on the loopback: nothing listens there, so connecting is refused at once.
  unreachable: { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/test' },
});

t.test('migrate creates a missing schema, and the tables land in it', async (t) => {
  const { url, schema, drop } = await createTestSchema();
  t.teardown(drop);
  const missing = `${schema}_new`;
  const catalog = await openCatalog({ kind: 'postgres', url, schema: missing });
  t.teardown(async () => {
    await catalog.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${missing} CASCADE`);
    await client.end();
  });
  await catalog.migrate();

  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  t.teardown(() => client.end());
  const tables = await client.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [missing],
  );
  t.same(
    tables.rows.map((row) => row.table_name),
    [
      'derived_files',
      'imported_files',
      'issued_jobs',
      'job_files',
      'kernel_markers',
      'kernel_provenance',
      'kernels',
      'objects',
      'schema_migrations',
      'trims',
    ],
  );
});

t.test('schema names that would need quoting are refused', async (t) => {
  for (const schema of ['Upper', 'has space', 'semi;colon', '1digit', 'x'.repeat(64)]) {
    await t.rejects(openCatalog({ kind: 'postgres', url: TEST_DATABASE_URL, schema }), /schema name/, schema);
  }
});

t.test('without a schema the catalog uses the connection search_path', async (t) => {
  const { url, schema, drop } = await createTestSchema();
  t.teardown(drop);
  // The schema goes in through the URL's startup options instead of the catalog's.
  const catalog = await openCatalog({ kind: 'postgres', url: `${url}?options=-c%20search_path%3D${schema}` });
  t.teardown(() => catalog.close());
  await catalog.migrate();
  t.equal((await catalog.appliedMigrations()).length > 0, true);
});

t.test('a migration whose connection dies fails, and the dead connection leaves the pool', async (t) => {
  const { url, schema, drop } = await createTestSchema();
  t.teardown(drop);
  const dir = mkdtempSync(join(tmpdir(), 'btfhub-migrations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, '001_die.sql'), 'SELECT pg_terminate_backend(pg_backend_pid());');
  const catalog = await openCatalog({ kind: 'postgres', url, schema }, { migrationsDir: dir });
  t.teardown(() => catalog.close());
  await t.rejects(catalog.migrate(), /terminat/);
  await catalog.check();
  t.same(await catalog.appliedMigrations(), [], 'the pool serves a live connection afterwards');
});
