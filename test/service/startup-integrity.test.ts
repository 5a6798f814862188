/**
 * Issue 10, start-up: a data directory that is a file, a catalog missing (or empty) while the
 * store holds data, a damaged catalog, a catalog that cannot be opened stop `btfhub serve`
 * with one line saying what and how to recover, no stack trace, exit 1; temporary files of
 * killed writes are swept at start; an uploaded kernel wins over an `--archive` copy of the
 * same identity at every start.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { createServeCommand } from '../../src/cli/commands/serve.js';
import { runCli } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config/schema.js';
import { registerStartupKernels } from '../../src/kernels/startup.js';
import { createBackends } from '../../src/service/backends.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { kernelContentKey } from '../../src/storage/keys.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { freePort } from '../helpers/net.js';

const fixtures = await loadFixtures();
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function tempDir(t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `btfhub-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `btfhub serve --data DATA`; stops it once listening. Resolves with the exit code and the output. */
async function serve(data: string, extra: string[] = []): Promise<{ code: number; stderr: string; stdout: string }> {
  let stdout = '';
  let stderr = '';
  const signals = new EventEmitter();
  const command = createServeCommand({
    env: { BTFHUB_REGISTER_HOST_KERNEL: 'false', LOG_LEVEL: 'info' },
    signals,
    exit: () => undefined,
    onListening: () => setImmediate(() => signals.emit('SIGTERM', 'SIGTERM')),
  });
  const io = {
    stdout: { write: (c: string | Uint8Array) => void (stdout += String(c)) },
    stderr: { write: (c: string | Uint8Array) => void (stderr += String(c)) },
  };
  const code = await runCli(['serve', '--data', data, '--port', String(await freePort()), ...extra], io, [command]);
  return { code, stderr, stdout };
}

function oneLine(t: Test, result: { code: number; stderr: string }, pattern: RegExp): void {
  t.equal(result.code, 1, 'exit 1');
  t.match(result.stderr, pattern);
  t.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  t.notMatch(result.stderr, /internal error|\n\s+at /, 'no stack trace');
}

t.test('--data is a file', async (t) => {
  const dir = await tempDir(t, 'startup');
  const file = join(dir, 'data');
  await writeFile(file, 'not a directory');
  oneLine(t, await serve(file), /data directory .* is a file, not a directory/);
});

t.test('a catalog missing or empty while the store holds data; a damaged one; one that cannot be opened', async (t) => {
  const data = await tempDir(t, 'startup');
  // A first start makes the catalog and the store; an object stands for what the service stored.
  t.equal((await serve(data)).code, 0, 'a fresh install starts');
  await mkdir(join(data, 'objects', 'objects'), { recursive: true });
  await writeFile(join(data, 'objects', 'objects', `${'a'.repeat(64)}.o`), 'x');
  const catalog = join(data, 'catalog.sqlite');
  for (const f of ['catalog.sqlite', 'catalog.sqlite-wal', 'catalog.sqlite-shm']) await rm(join(data, f), { force: true });
  oneLine(
    t,
    await serve(data),
    /catalog .*catalog\.sqlite is missing but the store .* holds data: .*btfhub import --data .*kernels uploaded through the API must be uploaded again/,
  );
  await writeFile(catalog, '');
  oneLine(t, await serve(data), /catalog .* is empty but the store/);
  await writeFile(catalog, Buffer.alloc(8192, 0x5a));
  oneLine(
    t,
    await serve(data),
    /catalog .*catalog\.sqlite is damaged \(.*\): restore it from a backup, or move it away and rebuild it with `btfhub import --data/,
  );
  await rm(catalog);
  await mkdir(catalog);
  oneLine(t, await serve(data), /catalog .*catalog\.sqlite (cannot be opened for writing|is not usable)/);
});

t.test("temporary files of killed writes are swept at start; a live writer's are kept", async (t) => {
  const data = await tempDir(t, 'startup');
  const dir = join(data, 'objects', 'trimmed');
  await mkdir(dir, { recursive: true });
  // pid 2^22+1 is above Linux's pid_max: no such process.
  await writeFile(join(dir, '.btfhub-tmp-4194305-0123456789abcdef'), Buffer.alloc(4096));
  await writeFile(join(dir, `.btfhub-tmp-${process.pid}-fedcba9876543210`), Buffer.alloc(16));
  const result = await serve(data);
  t.equal(result.code, 0, result.stderr);
  t.same(
    (await readdir(dir)).sort(),
    [`.btfhub-tmp-${process.pid}-fedcba9876543210`],
    "the dead writer's file removed, the live one's kept",
  );
  t.match(result.stdout, /"files":1,"bytes":4096.*temporary files of killed writes removed/);
});

t.test('an uploaded kernel wins over an --archive copy of the same identity, at every start', async (t) => {
  const data = await tempDir(t, 'startup');
  const archiveDir = await tempDir(t, 'startup-archive');
  const ref = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
  await mkdir(join(archiveDir, 'ubuntu', '22.04', 'x86_64'), { recursive: true });
  await writeFile(join(archiveDir, 'ubuntu', '22.04', 'x86_64', '5.15.0-91-generic.btf'), fixtures.vmlinux);
  const config = loadConfig({ BTFHUB_DATA_DIR: data, BTFHUB_ARCHIVE_DIR: archiveDir, BTFHUB_REGISTER_HOST_KERNEL: 'false' });
  const logger = pino({ level: 'silent' });

  const start = async () => {
    const backends = createBackends(config, { logger });
    const { catalog } = await backends.prepare({ serving: true });
    await registerStartupKernels(config, { archive: backends.archive, serviceStore: backends.serviceStore, catalog, logger });
    return backends;
  };
  let backends = await start();
  t.equal((await (await backends.catalog()).getKernel(ref))?.sha256, sha256(fixtures.vmlinux), "the archive's kernel registered");

  // What POST /api/v1/kernels does: content under its sha256, then the catalog switched.
  const uploaded = fixtures.oracle.all;
  const key = kernelContentKey(sha256(uploaded), 'btf');
  await backends.store.put(key, uploaded);
  await (await backends.catalog()).upsertKernel({ ...ref, storageKey: key, size: uploaded.length, sha256: sha256(uploaded) });
  await backends.close();

  for (const round of [1, 2]) {
    backends = await start();
    const record = await (await backends.catalog()).getKernel(ref);
    t.match(record, { storageKey: key, sha256: sha256(uploaded) }, `restart ${round}: the upload is kept`);
    t.equal(sha256((await backends.store.get(record!.storageKey))!), record!.sha256, 'catalog and store agree');
    await backends.close();
  }
  t.ok(await new FsObjectStore(archiveDir).head('ubuntu/22.04/x86_64/5.15.0-91-generic.btf'), 'the archive is never written');
});
