/**
 * `btfhub import` over the test archive: every valid kernel registered (and copied into the
 * service's store), the corrupt one reported with its path, markers recorded, the release
 * alias counted once; a second run adds nothing and reads nothing; an interrupted run
 * resumes; a source the service already reads is registered in place; S3 sources work.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readKernelBtfFile } from '../../src/archive/index.js';
import { openCatalog, type CatalogBackend } from '../../src/catalog/index.js';
import { runCli } from '../../src/cli/run.js';
import { createImportCommand } from '../../src/cli/commands/import.js';
import { loadConfig } from '../../src/config/schema.js';
import { buildBundle } from '../../src/bundle/bundle.js';
import { parseBpfObject } from '../../src/btf/index.js';
import { compatReport } from '../../src/coverage/compat.js';
import { archiveKernels, catalogKernels } from '../../src/coverage/kernel-source.js';
import { parseArchiveKey } from '../../src/kernels/archive-layout.js';
import { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { executorTrimmer } from '../../src/jobs/bundle.js';
import { importKernels, ImportSourceError, openImportSource } from '../../src/kernels/import.js';
import { FsObjectStore, S3ObjectStore } from '../../src/storage/index.js';
import { sha256Hex } from '../../src/storage/integrity.js';
import { derivedKernelKey, kernelContentKey } from '../../src/storage/keys.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { startS3Server } from '../helpers/s3.js';
import { testArchive } from '../helpers/test-archive.js';

const archive = await testArchive();
const source = new FsObjectStore(archive.dir);

async function deployment(t: Test, extraEnv: Record<string, string> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'btfhub-import-test-'));
  const env = { BTFHUB_DATA_DIR: dataDir, ...extraEnv };
  const config = loadConfig(env);
  const catalog: CatalogBackend = await openCatalog(config.database);
  await catalog.migrate();
  const store = new FsObjectStore(join(dataDir, 'objects'));
  t.teardown(async () => {
    await catalog.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { dataDir, env, config, catalog, store };
}

t.test('first run registers and copies every valid kernel; the corrupt one is reported with its path', async (t) => {
  const { catalog, store } = await deployment(t);
  const first = await importKernels(source, { store }, catalog);
  t.match(first, {
    added: archive.kernels.length,
    updated: 0,
    unchanged: 0,
    markers: 2,
    aliases: 0,
    ignored: 1,
    unread: 0,
    copied: archive.kernels.length,
  });
  t.equal(first.copiedInto, store.description);
  t.same(
    first.invalid.map((i) => i.key),
    [archive.corruptKey],
  );
  t.match(first.invalid[0]!.reason, /^amzn\/2\/x86_64\/5\.10\.0-1\.amzn2\.x86_64\.btf\.tar\.xz: xz: /);

  // Coverage: the catalog holds exactly the archive's kernel files, each copied under its
  // content key (kernel-files/<sha256>.<format>), never at its identity key.
  const { items, total } = await catalog.listKernels({}, { limit: 100, offset: 0 });
  t.equal(total, archive.kernels.length);
  const byIdentity = new Map(archive.kernels.map((k) => [`${k.ref.distro}/${k.ref.distroVersion}/${k.ref.arch}/${k.ref.kernel}`, k]));
  for (const k of items) {
    const file = byIdentity.get(`${k.distro}/${k.distroVersion}/${k.arch}/${k.kernel}`)!;
    const original = new Uint8Array(await readFile(join(archive.dir, file.key)));
    t.equal(k.storageKey, kernelContentKey(sha256Hex(original), file.format), `${file.key} registered under its content key`);
    const copy = await store.get(k.storageKey);
    t.ok(copy && Buffer.from(copy).equals(original), `${file.key} copied`);
    t.equal(await store.head(file.key), null, `${file.key} is not written at its identity key`);
  }
  t.equal(
    (await catalog.listKernels({ distro: 'ubuntu', distroVersion: '20.04' }, { limit: 10, offset: 0 })).total,
    3,
    'focal -> 20.04 once',
  );
  const markers = await catalog.listKernelMarkers({}, { limit: 10, offset: 0 });
  t.same(
    markers.items.map((m) => [m.distro, m.distroVersion, m.arch, m.kernel, m.marker]),
    archive.markers.map((m) => [m.ref.distro, m.ref.distroVersion, m.ref.arch, m.ref.kernel, m.marker]).sort(),
  );

  const second = await importKernels(source, { store }, catalog);
  t.match(second, { added: 0, updated: 0, unchanged: archive.kernels.length, unread: archive.kernels.length + 1, copied: 0, markers: 2 });
  t.same(second.invalid, first.invalid, 'the corrupt file is still reported, from what the first run found');
});

t.test('registered kernels feed compat reports and bundles (what the HTTP routes build on)', async (t) => {
  const { catalog, store } = await deployment(t);
  await importKernels(source, { store }, catalog);
  const objects = [parseBpfObject((await loadFixtures()).objects.get('tools_like')!.bytes, 'tools_like.bpf.o')];
  const fromCatalog = await catalogKernels(catalog, store, { distro: 'ubuntu' }, { rawCache: store, pageSize: 2 });
  const ubuntu = archive.kernels.filter((k) => k.ref.distro === 'ubuntu');
  t.same(
    fromCatalog.map((k) => k.source),
    await Promise.all(
      ubuntu.map(async (k) => kernelContentKey(sha256Hex(new Uint8Array(await readFile(join(archive.dir, k.key)))), k.format)),
    ),
    'every ubuntu kernel, in the catalog order, read from its content key',
  );
  const viaCatalog = await buildBundle(fromCatalog, objects);
  const viaArchive = await buildBundle((await archiveKernels(source, { distro: 'ubuntu' })).kernels, objects);
  t.ok(Buffer.from(viaCatalog.archive!).equals(Buffer.from(viaArchive.archive!)), 'the same bundle as from the archive directory');
  const derived: string[] = [];
  for await (const o of store.list('derived/')) derived.push(o.key);
  t.equal(derived.length, 2, 'the two .btf.tar.xz kernels were unpacked once (by the import), under derived/<sha256>/');
  const report = await compatReport(fromCatalog, objects);
  t.equal(report.kernels.length, 6);

  // A stored file that changed since it was registered is refused, as trim jobs refuse it.
  const raw = archive.kernels.find((k) => k.ref.distro === 'ubuntu' && k.format === 'btf')!;
  const rawKey = (await catalog.getKernel(raw.ref))!.storageKey;
  await store.put(rawKey, new Uint8Array(await readFile(join(archive.dir, 'debian/12/x86_64/6.1.0-9-amd64.btf'))));
  const changed = (await catalogKernels(catalog, store, { distro: 'ubuntu' })).find((k) => k.source === rawKey)!;
  await t.rejects(changed.load(), /sha256 [0-9a-f]{64} is not the registered/);
});

t.test('import keeps the BTF it unpacked as the unpacked copy of each .btf.tar.xz kernel: the first load reads it, no xz', async (t) => {
  const { catalog, store } = await deployment(t);
  await importKernels(source, { store }, catalog);
  const packed = archive.kernels.filter((k) => k.format === 'btf.tar.xz');
  t.ok(packed.length >= 2, 'the test archive has .btf.tar.xz kernels');
  for (const k of packed) {
    const record = (await catalog.getKernel(k.ref))!;
    const copy = await catalog.getDerivedFile(record.sha256, 'btf');
    t.ok(copy, `${k.key}: unpacked copy recorded`);
    const want = await readKernelBtfFile(new Uint8Array(await readFile(join(archive.dir, k.key))), k.key);
    const bytes = await store.get(copy!.storageKey);
    t.ok(bytes && Buffer.from(bytes).equals(Buffer.from(want)), `${k.key}: the copy is the BTF inside the archive`);
    t.equal(copy!.sha256, sha256Hex(want), `${k.key}: recorded with its sha256`);
  }
  t.equal((await catalog.listDerivedFiles({ limit: 100, offset: 0 })).total, packed.length, 'raw .btf kernels get no copy');

  // A trim's (or bundle's) load of such a kernel reads the copy and never the packed file.
  const reads: string[] = [];
  const watched = Object.assign(Object.create(store) as FsObjectStore, {
    get: (key: string) => {
      reads.push(key);
      return store.get(key);
    },
  });
  const kernels = await catalogKernels(catalog, watched, {}, { rawCache: watched });
  for (const k of packed) {
    const input = kernels.find(
      (i) => i.ref.kernel === k.ref.kernel && i.ref.arch === k.ref.arch && i.ref.distroVersion === k.ref.distroVersion,
    )!;
    reads.length = 0;
    await input.loadRaw!();
    t.same(
      reads,
      [derivedKernelKey((await catalog.getKernel(k.ref))!.sha256, k.ref.kernel, 'btf')],
      `${k.key}: loaded from its copy alone`,
    );
  }
});

t.test("a bundle on codec threads reads each kernel's copy into a buffer a thread gave back: the same archive", async (t) => {
  const { catalog, store } = await deployment(t);
  await importKernels(source, { store }, catalog);
  const fx = await loadFixtures();
  const tools = fx.objects.get('tools_like')!;
  const inProcess = await buildBundle(await catalogKernels(catalog, store, {}, { rawCache: store }), [
    parseBpfObject(tools.bytes, 'tools_like.bpf.o'),
  ]);
  const codec = new WorkerCodecExecutor({ threads: 1, heapMb: 512, taskTimeoutMs: 120_000, kernelCacheBytes: 1 << 30 });
  t.teardown(() => codec.close());
  const kernels = await catalogKernels(catalog, store, {}, { rawCache: store });
  const threaded = await buildBundle(kernels, [], {
    trimmer: executorTrimmer(codec, [{ name: 'tools_like.bpf.o', bytes: tools.bytes }]),
    loadAhead: 1,
  });
  t.ok(Buffer.from(threaded.archive!).equals(Buffer.from(inProcess.archive!)), 'byte-identical to the in-process bundle');
  t.same(
    threaded.failures.map((f) => f.source),
    inProcess.failures.map((f) => f.source),
  );
  // Each kernel a thread trimmed comes back; the reads of unpacked copies (the .btf.tar.xz
  // kernels) take them. Raw files are read as they are stored.
  const { reused, fresh } = codec.spares.stats();
  const packed = archive.kernels.filter((k) => k.format === 'btf.tar.xz').length;
  t.equal(reused + fresh, packed, `one buffer for each of the ${packed} copies read`);
  t.ok(reused >= 1, `${reused} of them given back by the thread, ${fresh} new`);
});

t.test('with unpackedCopies false (BTFHUB_UNPACK_AT_IMPORT=false) import keeps no copy: the first load makes it', async (t) => {
  const { catalog, store } = await deployment(t);
  await importKernels(source, { store }, catalog, { unpackedCopies: false });
  t.equal((await catalog.listDerivedFiles({ limit: 100, offset: 0 })).total, 0, 'no copy recorded');
  const derived: string[] = [];
  for await (const o of store.list('derived/')) derived.push(o.key);
  t.same(derived, [], 'none stored');
  const packed = archive.kernels.find((k) => k.format === 'btf.tar.xz')!;
  const input = (await catalogKernels(catalog, store, {}, { rawCache: store })).find(
    (i) => i.ref.kernel === packed.ref.kernel && i.ref.arch === packed.ref.arch && i.ref.distroVersion === packed.ref.distroVersion,
  )!;
  await input.loadRaw!();
  t.equal((await catalog.listDerivedFiles({ limit: 100, offset: 0 })).total, 1, 'made on first use');
});

t.test('an interrupted run continues where it stopped', async (t) => {
  const { catalog, store } = await deployment(t);
  let reports = 0;
  await t.rejects(
    importKernels(source, { store }, catalog, {
      concurrency: 1,
      onProgress: () => {
        if (++reports === 4) throw new Error('interrupted');
      },
    }),
    /interrupted/,
  );
  // Key order: the corrupt amzn file first, then three kernels.
  t.equal((await catalog.listKernels({}, { limit: 100, offset: 0 })).total, 3);
  const resumed = await importKernels(source, { store }, catalog, { concurrency: 1 });
  t.match(resumed, { added: archive.kernels.length - 3, unchanged: 3, unread: 4 });
  t.equal(resumed.invalid.length, 1);
  t.equal((await catalog.listKernels({}, { limit: 100, offset: 0 })).total, archive.kernels.length);
});

t.test('the configured archive directory is registered in place, not copied', async (t) => {
  const { catalog, store } = await deployment(t);
  const inPlace = await importKernels(source, { store, archive: new FsObjectStore(archive.dir) }, catalog);
  t.match(inPlace, { added: archive.kernels.length, copied: 0, copiedInto: null, registeredIn: source.description });
  const written: string[] = [];
  for await (const o of store.list()) written.push(o.key);
  // Only the unpacked copies of its .btf.tar.xz kernels land in the service's store; the archive is never written to.
  const packed = archive.kernels.filter((k) => k.format === 'btf.tar.xz');
  t.same(
    written.sort(),
    await Promise.all(packed.map(async (k) => derivedKernelKey((await catalog.getKernel(k.ref))!.sha256, k.ref.kernel, 'btf'))).then(
      (keys) => keys.sort(),
    ),
  );
});

t.test('btfhub import prints a summary; --strict fails on invalid files', async (t) => {
  const { env } = await deployment(t, { BTFHUB_ARCHIVE_DIR: archive.dir });
  const command = createImportCommand({ env });
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const status = await runCli(
      argv,
      { stdout: { write: (s) => (stdout += String(s)) }, stderr: { write: (s) => (stderr += String(s)) } },
      [command],
    );
    return { status, stdout, stderr };
  };
  const first = await cli(['import', archive.dir]);
  t.equal(first.status, 0, first.stderr);
  t.match(first.stdout, /^imported fs:\S+ in place in [\d.]+s\n {2}added 10, updated 0, unchanged 0, invalid 1\n/);
  t.match(first.stdout, /invalid files \(not registered\):\n {2}amzn\/2\/x86_64\/5\.10\.0-1\.amzn2\.x86_64\.btf\.tar\.xz: xz: /);
  const second = await cli(['import', '--strict', archive.dir]);
  t.equal(second.status, 1);
  t.match(second.stdout, /added 0, updated 0, unchanged 10, invalid 1/);
  t.match(second.stdout, /not re-read 11/);
  t.match(await cli(['import', join(archive.dir, 'no-such-dir')]), { status: 1, stderr: /no-such-dir: no such directory/ });
  t.match(await cli(['import', 'ftp://example.com/archive']), { status: 1, stderr: /only directories and s3:\/\/bucket\/prefix/ });
  t.match(await cli(['import', '--concurrency', '0', archive.dir]), { status: 1, stderr: /--concurrency 0/ });

  // Port 1 on the loopback refuses at once: the catalog cannot be migrated, said in one line.
  const unreachable = createImportCommand({ env: { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' } });
  let stderr = '';
  const status = await runCli(['import', archive.dir], { stdout: { write: () => true }, stderr: { write: (s) => (stderr += String(s)) } }, [
    unreachable,
  ]);
  t.equal(status, 1);
  t.match(stderr, /^btfhub import: catalog \(postgres\) migration failed: .*ECONNREFUSED/);
});

t.test('an s3://bucket/prefix source', async (t) => {
  const server = await startS3Server();
  t.teardown(() => server.stop());
  const s3 = new S3ObjectStore({ ...server, prefix: 'mirror', forcePathStyle: true });
  t.teardown(() => s3.close());
  const pick = archive.kernels.filter((k) => k.ref.distro === 'debian');
  for (const k of pick) await s3.put(k.key, await readFile(join(archive.dir, k.key)));
  await s3.put('debian/12/arm64/6.1.0-10-arm64.failed', new Uint8Array(0));
  // An S3 copy of the archive holds alias directories as real keys: the same kernel twice.
  await s3.put('ubuntu/focal/x86_64/5.4.0-42-generic.btf', await readFile(join(archive.dir, 'ubuntu/20.04/arm64/5.4.0-42-generic.btf')));
  await s3.put('ubuntu/20.04/x86_64/5.4.0-42-generic.btf', await readFile(join(archive.dir, 'ubuntu/20.04/arm64/5.4.0-42-generic.btf')));

  const { catalog, store } = await deployment(t);
  const first = await importKernels(s3, { store }, catalog);
  t.match(first, { added: pick.length + 1, aliases: 1, markers: 1, invalid: [], copied: pick.length + 1, source: 's3://' });
  const second = await importKernels(s3, { store }, catalog);
  t.match(second, { added: 0, unchanged: pick.length + 1, unread: pick.length + 1 });

  const opened = await openImportSource(`s3://${server.bucket}/mirror/`, {
    storage: { kind: 's3', ...server, prefix: '', forcePathStyle: true },
  });
  t.equal(opened.description, `s3://${server.bucket}/mirror/`);
  const listed: string[] = [];
  for await (const o of opened.list('debian/')) listed.push(o.key);
  t.equal(listed.length, pick.length + 1);
  await opened.close();
  await t.rejects(openImportSource(join(archive.dir, 'README.md'), { storage: { kind: 'fs', root: '/x' } }), ImportSourceError);
});

t.test('archive keys: kernels, markers, and what is not part of the layout', async (t) => {
  const at = (key: string) => parseArchiveKey({ key, size: 1 });
  t.match(at('ubuntu/focal/aarch64/5.4.0-1-generic.btf.tar.xz'), {
    type: 'kernel',
    format: 'btf.tar.xz',
    ref: { distroVersion: '20.04', arch: 'arm64' },
  });
  t.match(at('centos/8/x86_64/4.18.0-80.el8.x86_64.failed'), { type: 'marker', marker: 'failed', ref: { kernel: '4.18.0-80.el8.x86_64' } });
  t.match(at('fedora/38/x86_64/6.2.9-300.fc38.x86_64.hasbtf'), { type: 'marker', marker: 'hasbtf' });
  t.match(at('README.md'), { type: 'skipped', invalid: false });
  t.match(at(`trimmed/${'a'.repeat(64)}.btf`), { type: 'skipped', invalid: false });
  t.match(at(`derived/${'a'.repeat(64)}/5.4.0-1-generic.btf`), { type: 'skipped', invalid: false });
  t.match(at('plan9/4/x86_64/k.btf'), { type: 'skipped', invalid: true, reason: /distro/ });
  t.match(at('loose/k.failed'), { type: 'skipped', invalid: true, reason: /layout/ });
});
