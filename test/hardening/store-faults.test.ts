/**
 * The object store failing. S3 (s3rver) behind a proxy that refuses connections or cuts
 * them halfway through an upload:
 *   - a trim that must write answers 503 with Retry-After; a trim already made still
 *     answers from the API's memory; /readyz names the store;
 *   - an upload cut mid-PUT leaves no object behind (S3 writes whole objects or none), and
 *     the catalog records nothing for it;
 *   - with the store back, the same request succeeds, nothing restarted.
 * The filesystem store on a full disk (a tiny tmpfs, where this test may mount one): the
 * write fails with UNAVAILABLE, the previous object at that key is intact and no temporary
 * file is left.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/api/app.js';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.js';
import { createJobProcessors } from '../../src/jobs/index.js';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { InlineJobQueue } from '../../src/queue/inline.js';
import { jobPolicies, type JobKinds } from '../../src/queue/kinds.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { objectKey } from '../../src/storage/keys.js';
import { S3ObjectStore } from '../../src/storage/s3-store.js';
import { btfForm, fixtureObject, keysUnder, oracle, RAW_KERNEL, registerKernel, why } from '../api/helpers.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { startS3Server } from '../helpers/s3.js';
import { sha256 } from '../jobs/setup.js';
import { startFaultProxy } from './fault-proxy.js';

const fixtures = await loadFixtures();
const logger = pino({ level: 'silent' });

t.test('S3 refusing or cutting uploads: 503 with Retry-After, nothing half-written, recovery by itself', async (t) => {
  const s3 = await startS3Server();
  t.teardown(() => s3.stop());
  const proxy = await startFaultProxy(Number(new URL(s3.endpoint).port));
  t.teardown(() => proxy.close());
  const s3Options = {
    bucket: s3.bucket,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  };
  const store = new S3ObjectStore({ ...s3Options, endpoint: proxy.endpoint, maxAttempts: 2, connectTimeoutMs: 1000 });
  const direct = new S3ObjectStore({ ...s3Options, endpoint: s3.endpoint });
  t.teardown(() => Promise.all([store.close(), direct.close()]));

  const dir = await mkdtemp(join(tmpdir(), 'btfhub-store-fault-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const catalog = new SqliteCatalog({ path: join(dir, 'catalog.sqlite') });
  await catalog.migrate();
  t.teardown(() => catalog.close());
  await registerKernel(direct, catalog, RAW_KERNEL, 'btf', fixtures.vmlinux);
  // The store behind the proxy, under the in-process queue; trims fail at once (one attempt).
  const policies = jobPolicies({ workerConcurrency: 2, jobTimeoutMs: 60_000 });
  const queue = new InlineJobQueue<JobKinds>({
    processors: createJobProcessors({ store, catalog, codec: new InlineCodecExecutor({ kernelCacheBytes: 256 * 1024 * 1024 }), logger }),
    policies: { ...policies, trim: { ...policies.trim, attempts: 1 } },
  });
  t.teardown(() => queue.close());
  const app = await buildApp({
    config: { requestWaitMs: 30_000, maxFileBytes: 64 * 1024 * 1024, maxFiles: 16 },
    store,
    catalog,
    queue,
    docs: false,
  });
  t.teardown(() => app.close());
  const post = (name: 'enum64' | 'shared_a') =>
    app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, name)]) });

  const first = await post('enum64');
  t.equal(first.statusCode, 200, why(first));
  const made = String(first.headers['x-btfhub-objects-hash']);
  // A new trim's result is kept in memory from its first repeat on (src/api/trim-service.ts).
  const repeat = await post('enum64');
  t.equal(repeat.headers['x-btfhub-cache'], 'hit', why(repeat));

  proxy.setMode({ kind: 'refuse' });
  const refused = await post('shared_a');
  t.equal(refused.statusCode, 503, `a trim that must write: ${why(refused)}`);
  t.equal(refused.headers['retry-after'], '5');
  t.match(refused.json(), { error: 'unavailable', message: /store/ });
  const cached = await post('enum64');
  t.equal(cached.statusCode, 200, `a trim already made answers from memory: ${why(cached)}`);
  t.same(cached.rawPayload, first.rawPayload);
  t.equal((await app.inject(`/api/v1/btf/${made}/ubuntu/22.04/x86_64/5.15.0-91-generic`)).statusCode, 200, 'by GET too');
  const kernel = await app.inject('/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic/btf');
  t.equal(kernel.statusCode, 503, `reading a kernel needs the store: ${why(kernel)}`);
  const ready = await app.inject('/readyz');
  t.equal(ready.statusCode, 503);
  t.same(ready.json<{ failed: string[] }>().failed, ['store']);

  // Connections cut after 64 KiB: the 650 KB object's PUT dies halfway, every attempt.
  const object = fixtureObject(fixtures, 'shared_a').bytes;
  proxy.setMode({ kind: 'cut', afterBytes: 64 * 1024 });
  const cut = await post('shared_a');
  t.equal(cut.statusCode, 503, `an upload cut mid-PUT: ${why(cut)}`);
  t.equal(await direct.head(objectKey(sha256(object))), null, 'no object, not even part of one, at its key');
  t.same(
    await keysUnder(direct, 'objects/'),
    [objectKey(sha256(fixtureObject(fixtures, 'enum64').bytes))],
    'only the earlier object is stored',
  );
  t.same(await keysUnder(direct, 'trimmed/'), [`trimmed/${sha256(first.rawPayload)}.btf`], 'and only its result');
  t.equal(await catalog.getObject(sha256(object)), null, 'the catalog records no object');
  t.equal(await catalog.countTrims(), 1, 'and no trim');
  t.ok(proxy.faults() >= 2, `${proxy.faults()} connections refused or cut`);

  proxy.setMode({ kind: 'pass' });
  const back = await post('shared_a');
  t.equal(back.statusCode, 200, `the store is back: ${why(back)}`);
  t.same(back.rawPayload, Buffer.from(oracle(fixtures, 'shared_a')));
  t.equal((await direct.head(objectKey(sha256(object))))?.size, object.length, 'the object is stored whole');
  t.equal((await app.inject('/readyz')).statusCode, 200);

  // Half an object left at its key (by a server that is not atomic, before puts went through a
  // temporary key): its size gives it away, and the next request writes it whole.
  const other = fixtureObject(fixtures, 'shared_b').bytes;
  await direct.put(objectKey(sha256(other)), other.subarray(0, 4096));
  const repaired = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'shared_b')]) });
  t.equal(repaired.statusCode, 200, `a damaged object is written again: ${why(repaired)}`);
  t.same(repaired.rawPayload, Buffer.from(oracle(fixtures, 'shared_b')));
  t.equal((await direct.head(objectKey(sha256(other))))?.size, other.length);
  // `list` hides temporary keys; ask S3 itself.
  const raw = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  t.teardown(() => raw.destroy());
  const listed = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  const temporary = (listed.Contents ?? []).map((o) => String(o.Key)).filter((key) => key.split('/').at(-1)!.startsWith('.btfhub-tmp-'));
  t.same(temporary, [], 'no temporary key left behind (each was deleted, even after a cut upload)');
});

/** Mounts a tmpfs of `bytes` at a new directory, or says why it cannot. */
function mountTinyFs(bytes: number): { dir: string; unmount: () => void } | string {
  const dir = execFileSync('mktemp', ['-d', join(tmpdir(), 'btfhub-full-XXXXXX')], { encoding: 'utf8' }).trim();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    execFileSync('rmdir', [dir]);
    return `cannot mount a tmpfs here (${
      String((error as { stderr?: unknown }).stderr ?? error)
        .trim()
        .split('\n')[0]
    })`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir]);
      execFileSync('rmdir', [dir]);
    },
  };
}

