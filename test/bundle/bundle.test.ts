/**
 * Bundles over the test archive: each BTF in the .tar.gz is what trimBtf gives for that
 * kernel (and what bpftool gives, for a few), identical results are counted and stored
 * once, failures are listed, worker threads change nothing, and `btfhub bundle` writes the
 * file atomically.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { readKernelBtfFile, readTarEntries } from '../../src/archive/index.js';
import { Btf, parseBpfObject, trimBtf, type BpfObject } from '../../src/btf/index.js';
import { buildBundle, writeBundleFile, type BundleResult } from '../../src/bundle/bundle.js';
import type { CodecExecutor, ObjectBytes } from '../../src/executor/codec-executor.js';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { executorTrimmer } from '../../src/jobs/bundle.js';
import { TarGzWriter } from '../../src/bundle/tar-gz.js';
import { bundleLayer } from '../../src/fetch/bundle.js';
import { runCli } from '../../src/cli/run.js';
import { archiveKernels, type KernelInput } from '../../src/coverage/kernel-source.js';
import { FsObjectStore } from '../../src/storage/index.js';
import { loadFixtures, runBpftoolMinCore } from '../helpers/fixtures.js';
import { testArchive } from '../helpers/test-archive.js';

const run = promisify(execFile);
const fx = await loadFixtures();
const archive = await testArchive();
const toolsLike = fx.objects.get('tools_like')!;
const objects: BpfObject[] = [parseBpfObject(toolsLike.bytes, 'tools_like.bpf.o')];
const store = new FsObjectStore(archive.dir);
const { kernels } = await archiveKernels(store);

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-bundle-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function entriesOf(result: BundleResult): Map<string, Uint8Array> {
  return new Map([...readTarEntries(gunzipSync(result.archive!))].map((e) => [e.name, new Uint8Array(e.data)]));
}

const trimmedStore = new FsObjectStore(await mkdtemp(join(tmpdir(), 'btfhub-bundle-store-')));
t.teardown(() => rm(trimmedStore.description.slice(3), { recursive: true, force: true }));
const result = await buildBundle(kernels, objects, { store: trimmedStore });
const files = entriesOf(result);

t.test('one entry per kernel that trims; the corrupt and the ambiguous kernel are listed instead', async (t) => {
  t.equal(result.entries.length, archive.kernels.length - 1);
  t.same(
    [...files.keys()],
    archive.kernels.filter((k) => !k.variants.includes('ambiguous-cfs-rq')).map((k) => `${k.path}.btf`),
    'kernel paths in archive order',
  );
  t.match(result.failures, [
    { stage: 'load', source: archive.corruptKey, message: /xz: / },
    { stage: 'trim', ref: { distro: 'fedora' }, message: /field offset ambiguity/ },
  ]);
  t.equal(result.bytes.archive, result.archive!.length);
});

t.test('each BTF in the bundle is what trimBtf gives for that kernel', async (t) => {
  for (const k of archive.kernels) {
    const want = `${k.path}.btf`;
    const raw = await readKernelBtfFile((await store.get(k.key))!, k.key);
    let expected: Uint8Array | undefined;
    try {
      expected = trimBtf(Btf.parse(raw), objects);
    } catch {
      expected = undefined; // the ambiguous kernel: no entry
    }
    const got = files.get(want);
    if (expected === undefined) t.equal(got, undefined, `${want}: left out`);
    else t.ok(got && Buffer.from(got).equals(expected), want);
  }
});

t.test(
  'and what bpftool gives, for kernels of each kind of edit',
  { skip: fx.hasBpftool ? false : 'bpftool is not installed' },
  async (t) => {
    for (const k of archive.kernels.filter(
      (k) => k.format === 'btf' && /old-state|no-gendisk|renamed-enumerator|renamed-nsproxy/.test(k.variants.join()),
    )) {
      const oracle = await runBpftoolMinCore(join(archive.dir, k.key), [toolsLike.path]);
      t.ok(oracle.ok && Buffer.from(files.get(`${k.path}.btf`)!).equals(oracle.btf), `${k.path} (${k.variants.join(' + ')})`);
    }
  },
);

t.test('identical trimmed BTFs are counted once and stored once', async (t) => {
  const shas = new Set(result.entries.map((e) => e.sha256));
  t.equal(result.distinct, shas.size);
  t.equal(result.distinct, 5, 'old kernels share one, the base kernel and its copies another, three single edits one each');
  t.ok(result.entries.length > result.distinct);
  const stored: string[] = [];
  for await (const o of trimmedStore.list('trimmed/')) stored.push(o.key);
  t.same(stored.sort(), [...shas].map((s) => `trimmed/${s}.btf`).sort());
  t.equal(
    result.bytes.distinct,
    result.entries.filter((e, i, all) => all.findIndex((x) => x.sha256 === e.sha256) === i).reduce((n, e) => n + e.size, 0),
  );
  // Storing again writes nothing new.
  const again = await buildBundle(kernels.slice(0, 3), objects, { store: trimmedStore });
  let count = 0;
  for await (const _ of trimmedStore.list('trimmed/')) count++;
  t.equal(count, shas.size);
  t.ok(again.entries.length > 0);
});

t.test('worker threads give the same archive, byte for byte', async (t) => {
  // The corrupt amzn kernel, centos, the debians and the ambiguous fedora one: every outcome kind.
  const some = kernels.slice(0, 5);
  const threaded = await buildBundle(some, objects, { threads: 2 });
  const inProcess = await buildBundle(some, objects);
  t.ok(Buffer.from(threaded.archive!).equals(Buffer.from(inProcess.archive!)));
  t.same(threaded.entries, inProcess.entries);
  t.same(
    threaded.failures.map((f) => f.stage),
    ['load', 'trim'],
  );
});

t.test('the codec executor as trimmer (the bundle job): the same archive, and no kernel decode left in its cache', async (t) => {
  const some = kernels.slice(0, 5);
  const inProcess = await buildBundle(some, objects);
  const objectBytes: ObjectBytes[] = [{ name: 'tools_like.bpf.o', bytes: toolsLike.bytes }];
  const executors: Array<[string, CodecExecutor]> = [
    ['inline', new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 })],
    ['worker threads', new WorkerCodecExecutor({ threads: 2, heapMb: 512, taskTimeoutMs: 120_000, kernelCacheBytes: 1 << 30 })],
  ];
  for (const [label, codec] of executors) {
    t.teardown(() => codec.close());
    // A kernel a trim keeps decoded: the bundle must not push it out (nor add its own).
    const kept = some.find((k) => k.ref.distro === 'centos')!;
    const keptKernel = { cacheKey: { storageKey: kept.source, sha256: kept.sha256 ?? '' }, loadRaw: () => kept.loadRaw!() };
    await codec.trim(keptKernel, objectBytes);
    t.equal(codec.decodedKernels().count, 1, `${label}: the trim's kernel is cached`);
    const viaExecutor = await buildBundle(some, [], { trimmer: executorTrimmer(codec, objectBytes) });
    t.ok(Buffer.from(viaExecutor.archive!).equals(Buffer.from(inProcess.archive!)), `${label}: byte-identical archive`);
    t.same(viaExecutor.entries, inProcess.entries, `${label}: same entries`);
    t.same(
      viaExecutor.failures.map((f) => [f.stage, f.source]),
      inProcess.failures.map((f) => [f.stage, f.source]),
      `${label}: same failures`,
    );
    t.equal(codec.decodedKernels().count, 1, `${label}: the bundle's kernels were not cached`);
    t.equal((await codec.trim(keptKernel, objectBytes)).kernelCached, true, `${label}: the trim's kernel is still cached`);
  }
});

t.test('system tar reads the bundle; long paths go through a pax header', async (t) => {
  const dir = await scratch(t);
  await writeFile(join(dir, 'b.tar.gz'), result.archive!);
  const listing = (await run('tar', ['-tzf', join(dir, 'b.tar.gz')])).stdout.trim().split('\n');
  t.same(listing, [...files.keys()]);

  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  const writer = new TarGzWriter(sink);
  const long = `ubuntu/22.04/x86_64/${'5.15.0-1019-aws-with-a-very-long-flavor-name-'.repeat(3)}end.btf`;
  await writer.add(long, new Uint8Array([1, 2, 3]));
  await writer.add('short.btf', new Uint8Array(600));
  await writer.finish();
  const bytes = Buffer.concat(chunks);
  t.same(
    [...readTarEntries(gunzipSync(bytes))].map((e) => [e.name, e.size]),
    [
      [long, 3],
      ['short.btf', 600],
    ],
  );
  await writeFile(join(dir, 'long.tar.gz'), bytes);
  await run('tar', ['-xzf', join(dir, 'long.tar.gz'), '-C', dir]);
  t.same([...(await readFile(join(dir, long)))], [1, 2, 3]);
  await t.rejects(new TarGzWriter(new PassThrough()).add('../escape.btf', new Uint8Array(1)), /refusing/);
});

t.test('writeBundleFile is atomic: a failed build leaves the old file and no temporary', async (t) => {
  const dir = await scratch(t);
  const out = join(dir, 'bundle.tar.gz');
  await writeFile(out, 'old');
  const broken: KernelInput = {
    ref: kernels[0]!.ref,
    source: 'broken',
    load: () => Promise.reject(new TypeError('a bug, not a bad file')),
  };
  await t.rejects(writeBundleFile(out, [kernels[1]!, broken], objects), /a bug/);
  t.equal(await readFile(out, 'utf8'), 'old');
  t.same(await readdir(dir), ['bundle.tar.gz']);

  const written = await writeBundleFile(out, kernels.slice(1, 3), objects);
  t.equal(written.entries.length, 2);
  t.equal((await readFile(out)).length, written.bytes.archive);
  t.same(await readdir(dir), ['bundle.tar.gz']);
  await t.rejects(buildBundle(kernels.slice(1, 3), objects, { maxArchiveBytes: 100 }), /exceeds 100 bytes/);
});

t.test('btfhub bundle', async (t) => {
  const dir = await scratch(t);
  const cli = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const status = await runCli(argv, { stdout: { write: (s) => (stdout += String(s)) }, stderr: { write: (s) => (stderr += String(s)) } });
    return { status, stdout, stderr };
  };
  const out = join(dir, 'tools.tar.gz');
  const ok = await cli([
    'bundle',
    '--archive',
    archive.dir,
    '--distro',
    'ubuntu',
    '--out',
    out,
    '--cache',
    join(dir, 'cache'),
    toolsLike.path,
  ]);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`^${out}: 6 kernels, 2 distinct BTFs, \\d+ bytes`));
  t.same(
    [...readTarEntries(gunzipSync(await readFile(out)))].map((e) => e.name),
    archive.kernels.filter((k) => k.ref.distro === 'ubuntu').map((k) => `${k.path}.btf`),
  );
  // What an agent does with it: btfhub fetch's bundle layer finds its exact kernel there.
  const ref = archive.kernels.find((k) => k.ref.distro === 'ubuntu')!.ref;
  const found = await bundleLayer({ location: out, kernel: ref });
  t.match(found, { ok: true, form: 'trimmed' });
  t.ok(found.ok && Buffer.from(found.bytes).equals(files.get(`${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.btf`)!));
  const cached: string[] = [];
  for await (const o of new FsObjectStore(join(dir, 'cache')).list()) cached.push(o.key);
  t.equal(cached.length, 2, 'the two .btf.tar.xz kernels were unpacked into the cache');
  t.match(cached[0], /^derived\/[0-9a-f]{64}\/.*\.btf$/);
  const again = await cli([
    'bundle',
    '--archive',
    archive.dir,
    '--distro',
    'ubuntu',
    '--out',
    out,
    '--cache',
    join(dir, 'cache'),
    toolsLike.path,
  ]);
  t.equal(again.status, 0, 'from the cache');

  const strict = await cli([
    'bundle',
    '--archive',
    archive.dir,
    '--out',
    join(dir, 'all.tar.gz'),
    '--strict',
    '--threads',
    '1',
    toolsLike.path,
  ]);
  t.equal(strict.status, 1);
  t.match(
    strict.stdout,
    /left out \(2\):\n {2}amzn\/2\/x86_64\/5\.10\.0-1\.amzn2\.x86_64 \(load\): .*xz.*\n {2}fedora\/40\/x86_64\/6\.8\.5-301\.fc40\.x86_64 \(trim\): .*ambiguity/,
  );

  const missingDir = await cli([
    'bundle',
    '--archive',
    archive.dir,
    '--kernel',
    '6.1',
    '--out',
    join(dir, 'no/such/dir.tar.gz'),
    toolsLike.path,
  ]);
  t.equal(missingDir.status, 1);
  t.match(missingDir.stderr, /no\/such\/dir\.tar\.gz: no such file/);
  t.match(await cli(['bundle', '--archive', archive.dir, toolsLike.path]), { status: 2, stderr: /--out FILE is required/ });
  t.match(await cli(['bundle', '--archive', archive.dir, '--out', out, '--threads', '0', toolsLike.path]), {
    status: 2,
    stderr: /--threads 0/,
  });
});
