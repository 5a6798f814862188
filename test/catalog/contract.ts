/**
 * The behaviour every catalog backend must have, run against a real database by
 * sqlite.test.ts and postgres.test.ts. Each subtest gets a fresh, empty database from the
 * backend's factory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Test } from 'tap';
import { loadMigrations, type Dialect } from '../../src/catalog/migrations.js';
import { openCatalog, type CatalogBackend, type DatabaseConfig, type KernelRef, type OpenCatalogOptions } from '../../src/catalog/index.js';
import type { Catalog, TrimRecord } from '../../src/catalog/catalog.js';

export interface CatalogFactory {
  dialect: Dialect;
  /** A fresh empty database, and how to throw it away. */
  newDatabase(): Promise<{ database: DatabaseConfig; cleanup: () => Promise<void> }>;
  /** A database that cannot be reached or opened. */
  unreachable: DatabaseConfig;
}

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const SHA_C = 'c'.repeat(64);

const JAMMY: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-56-generic' };

function kernel(ref: KernelRef, sha256 = SHA_A) {
  return { ...ref, storageKey: `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.btf.tar.xz`, size: 1234, sha256 };
}

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2024, 0, 2, 3, 4, 5)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), at: () => now };
}

/** A migrations directory holding `files` (name -> SQL), removed after the test. */
function migrationsDir(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'btfhub-migrations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

export function runCatalogContract(t: Test, factory: CatalogFactory): void {
  /** Opens a catalog on a fresh database, closes and cleans it up after the subtest. */
  async function fresh(
    t: Test,
    options: OpenCatalogOptions & { migrate?: boolean } = {},
  ): Promise<{ catalog: CatalogBackend; database: DatabaseConfig; open: () => Promise<CatalogBackend> }> {
    const { database, cleanup } = await factory.newDatabase();
    const opened: CatalogBackend[] = [];
    const open = async () => {
      const catalog = await openCatalog(database, options);
      opened.push(catalog);
      return catalog;
    };
    t.teardown(async () => {
      for (const catalog of opened) await catalog.close();
      await cleanup();
    });
    const catalog = await open();
    if (options.migrate !== false) await catalog.migrate();
    return { catalog, database, open };
  }

  t.test('migrate applies every migration once; a second migrate is a no-op', async (t) => {
    const clock = manualClock();
    const { catalog } = await fresh(t, { now: clock.now, migrate: false });
    t.same(await catalog.appliedMigrations(), [], 'nothing applied before migrate');

    await catalog.migrate();
    const files = await loadMigrations(factory.dialect);
    t.ok(files.length >= 1);
    const first = await catalog.appliedMigrations();
    t.same(
      first.map((m) => [m.version, m.name]),
      files.map((m) => [m.version, m.name]),
    );
    t.same(first[0]?.appliedAt, new Date(clock.at()));

    clock.advance(60_000);
    await catalog.migrate();
    t.same(await catalog.appliedMigrations(), first, 'second migrate changed nothing');
    await catalog.upsertKernel(kernel(JAMMY));
    await catalog.migrate();
    t.ok(await catalog.getKernel(JAMMY), 'data survives a later migrate');
  });

  t.test('two catalogs migrating the same database at once both succeed, once', async (t) => {
    const { catalog, open } = await fresh(t, { migrate: false });
    const other = await open();
    await Promise.all([catalog.migrate(), other.migrate(), catalog.migrate()]);
    const versions = (await other.appliedMigrations()).map((m) => m.version);
    t.same(
      versions,
      (await loadMigrations(factory.dialect)).map((m) => m.version),
    );
  });

  t.test('two threads migrating the same database at once both succeed, once', async (t) => {
    const { catalog, database } = await fresh(t, { migrate: false });
    // A shared word the workers spin on, so both start migrating at the same moment.
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const workers = [0, 1].map(
      () =>
        new Promise<string>((resolve, reject) => {
          const worker = new Worker(new URL('./migrate-worker.ts', import.meta.url), {
            workerData: { database, gate },
          });
          worker.once('message', (message: string) => resolve(message));
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    t.same(await Promise.all(workers), ['migrated', 'migrated']);
    const versions = (await catalog.appliedMigrations()).map((m) => m.version);
    t.same(
      versions,
      (await loadMigrations(factory.dialect)).map((m) => m.version),
    );
  });

  t.test('a failing migration rolls back every migration of its batch', async (t) => {
    const first = '001_first.sql';
    const good = { [first]: 'CREATE TABLE first_table (x INTEGER NOT NULL);' };
    const broken = {
      ...good,
      '002_broken.sql': 'CREATE TABLE second_table (x INTEGER NOT NULL);\nINSERT INTO no_such_table VALUES (1);',
    };
    const { database } = await fresh(t, { migrate: false });
    const brokenCatalog = await openCatalog(database, { migrationsDir: migrationsDir(t, broken) });
    t.teardown(() => brokenCatalog.close());
    await t.rejects(brokenCatalog.migrate(), /no_such_table/);
    t.same(await brokenCatalog.appliedMigrations(), [], 'nothing recorded');

    // Had 001 survived the failed batch, creating first_table again would fail here.
    const goodCatalog = await openCatalog(database, { migrationsDir: migrationsDir(t, good) });
    t.teardown(() => goodCatalog.close());
    await goodCatalog.migrate();
    t.same(
      (await goodCatalog.appliedMigrations()).map((m) => m.name),
      ['first'],
    );
  });

  t.test('a later migration applies on top; a renamed applied one is refused', async (t) => {
    const { database } = await fresh(t, { migrate: false });
    const open = async (files: Record<string, string>) => {
      const catalog = await openCatalog(database, { migrationsDir: migrationsDir(t, files) });
      t.teardown(() => catalog.close());
      return catalog;
    };
    const one = { '001_first.sql': 'CREATE TABLE first_table (x INTEGER NOT NULL);' };
    await (await open(one)).migrate();
    const two = await open({ ...one, '002_second.sql': 'ALTER TABLE first_table ADD COLUMN y TEXT;' });
    await two.migrate();
    t.same(
      (await two.appliedMigrations()).map((m) => [m.version, m.name]),
      [
        [1, 'first'],
        [2, 'second'],
      ],
    );

    const renamed = await open({ '001_renamed.sql': 'SELECT 1;' });
    await t.rejects(renamed.migrate(), /version 1 was applied as 'first' but the file is '001_renamed.sql'/);
  });

  t.test('upsertKernel tells added, unchanged and updated', async (t) => {
    const clock = manualClock();
    const { catalog } = await fresh(t, { now: clock.now });
    const addedAt = new Date(clock.at());

    t.equal(await catalog.upsertKernel(kernel(JAMMY)), 'added');
    t.same(await catalog.getKernel(JAMMY), { ...kernel(JAMMY), addedAt });

    clock.advance(1000);
    t.equal(await catalog.upsertKernel(kernel(JAMMY)), 'unchanged');

    t.equal(await catalog.upsertKernel(kernel(JAMMY, SHA_B)), 'updated', 'new content');
    t.equal((await catalog.getKernel(JAMMY))?.sha256, SHA_B);

    const moved = { ...kernel(JAMMY, SHA_B), storageKey: 'elsewhere/5.15.0-56-generic.btf' };
    t.equal(await catalog.upsertKernel(moved), 'updated', 'same content, new key');
    t.equal(await catalog.upsertKernel(moved), 'unchanged');

    const stored = await catalog.getKernel(JAMMY);
    t.same(stored, { ...moved, addedAt }, 'addedAt keeps the first insertion time');
    t.equal(await catalog.getKernel({ ...JAMMY, kernel: '5.15.0-57-generic' }), null);
    t.equal(await catalog.getKernel({ ...JAMMY, arch: 'arm64' }), null, 'every key column counts');
  });

  t.test('listKernels orders, filters, paginates and counts', async (t) => {
    const { catalog } = await fresh(t);
    const refs: KernelRef[] = [
      { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-100-generic' },
      { distro: 'centos', distroVersion: '8', arch: 'x86_64', kernel: '4.18.0-305.el8.x86_64' },
      { distro: 'ubuntu', distroVersion: '20.04', arch: 'arm64', kernel: '5.4.0-99-generic' },
      { distro: 'ubuntu', distroVersion: '18.04', arch: 'x86_64', kernel: '4.15.0-20-generic' },
      { distro: 'centos', distroVersion: '7', arch: 'x86_64', kernel: '3.10.0-1160.el7.x86_64' },
      { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-1000-aws' },
      { distro: 'amzn', distroVersion: '2', arch: 'arm64', kernel: '4.14.268-205.500.amzn2.aarch64' },
    ];
    for (const ref of refs) await catalog.upsertKernel(kernel(ref));
    const names = (items: KernelRef[]) => items.map((k) => `${k.distro}/${k.distroVersion}/${k.arch}/${k.kernel}`);

    const all = await catalog.listKernels({}, { limit: 100, offset: 0 });
    t.equal(all.total, refs.length);
    t.same(
      names(all.items),
      [
        'amzn/2/arm64/4.14.268-205.500.amzn2.aarch64',
        'centos/7/x86_64/3.10.0-1160.el7.x86_64',
        'centos/8/x86_64/4.18.0-305.el8.x86_64',
        'ubuntu/18.04/x86_64/4.15.0-20-generic',
        'ubuntu/20.04/arm64/5.4.0-99-generic',
        // Byte order, not version order: '-' sorts before '0', so -100-generic precedes -1000-aws.
        'ubuntu/20.04/x86_64/5.4.0-100-generic',
        'ubuntu/20.04/x86_64/5.4.0-1000-aws',
      ].sort(),
      'sorted by distro, version, arch, kernel in byte order',
    );
    t.same(names(all.items), [...names(all.items)].sort(), 'byte order matches JavaScript string order');
    t.ok(all.items.every((k) => k.addedAt instanceof Date && k.size === 1234));

    const ubuntu = await catalog.listKernels({ distro: 'ubuntu' }, { limit: 100, offset: 0 });
    t.equal(ubuntu.total, 4);
    const focal = await catalog.listKernels({ distro: 'ubuntu', distroVersion: '20.04' }, { limit: 100, offset: 0 });
    t.equal(focal.total, 3);
    const focalArm = await catalog.listKernels({ distro: 'ubuntu', distroVersion: '20.04', arch: 'arm64' }, { limit: 100, offset: 0 });
    t.same(names(focalArm.items), ['ubuntu/20.04/arm64/5.4.0-99-generic']);
    const x86 = await catalog.listKernels({ arch: 'x86_64' }, { limit: 100, offset: 0 });
    t.equal(x86.total, 5);
    const prefix = await catalog.listKernels({ kernelPrefix: '5.4.0-' }, { limit: 100, offset: 0 });
    t.equal(prefix.total, 3);
    const emptyPrefix = await catalog.listKernels({ kernelPrefix: '' }, { limit: 100, offset: 0 });
    t.equal(emptyPrefix.total, refs.length, 'an empty prefix matches everything');
    const none = await catalog.listKernels({ distro: 'debian' }, { limit: 100, offset: 0 });
    t.same(none, { items: [], total: 0 });

    const pages: string[] = [];
    for (let offset = 0; offset < refs.length; offset += 3) {
      const page = await catalog.listKernels({}, { limit: 3, offset });
      t.equal(page.total, refs.length, 'total ignores the page');
      t.ok(page.items.length <= 3);
      pages.push(...names(page.items));
    }
    t.same(pages, names(all.items), 'pages cover the listing in order, without overlap');
    const past = await catalog.listKernels({}, { limit: 3, offset: 100 });
    t.same(past, { items: [], total: refs.length });
    const zero = await catalog.listKernels({ distro: 'centos' }, { limit: 0, offset: 0 });
    t.same(zero, { items: [], total: 2 });
    await t.rejects(catalog.listKernels({}, { limit: -1, offset: 0 }), RangeError);
    await t.rejects(catalog.listKernels({}, { limit: 1, offset: 0.5 }), RangeError);
  });

  t.test('kernelPrefix takes LIKE wildcards and the escape character literally', async (t) => {
    const { catalog } = await fresh(t);
    const kernels = ['a%b', 'axb', 'a_c', 'abc', 'a!d', 'a!!e', 'ABC', 'a\\f'];
    for (const name of kernels) await catalog.upsertKernel(kernel({ ...JAMMY, kernel: name }));
    const match = async (kernelPrefix: string) =>
      (await catalog.listKernels({ kernelPrefix }, { limit: 100, offset: 0 })).items.map((k) => k.kernel);

    t.same(await match('a%'), ['a%b'], "'%' is literal");
    t.same(await match('a_'), ['a_c'], "'_' is literal");
    t.same(await match('a!'), ['a!!e', 'a!d'], "'!' (the escape character) is literal");
    t.same(await match('a!!'), ['a!!e']);
    t.same(await match('a\\'), ['a\\f'], 'backslash is literal');
    t.same(await match('ab'), ['abc'], 'matching is case-sensitive');
    t.same(await match('AB'), ['ABC']);
    t.same(await match('%'), [], "a lone '%' matches nothing");
    t.same(await match('a'), kernels.filter((k) => k.startsWith('a')).sort());
  });

  t.test('recordTrim is idempotent and getTrim returns what was recorded', async (t) => {
    const clock = manualClock();
    const { catalog } = await fresh(t, { now: clock.now });
    const trim = {
      objectsHash: SHA_A,
      kernel: JAMMY,
      kernelSha256: SHA_C,
      resultKey: `trimmed/${SHA_B}.btf`,
      resultSha256: SHA_B,
      size: 4321,
      durationMs: 87,
    };
    t.equal(await catalog.getTrim(SHA_A, JAMMY, SHA_C), null);
    t.equal(await catalog.countTrims(), 0);

    await catalog.recordTrim(trim);
    const createdAt = new Date(clock.at());
    clock.advance(5000);
    await catalog.recordTrim({ ...trim, resultKey: `trimmed/${SHA_C}.btf`, resultSha256: SHA_C, durationMs: 99 });
    t.equal(await catalog.countTrims(), 1, 'a second record of the same trim is ignored');
    t.same(await catalog.getTrim(SHA_A, JAMMY, SHA_C), { ...trim, hits: 0, createdAt }, 'the first record is kept');
    t.equal(await catalog.getTrim(SHA_A, JAMMY, SHA_A), null, 'a trim of other kernel content is not this one');

    await catalog.recordTrim({ ...trim, kernel: { ...JAMMY, arch: 'arm64' } });
    await catalog.recordTrim({ ...trim, objectsHash: SHA_C });
    await catalog.recordTrim({ ...trim, kernelSha256: SHA_A, resultKey: `trimmed/${SHA_A}.btf`, resultSha256: SHA_A });
    t.equal(await catalog.countTrims(), 4, 'other kernels, other kernel content and other objects are other trims');
    t.equal((await catalog.getTrim(SHA_A, JAMMY, SHA_A))?.resultSha256, SHA_A, 'each content has its own trim');
    t.equal(await catalog.getTrim(SHA_B, JAMMY, SHA_C), null);
    const listed = await catalog.listTrims({ limit: 10, offset: 0 });
    t.equal(listed.total, 4);
    t.equal(listed.items.length, 4);
    await catalog.deleteTrim(SHA_A, JAMMY, SHA_A);
    t.equal(await catalog.getTrim(SHA_A, JAMMY, SHA_A), null, 'deleted');
    t.ok(await catalog.getTrim(SHA_A, JAMMY, SHA_C), 'the other content kept');
  });

  /** Trims of objects A and of objects C for JAMMY's content B, no hits yet: what the hit tests count on. */
  async function twoTrims(catalog: Catalog): Promise<Omit<TrimRecord, 'hits' | 'createdAt'>> {
    const trim = {
      objectsHash: SHA_A,
      kernel: JAMMY,
      kernelSha256: SHA_B,
      resultKey: 'trimmed/x.btf',
      resultSha256: SHA_B,
      size: 1,
      durationMs: 0,
    };
    await catalog.recordTrim(trim);
    await catalog.recordTrim({ ...trim, objectsHash: SHA_C });
    return trim;
  }

  t.test('recordTrimHit counts hits', async (t) => {
    const { catalog } = await fresh(t);
    await twoTrims(catalog);
    for (let i = 0; i < 3; i++) await catalog.recordTrimHit(SHA_A, JAMMY, SHA_B);
    await Promise.all([catalog.recordTrimHit(SHA_A, JAMMY, SHA_B), catalog.recordTrimHit(SHA_A, JAMMY, SHA_B)]);
    t.equal((await catalog.getTrim(SHA_A, JAMMY, SHA_B))?.hits, 5);
    t.equal((await catalog.getTrim(SHA_C, JAMMY, SHA_B))?.hits, 0, 'only the hit trim counts');
    await catalog.recordTrimHit(SHA_B, JAMMY, SHA_B);
    t.equal(await catalog.countTrims(), 2, 'a hit on an unknown trim creates nothing');
  });

  t.test('recordTrimHits adds each count in one write', async (t) => {
    const { catalog } = await fresh(t);
    const trim = await twoTrims(catalog);
    await catalog.recordTrim({ ...trim, kernelSha256: SHA_C });
    await catalog.recordTrimHit(SHA_A, JAMMY, SHA_B);
    await catalog.recordTrimHits([
      { objectsHash: SHA_A, kernel: JAMMY, kernelSha256: SHA_B, count: 41 },
      { objectsHash: SHA_C, kernel: JAMMY, kernelSha256: SHA_B, count: 7 },
      // The same trim twice in one batch: both counts.
      { objectsHash: SHA_C, kernel: JAMMY, kernelSha256: SHA_B, count: 3 },
      // No such trim: nothing is created.
      { objectsHash: SHA_B, kernel: JAMMY, kernelSha256: SHA_B, count: 5 },
    ]);
    await catalog.recordTrimHits([]);
    t.equal((await catalog.getTrim(SHA_A, JAMMY, SHA_B))?.hits, 42, 'added to the hits counted before');
    t.equal((await catalog.getTrim(SHA_C, JAMMY, SHA_B))?.hits, 10);
    t.equal((await catalog.getTrim(SHA_A, JAMMY, SHA_C))?.hits, 0, 'the same objects on other kernel content: untouched');
    t.equal(await catalog.countTrims(), 3, 'a hit on an unknown trim creates nothing');
  });

  t.test('recordObject keeps the first sighting and moves the last', async (t) => {
    const clock = manualClock();
    const { catalog } = await fresh(t, { now: clock.now });
    const first = new Date(clock.at());
    await catalog.recordObject(SHA_A, 2048);
    t.same(await catalog.getObject(SHA_A), { sha256: SHA_A, size: 2048, firstSeen: first, lastSeen: first });

    clock.advance(3_600_000);
    await catalog.recordObject(SHA_A, 2048);
    t.same(await catalog.getObject(SHA_A), {
      sha256: SHA_A,
      size: 2048,
      firstSeen: first,
      lastSeen: new Date(clock.at()),
    });
    t.equal(await catalog.getObject(SHA_B), null);
  });

  t.test('job files: recorded, re-recorded by a rebuild, listed, forgotten only while they name the key', async (t) => {
    const { catalog } = await fresh(t);
    const id = `compat-${SHA_A}`;
    t.equal(await catalog.getJobFile(id, 'report'), null);
    await catalog.recordJobFile({ jobId: id, role: 'report', storageKey: `reports/compat/${id}.json`, sha256: SHA_A, size: 10 });
    t.match(await catalog.getJobFile(id, 'report'), {
      jobId: id,
      role: 'report',
      storageKey: `reports/compat/${id}.json`,
      sha256: SHA_A,
      size: 10,
    });
    const rebuild = `reports/compat/compat-${SHA_B}.json`;
    await catalog.recordJobFile({ jobId: id, role: 'report', storageKey: rebuild, sha256: SHA_B, size: 11 });
    t.match(await catalog.getJobFile(id, 'report'), { storageKey: rebuild, sha256: SHA_B, size: 11 }, 'a rebuild replaces the row');
    await catalog.recordJobFile({
      jobId: `bundle-${SHA_A}`,
      role: 'bundle',
      storageKey: `bundles/bundle-${SHA_A}.tar.gz`,
      sha256: SHA_A,
      size: 3,
    });
    const listed = await catalog.listJobFiles({ limit: 10, offset: 0 });
    t.equal(listed.total, 2);
    t.same(
      listed.items.map((f) => [f.jobId, f.role]),
      [
        [`bundle-${SHA_A}`, 'bundle'],
        [id, 'report'],
      ],
    );
    await catalog.deleteJobFile(id, 'report', `reports/compat/${id}.json`);
    t.match(await catalog.getJobFile(id, 'report'), { storageKey: rebuild }, 'a delete for the old key leaves the rebuilt row');
    await catalog.deleteJobFile(id, 'report', rebuild);
    t.equal(await catalog.getJobFile(id, 'report'), null);
  });

  t.test('sizes and timestamps beyond 32 bits round-trip', async (t) => {
    const clock = manualClock(Date.UTC(2100, 0, 1));
    const { catalog } = await fresh(t, { now: clock.now });
    const big = { ...kernel(JAMMY), size: 5 * 2 ** 32 + 7 };
    await catalog.upsertKernel(big);
    t.same(await catalog.getKernel(JAMMY), { ...big, addedAt: new Date(Date.UTC(2100, 0, 1)) });
  });

  t.test('check() passes on an open database and rejects once closed', async (t) => {
    const { catalog } = await fresh(t, { migrate: false });
    await catalog.check();
    t.pass('check on a fresh, unmigrated database');
    await catalog.close();
    await t.rejects(catalog.check(), 'check after close');
    await catalog.close();
    t.pass('closing twice is harmless');
  });

  t.test('check() rejects when the database cannot be reached', async (t) => {
    await t.rejects(async () => {
      const catalog = await openCatalog(factory.unreachable);
      try {
        await catalog.check();
      } finally {
        await catalog.close();
      }
    });
  });
}
