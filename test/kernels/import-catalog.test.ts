/**
 * The catalog state `btfhub import` keeps (migration 002): BTFHub marker files per kernel,
 * and what was found at each key of a source, on both backends.
 */
import t, { type Test } from 'tap';
import { openCatalog, type CatalogBackend, type DatabaseConfig } from '../../src/catalog/index.js';
import { createTestSchema } from '../helpers/postgres.js';

const REF = { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-42-generic' };

async function postgresAvailable(): Promise<(DatabaseConfig & { cleanup: () => Promise<void> }) | null> {
  try {
    const { url, schema, drop } = await createTestSchema();
    return { kind: 'postgres', url, schema, cleanup: drop };
  } catch {
    return null;
  }
}

async function backends(t: Test): Promise<[string, CatalogBackend][]> {
  const list: [string, CatalogBackend][] = [];
  let now = 1_700_000_000_000;
  const sqlite = await openCatalog({ kind: 'sqlite', path: ':memory:' }, { now: () => now++ });
  list.push(['sqlite', sqlite]);
  const pg = await postgresAvailable();
  if (pg) {
    const catalog = await openCatalog(pg, { now: () => now++ });
    t.teardown(pg.cleanup);
    list.push(['postgres', catalog]);
  }
  for (const [, catalog] of list) {
    t.teardown(() => catalog.close());
    await catalog.migrate();
  }
  return list;
}

t.test('kernel markers: recorded once, updated when the key changes, listed with a filter', async (t) => {
  for (const [name, catalog] of await backends(t)) {
    t.equal(
      await catalog.recordKernelMarker({ ...REF, marker: 'failed', storageKey: 'ubuntu/20.04/x86_64/5.4.0-42-generic.failed' }),
      'added',
      name,
    );
    t.equal(
      await catalog.recordKernelMarker({ ...REF, marker: 'failed', storageKey: 'ubuntu/20.04/x86_64/5.4.0-42-generic.failed' }),
      'unchanged',
      name,
    );
    t.equal(
      await catalog.recordKernelMarker({ ...REF, marker: 'failed', storageKey: 'ubuntu/focal/x86_64/5.4.0-42-generic.failed' }),
      'updated',
      name,
    );
    t.equal(await catalog.recordKernelMarker({ ...REF, marker: 'hasbtf', storageKey: 'x.hasbtf' }), 'added', name);
    await catalog.recordKernelMarker({
      ...REF,
      distro: 'debian',
      distroVersion: '11',
      kernel: '5.10.0-1-amd64',
      marker: 'failed',
      storageKey: 'y.failed',
    });
    const all = await catalog.listKernelMarkers({}, { limit: 10, offset: 0 });
    t.equal(all.total, 3, name);
    t.same(
      all.items.map((m) => [m.distro, m.marker]),
      [
        ['debian', 'failed'],
        ['ubuntu', 'failed'],
        ['ubuntu', 'hasbtf'],
      ],
      name,
    );
    t.equal(all.items[1]?.storageKey, 'ubuntu/focal/x86_64/5.4.0-42-generic.failed', name);
    t.ok(all.items[0]?.recordedAt instanceof Date, name);
    const ubuntu = await catalog.listKernelMarkers({ distro: 'ubuntu', kernelPrefix: '5.4.' }, { limit: 1, offset: 1 });
    t.same([ubuntu.total, ubuntu.items.map((m) => m.marker)], [2, ['hasbtf']], name);
  }
});

t.test('imported files: one row per source and key, replaced on each record', async (t) => {
  for (const [name, catalog] of await backends(t)) {
    const base = { source: 'fs:/archive', size: 10, sha256: 'a'.repeat(64), status: 'kernel' as const, reason: null };
    await catalog.recordImportedFile({ ...base, key: 'b.btf', modified: new Date(1000) });
    await catalog.recordImportedFile({ ...base, key: 'a.btf', modified: null, status: 'invalid', reason: 'bad magic', sha256: null });
    await catalog.recordImportedFile({ ...base, key: 'b.btf', modified: new Date(2000), size: 11 });
    await catalog.recordImportedFile({ ...base, source: 's3://other', key: 'c.btf', modified: null });
    const files = await catalog.listImportedFiles('fs:/archive');
    t.same(
      files.map((f) => [f.key, f.size, f.modified?.getTime() ?? null, f.status, f.reason, f.sha256 === null]),
      [
        ['a.btf', 10, null, 'invalid', 'bad magic', true],
        ['b.btf', 11, 2000, 'kernel', null, false],
      ],
      name,
    );
    t.same(await catalog.listImportedFiles('fs:/none'), [], name);
  }
});