t.test('filesystem store on a full disk: the write fails whole, the old object stays, no temp file', async (t) => {
  const mounted = mountTinyFs(256 * 1024);
  if (typeof mounted === 'string') {
    t.plan(0, mounted); // skipped, saying why
    return;
  }
  t.teardown(mounted.unmount);
  const root = join(mounted.dir, 'objects');
  await mkdir(root);
  const store = new FsObjectStore(root);
  const before = new Uint8Array(100 * 1024).fill(1);
  await store.put('trimmed/x.btf', before);
  const error = await store.put('trimmed/x.btf', new Uint8Array(200 * 1024).fill(2)).then(
    () => null,
    (err: unknown) => err,
  );
  t.match(error, { name: 'StorageError', code: 'UNAVAILABLE', message: /ENOSPC/ }, 'the disk is full: UNAVAILABLE (a 503 in the API)');
  t.same(Buffer.from((await store.get('trimmed/x.btf')) ?? []), Buffer.from(before), 'the object at the key is the old one, whole');
  t.same(await readdir(join(root, 'trimmed')), ['x.btf'], 'no temporary file left');
  t.same(await keysUnder(store, ''), ['trimmed/x.btf']);
  await t.rejects(store.put('trimmed/y.btf', new Uint8Array(300 * 1024)), { code: 'UNAVAILABLE' });
  t.equal(await store.head('trimmed/y.btf'), null, 'a new key is not created half-written');
  t.same(await readdir(join(root, 'trimmed')), ['x.btf']);
});
