/** createBackends: made on first use, failures named, closed together. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config/schema.js';
import { BullmqJobQueue } from '../../src/queue/bullmq.js';
import { InlineJobQueue } from '../../src/queue/inline.js';
import { createBackends } from '../../src/service/backends.js';
import { BackendUnavailableError } from '../../src/service/errors.js';
import { ArchiveOverlayStore } from '../../src/storage/archive-overlay.js';

const logger = pino({ level: 'silent' });

async function dataDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-backends-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the embedded backends: store, migrated catalog, in-process queue; the same objects on every use', async (t) => {
  const dir = await dataDir(t);
  const backends = createBackends(loadConfig({ BTFHUB_DATA_DIR: dir }), { logger });
  const { store, catalog } = await backends.prepare();
  t.equal(store, backends.store, 'one store');
  t.equal(catalog, await backends.catalog(), 'one catalog');
  t.ok((await catalog.appliedMigrations()).length > 0, 'migrated');
  t.equal(await backends.jobs(), await backends.jobs(), 'one queue');
  t.ok((await backends.jobs()) instanceof InlineJobQueue, 'in-process without REDIS_URL');
  t.equal(backends.archive, null, 'no archive configured');
  await t.rejects(backends.jobWorker(), BackendUnavailableError, 'no consumer without Redis');
  await backends.close();
  await backends.close();
  await t.rejects(
    (await backends.jobs()).enqueue('sync', 'sync-1', { kind: 'sync', source: dir, trigger: 'admin' }),
    /closed/,
    'closed together',
  );
});

t.test('with an archive: the store reads through to it, writes go to the service store', async (t) => {
  const dir = await dataDir(t);
  const archiveDir = await dataDir(t);
  await writeFile(join(archiveDir, 'marker'), 'x');
  const backends = createBackends(loadConfig({ BTFHUB_DATA_DIR: dir, BTFHUB_ARCHIVE_DIR: archiveDir }), { logger });
  t.teardown(() => backends.close());
  t.ok(backends.store instanceof ArchiveOverlayStore);
  t.not(backends.serviceStore, backends.store);
  t.ok(await backends.store.head('marker'), 'read through');
});

t.test('with REDIS_URL: a BullMQ producer, made on first use only', async (t) => {
  const dir = await dataDir(t);
  const backends = createBackends(
    loadConfig({ BTFHUB_DATA_DIR: dir, REDIS_URL: 'redis://127.0.0.1:1', BTFHUB_QUEUE_PREFIX: `btfhub-backends-${process.pid}` }),
    {
      logger,
      operationTimeoutMs: 300,
    },
  );
  t.teardown(() => backends.close());
  t.ok((await backends.jobs()) instanceof BullmqJobQueue);
});

t.test('a store or catalog that is not usable: BackendUnavailableError naming it', async (t) => {
  const dir = await dataDir(t);
  const file = join(dir, 'not-a-directory');
  await writeFile(file, 'x');
  const badStore = createBackends(loadConfig({ BTFHUB_DATA_DIR: dir, BTFHUB_ARCHIVE_DIR: file }), { logger });
  t.teardown(() => badStore.close());
  await t.rejects(badStore.prepare(), { name: 'BackendUnavailableError', message: /object store .* is not usable/ });

  const badCatalog = createBackends(loadConfig({ BTFHUB_DATA_DIR: dir, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }), { logger });
  t.teardown(() => badCatalog.close());
  await t.rejects(badCatalog.prepare(), { name: 'BackendUnavailableError', message: /catalog \(postgres\) migration failed/ });
});
