/**
 * Issue 10: never an answer with wrong bytes. A bit flipped (same size) in each kind of
 * stored file, a kernel replaced under running and finished trims, a crash between the
 * store and the catalog step: each ends in the right bytes or a clear error, the damage is
 * counted in `btfhub_integrity_failures_total`, and a repairable copy is repaired.
 *
 * The trim cache is off (budget 0) where a test needs every answer to come from the store.
 */
import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createVerifyCommand } from '../../src/cli/commands/verify.js';
import { runCli } from '../../src/cli/run.js';
import type { KernelRef } from '../../src/catalog/catalog.js';
import { makeBtfTarXz } from '../../src/archive/kernel-btf.js';
import { Btf } from '../../src/btf/index.js';
import { HISTORY_VARIANTS, KernelEditor } from '../../src/coverage/variants.js';
import { objectsHashOf, trimJobId } from '../../src/queue/kinds.js';
import { derivedKernelKey, kernelContentKey, objectKey } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { btfForm, fixtureObject, multipart, oracle, RAW_FIELDS, RAW_KERNEL, setupApi, why, XZ_FIELDS, XZ_KERNEL } from './helpers.js';

const ADMIN = 'integrity-admin-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN}` };
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const same = (a: Uint8Array | null | undefined, b: Uint8Array) => a != null && Buffer.from(a).equals(Buffer.from(b));

/** Flips one bit of the stored object at `key`: same size, other bytes. */
async function flipBit(store: ObjectStore, key: string, at = 100): Promise<void> {
  const bytes = await store.get(key);
  if (bytes === null) throw new Error(`${key} is not stored`);
  const damaged = new Uint8Array(bytes);
  damaged[at % damaged.length]! ^= 0x10;
  await store.put(key, damaged);
}

async function damageCount(
  metrics: { integrityFailures: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> } },
  kind: string,
): Promise<number> {
  return (await metrics.integrityFailures.get()).values.filter((v) => v.labels.kind === kind).reduce((sum, v) => sum + v.value, 0);
}

function uploadKernel(app: Awaited<ReturnType<typeof setupApi>>['app'], ref: KernelRef, file: { name: string; bytes: Uint8Array }) {
  const body = multipart([
    { name: 'distro', data: ref.distro },
    { name: 'distro_version', data: ref.distroVersion },
    { name: 'arch', data: ref.arch },
    { name: 'kernel_version', data: ref.kernel },
    { name: 'btf', filename: file.name, data: file.bytes },
  ]);
  return app.inject({ method: 'POST', url: '/api/v1/kernels', payload: body.payload, headers: { ...body.headers, ...auth } });
}

t.test('a trimmed result with a flipped bit: never sent; GET says so, POST builds it again and repairs the copy', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t, { config: { trimCacheBytes: 0 } });
  const object = fixtureObject(fixtures, 'tools_like');
  const want = oracle(fixtures, 'tools_like');
  const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(first.statusCode, 200, why(first));
  t.ok(same(first.rawPayload, want));
  const hash = String(first.headers['x-btfhub-objects-hash']);
  const kernelSha = (await catalog.getKernel(RAW_KERNEL))!.sha256;
  const trim = await catalog.getTrim(hash, RAW_KERNEL, kernelSha);
  await flipBit(store, trim!.resultKey);

  const get = await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`);
  t.equal(get.statusCode, 404, 'GET: the damaged copy is not sent');
  t.match(get.json(), { error: 'trim_not_found', message: /damaged; POST \/api\/v1\/btf builds it again/ });

  const post = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(post.statusCode, 200, `POST: built again, ${why(post)}`);
  t.ok(same(post.rawPayload, want), 'the right bytes');
  t.equal(post.headers.etag, `"${sha256(want)}"`);
  t.ok(same(await store.get(trim!.resultKey), want), 'the stored copy is repaired');
  const again = await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`);
  t.equal(again.statusCode, 200);
  t.ok(same(again.rawPayload, want));
  t.ok((await damageCount(metrics, 'trim_result')) >= 2, 'counted');
});

t.test('a completed job whose stored result is damaged: the trim runs again under a fresh job id', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t, { config: { trimCacheBytes: 0 } });
  const object = fixtureObject(fixtures, 'enum64');
  const want = oracle(fixtures, 'enum64');
  const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(first.statusCode, 200, why(first));
  const hash = String(first.headers['x-btfhub-objects-hash']);
  const kernelSha = (await catalog.getKernel(RAW_KERNEL))!.sha256;
  const trim = (await catalog.getTrim(hash, RAW_KERNEL, kernelSha))!;
  // The row gone too: the POST finds no trim and joins the completed job, whose result is damaged.
  await catalog.deleteTrim(hash, RAW_KERNEL, kernelSha);
  await flipBit(store, trim.resultKey);
  const post = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(post.statusCode, 200, why(post));
  t.ok(same(post.rawPayload, want), 'the right bytes, not "stored result is damaged" forever');
  t.ok(same(await store.get(trim.resultKey), want), 'repaired in the store');
  t.ok((await damageCount(metrics, 'trim_result')) >= 1);
});

t.test('a stored object with a flipped bit: sending the object again repairs it', async (t) => {
  const { app, fixtures, store, metrics } = await setupApi(t, { withArchiveKernel: true });
  const object = fixtureObject(fixtures, 'tools_like');
  const key = objectKey(sha256(object.bytes));
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) })).statusCode, 200);
  await flipBit(store, key);
  // A trim for another kernel needs the object again: the upload replaces the damaged copy first.
  const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object], XZ_FIELDS) });
  t.equal(res.statusCode, 200, why(res));
  t.ok(same(await store.get(key), object.bytes), 'the stored object is the one sent');
  t.equal(await damageCount(metrics, 'object'), 1, 'counted as replaced');
});

t.test('a kernel file with a flipped bit: neither a download nor a trim is made from it; a clear 500', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t, { withArchiveKernel: true });
  const raw = (await catalog.getKernel(RAW_KERNEL))!;
  const xz = (await catalog.getKernel(XZ_KERNEL))!;
  await flipBit(store, raw.storageKey, 5000);
  await flipBit(store, xz.storageKey, 200);

  const rawDownload = await app.inject('/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic/btf');
  t.equal(rawDownload.statusCode, 500);
  t.match(rawDownload.json(), { error: 'kernel_damaged', message: /does not match its sha256.*upload or import it again/ });
  const xzDownload = await app.inject({
    url: '/api/v1/kernels/debian/11/arm64/5.10.0-26-arm64/btf',
    headers: { accept: 'application/x-xz' },
  });
  t.equal(xzDownload.statusCode, 500, 'the stored .btf.tar.xz is not sent damaged');
  t.match(xzDownload.json(), { error: 'kernel_damaged' });
  const xzAsRaw = await app.inject('/api/v1/kernels/debian/11/arm64/5.10.0-26-arm64/btf');
  t.equal(xzAsRaw.statusCode, 500, 'nor unpacked');

  const trim = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'enum64')], RAW_FIELDS) });
  t.equal(trim.statusCode, 500);
  t.match(trim.json(), { error: 'trim_failed', message: /damaged or changed since it was registered/ });
  t.ok((await damageCount(metrics, 'kernel')) >= 3);
});

t.test('a derived copy with a flipped bit is made again from the checked kernel file', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t, { withArchiveKernel: true });
  const xz = (await catalog.getKernel(XZ_KERNEL))!;
  const url = '/api/v1/kernels/debian/11/arm64/5.10.0-26-arm64/btf';
  const first = await app.inject(url);
  t.equal(first.statusCode, 200);
  const want = fixtures.oracle.all;
  t.ok(same(first.rawPayload, want), 'unpacked');
  const key = derivedKernelKey(xz.sha256, xz.kernel, 'btf');
  t.match(await catalog.getDerivedFile(xz.sha256, 'btf'), { storageKey: key, sha256: sha256(want) }, 'its sha256 recorded');
  await flipBit(store, key);
  const second = await app.inject(url);
  t.equal(second.statusCode, 200);
  t.ok(same(second.rawPayload, want), 'made again, right bytes');
  t.ok(same(await store.get(key), want), 'the copy repaired');
  t.equal(await damageCount(metrics, 'derived'), 1);

  // A copy written but never recorded (a crash between the two steps) is not trusted either.
  const rawUrl = '/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic/btf';
  const raw = (await catalog.getKernel(RAW_KERNEL))!;
  await store.put(derivedKernelKey(raw.sha256, raw.kernel, 'btf.tar.xz'), new Uint8Array([1, 2, 3]));
  const packed = await app.inject({ url: rawUrl, headers: { accept: 'application/x-xz' } });
  t.equal(packed.statusCode, 200);
  t.ok(same(packed.rawPayload, await makeBtfTarXz(raw.kernel, fixtures.vmlinux)), 'made from the kernel file, not the unrecorded copy');
});

t.test('a replaced kernel: no answer made from the old content, from memory, the catalog or a job', async (t) => {
  const { app, fixtures, store, catalog, queue } = await setupApi(t, { config: { adminToken: ADMIN } });
  const ref: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-300-generic' };
  const fields = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: ref.kernel };
  const oldBtf = fixtures.vmlinux;
  // The same kernel before 5.14 (task_struct.state): tools_like's trim differs.
  const newBtf = new KernelEditor(Btf.parse(fixtures.vmlinux)).variant(HISTORY_VARIANTS.oldState.edits);
  t.equal((await uploadKernel(app, ref, { name: 'vmlinux', bytes: oldBtf })).statusCode, 201);
  const object = fixtureObject(fixtures, 'tools_like');
  const before = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object], fields) });
  t.equal(before.statusCode, 200, why(before));
  const hash = String(before.headers['x-btfhub-objects-hash']);

  const replaced = await uploadKernel(app, ref, { name: 'vmlinux', bytes: newBtf });
  t.match(replaced.json(), { outcome: 'updated', sha256: sha256(newBtf) });
  const after = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object], fields) });
  t.equal(after.statusCode, 200, why(after));
  t.not(after.headers['x-btfhub-cache'], 'hit', 'not the old trim from memory or the catalog');
  t.notOk(same(after.rawPayload, before.rawPayload), 'a trim of the new content');
  const get = await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/${ref.kernel}`);
  t.equal(get.headers.etag, after.headers.etag, 'GET answers the new content too');
  t.ok(same(await store.get(kernelContentKey(sha256(oldBtf), 'btf')), oldBtf), 'the old content is kept for jobs still on it');

  const oldSha = sha256(oldBtf);
  t.equal(
    (await catalog.getTrim(hash, ref, oldSha))?.resultSha256,
    sha256(before.rawPayload),
    'the first trim stays under the old content',
  );
  t.equal((await catalog.getTrim(hash, ref, sha256(newBtf)))?.resultSha256, sha256(after.rawPayload), 'the new content has its own');

  // A job queued for the old content and finishing after the switch is recorded under the old content.
  const late = fixtureObject(fixtures, 'enum64');
  await store.put(objectKey(sha256(late.bytes)), late.bytes);
  const lateHash = objectsHashOf([sha256(late.bytes)]);
  const id = await queue.enqueue('trim', trimJobId(lateHash, ref, oldSha), {
    objectHashes: [sha256(late.bytes)],
    objectsHash: lateHash,
    kernel: ref,
    kernelSha256: oldSha,
  });
  const done = await queue.waitFor('trim', id, 30_000);
  t.equal(done.state, 'completed');
  t.equal(done.result?.kernelSha256, oldSha);
  t.equal(
    (await catalog.getTrim(lateHash, ref, oldSha))?.resultSha256,
    sha256(oracle(fixtures, 'enum64')),
    'recorded under the old content, made from it',
  );
  t.equal(await catalog.getTrim(lateHash, ref, sha256(newBtf)), null, 'never under the new');
  const latest = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object], fields) });
  t.ok(same(latest.rawPayload, after.rawPayload), 'and answers keep to the new content');
});

t.test('crash windows: a failed catalog step after the store step leaves the old kernel fully served', async (t) => {
  let failUpsert = false;
  const { app, fixtures, catalog } = await setupApi(t, {
    config: { adminToken: ADMIN },
    wrap: ({ catalog }) => ({
      catalog: new Proxy(catalog, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (property === 'upsertKernel' && typeof value === 'function') {
            return (...args: unknown[]) =>
              failUpsert
                ? Promise.reject(new Error('killed between the store and the catalog'))
                : (value as (...a: unknown[]) => unknown).apply(target, args);
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    }),
  });
  const ref: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-301-generic' };
  const fields = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: ref.kernel };
  t.equal((await uploadKernel(app, ref, { name: 'vmlinux', bytes: fixtures.vmlinux })).statusCode, 201);
  failUpsert = true;
  const crashed = await uploadKernel(app, ref, { name: 'vmlinux', bytes: fixtures.oracle.all });
  t.ok(crashed.statusCode >= 500, `the replacement failed: ${crashed.statusCode}`);
  failUpsert = false;
  t.equal((await catalog.getKernel(ref))?.sha256, sha256(fixtures.vmlinux), 'the catalog still has the old content');
  const download = await app.inject(`/api/v1/kernels/ubuntu/22.04/x86_64/${ref.kernel}/btf`);
  t.equal(download.statusCode, 200);
  t.ok(same(download.rawPayload, fixtures.vmlinux), 'the old kernel, whole');
  const trim = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'tools_like')], fields) });
  t.equal(trim.statusCode, 200, `trims work: ${why(trim)}`);
  t.ok(same(trim.rawPayload, oracle(fixtures, 'tools_like')));
  const retried = await uploadKernel(app, ref, { name: 'vmlinux', bytes: fixtures.oracle.all });
  t.match(retried.json(), { outcome: 'updated' }, 'uploading again completes the replacement (not "unchanged")');
});

t.test('a job the queue lost answers 404 job_lost; one never handed out (or expired) job_not_found', async (t) => {
  const lost = new Set<string>();
  const { app, fixtures } = await setupApi(t, {
    requestWaitMs: 0,
    wrap: ({ queue }) => ({
      queue: new Proxy(queue, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          if (property === 'status') {
            // A Redis without persistence restarted: the job is gone from the queue.
            return async (kind: string, id: string) =>
              lost.has(id) ? { id, state: 'unknown' } : (value as (k: string, i: string) => unknown).call(target, kind, id);
          }
          return (value as (...a: unknown[]) => unknown).bind(target);
        },
      }),
    }),
  });
  const pending = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'shared_a')]) });
  t.equal(pending.statusCode, 202, why(pending));
  const jobId = String(pending.json<{ job_id: string }>().job_id);
  lost.add(jobId);
  const res = await app.inject(`/api/v1/jobs/${jobId}`);
  t.equal(res.statusCode, 404);
  t.match(res.json(), { error: 'job_lost', message: /lost by the queue.*send the request again/ });
  const never = await app.inject(`/api/v1/jobs/${'c'.repeat(64)}`);
  t.equal(never.statusCode, 404);
  t.match(never.json(), { error: 'job_not_found' });
});

t.test('/readyz fails when the store cannot be written, or disagrees with the catalog on a sample', async (t) => {
  let readOnly = false;
  const { app } = await setupApi(t, {
    config: { adminToken: ADMIN },
    wrap: ({ store }) => ({
      store: new Proxy(store, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (property === 'put' && typeof value === 'function') {
            return (...args: unknown[]) =>
              readOnly
                ? Promise.reject(new Error('EROFS: read-only file system'))
                : (value as (...a: unknown[]) => unknown).apply(target, args);
          }
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    }),
  });
  readOnly = true;
  // The reason is the admin's (it may name paths); anonymous callers learn which dependency failed.
  const unwritable = await app.inject({ url: '/readyz', headers: auth });
  t.equal(unwritable.statusCode, 503);
  t.match(unwritable.json(), { failed: ['store'], message: /the store cannot be written: EROFS/ });
  const anonymous = await app.inject('/readyz');
  t.equal(anonymous.statusCode, 503);
  t.match(anonymous.json(), { failed: ['store'], message: 'not ready: store' });

  const { app: other, store: otherStore, catalog: otherCatalog } = await setupApi(t, { config: { adminToken: ADMIN } });
  const kernel = (await otherCatalog.getKernel(RAW_KERNEL))!;
  await otherStore.delete(kernel.storageKey);
  const disagree = await other.inject({ url: '/readyz', headers: auth });
  t.equal(disagree.statusCode, 503);
  t.match(disagree.json(), { failed: ['store'], message: /the catalog and the store disagree: kernel .* is missing/ });
});

t.test(
  'verify: POST /api/v1/verify and `btfhub verify` report missing, damaged and orphaned entries; repair fixes what can be',
  async (t) => {
    const { app, fixtures, store, catalog, dir } = await setupApi(t, { config: { adminToken: ADMIN, trimCacheBytes: 0 } });
    const object = fixtureObject(fixtures, 'tools_like');
    const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
    t.equal(first.statusCode, 200);
    const kernelSha = (await catalog.getKernel(RAW_KERNEL))!.sha256;
    const trim = (await catalog.getTrim(String(first.headers['x-btfhub-objects-hash']), RAW_KERNEL, kernelSha))!;
    t.match(
      (await app.inject({ method: 'POST', url: '/api/v1/verify', headers: auth })).json(),
      { unresolved: 0, findings: [] },
      'clean at first',
    );
    t.equal((await app.inject({ method: 'POST', url: '/api/v1/verify' })).statusCode, 401, 'admin only');

    await flipBit(store, trim.resultKey);
    await flipBit(store, objectKey(sha256(object.bytes)));
    const orphan = `trimmed/${'d'.repeat(64)}.btf`;
    await store.put(orphan, new Uint8Array([1]));
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(dir, 'objects', orphan), old, old);
    await store.put(`trimmed/${'e'.repeat(64)}.btf`, new Uint8Array([2])); // young: maybe a write in flight, left alone

    const found = (await app.inject({ method: 'POST', url: '/api/v1/verify', headers: auth })).json<{
      findings: { kind: string; problem: string; key: string }[];
    }>();
    t.match(found, { checked: { kernel: 1, trim_result: 1, object: 1 }, unresolved: 3 });
    t.same(
      found.findings.map((f: { kind: string; problem: string; key: string }) => `${f.problem} ${f.kind} ${f.key}`).sort(),
      [`damaged object ${objectKey(sha256(object.bytes))}`, `damaged trim_result ${trim.resultKey}`, `orphaned orphan ${orphan}`].sort(),
    );

    // The same from the command line, with --repair.
    let stdout = '';
    let stderr = '';
    const io = {
      stdout: { write: (c: string | Uint8Array) => void (stdout += String(c)) },
      stderr: { write: (c: string | Uint8Array) => void (stderr += String(c)) },
    };
    const command = createVerifyCommand({ env: { BTFHUB_DATA_DIR: dir }, progressIntervalMs: 0 });
    t.equal(await runCli(['verify', '--repair'], io, [command]), 0, `all repaired: ${stdout}`);
    t.match(stdout, /repaired trim_result .*\nrepaired object .*\nrepaired orphan/);
    t.match(stdout, /checked 1 kernels, 1 trims, 1 objects, 0 derived copies, 0 job files, \d+ stored files: 3 findings, 0 left/);
    t.match(stderr, /verify: trims 1\/1/, 'progress on stderr');
    t.equal(await store.get(orphan), null, 'orphan removed');
    t.equal(await catalog.getTrim(trim.objectsHash, RAW_KERNEL, kernelSha), null, 'the damaged trim forgotten');
    const rebuilt = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
    t.equal(rebuilt.statusCode, 200);
    t.ok(same(rebuilt.rawPayload, oracle(fixtures, 'tools_like')), 'made again, right bytes');

    await flipBit(store, (await catalog.getKernel(RAW_KERNEL))!.storageKey, 4000);
    stdout = '';
    t.equal(await runCli(['verify', '--repair'], io, [command]), 1, 'a damaged kernel is left for the operator');
    t.match(stdout, /damaged kernel .*: kernel ubuntu\/22.04\/x86_64\/5.15.0-91-generic: upload or import it again/);
  },
);

t.test(
  "verify walks job_files: a damaged or missing report or bundle file is reported, repair removes the job's files and rows, orphans under reports/compat/ and bundles/",
  async (t) => {
    const { app, fixtures, store, catalog, dir } = await setupApi(t, { config: { adminToken: ADMIN } });
    const object = fixtureObject(fixtures, 'tools_like');
    const postJob = (kind: 'compat' | 'bundle') =>
      app.inject({
        method: 'POST',
        url: `/api/v1/${kind}`,
        ...multipart([{ name: 'object', filename: 'tools_like.bpf.o', data: object.bytes }]),
      });
    const compat = await postJob('compat');
    const bundle = await postJob('bundle');
    t.equal(compat.statusCode, 200, why(compat));
    t.equal(bundle.statusCode, 200, why(bundle));
    const compatId = String(compat.headers['x-btfhub-job']);
    const bundleId = String(bundle.headers['x-btfhub-job']);
    const verify = async (query = '') =>
      (await app.inject({ method: 'POST', url: `/api/v1/verify${query}`, headers: auth })).json<{
        checked: Record<string, number>;
        findings: { kind: string; problem: string; key: string; note: string; repaired: boolean }[];
        unresolved: number;
      }>();
    const listed = (report: Awaited<ReturnType<typeof verify>>) => report.findings.map((f) => `${f.problem} ${f.kind} ${f.key}`).sort();
    t.match(await verify(), { checked: { job_file: 3 }, unresolved: 0, findings: [] }, 'a report, a bundle and its metadata: clean');

    const reportKey = `reports/compat/${compatId}.json`;
    await flipBit(store, reportKey, 40);
    await store.delete(`bundles/${bundleId}.json`);
    const old = new Date(Date.now() - 3_600_000);
    // A report of a job no row names (stored before migration 005, or its job died before the row): never served, an orphan.
    const orphanReport = 'reports/compat/compat-unrecorded.json';
    const orphanBundle = 'bundles/bundle-unrecorded.tar.gz';
    for (const key of [orphanReport, orphanBundle]) {
      await store.put(key, new Uint8Array([1, 2, 3]));
      await utimes(join(dir, 'objects', key), old, old);
    }
    const young = 'bundles/bundle-being-written.tar.gz';
    await store.put(young, new Uint8Array([4])); // a bundle job's write whose row is still coming: left alone

    const found = await verify();
    t.match(found, { checked: { job_file: 3 }, unresolved: 4 });
    t.same(
      listed(found),
      [
        `damaged job_file ${reportKey}`,
        `missing job_file bundles/${bundleId}.json`,
        `orphaned orphan ${orphanReport}`,
        `orphaned orphan ${orphanBundle}`,
      ].sort(),
    );
    t.match(
      found.findings.find((f) => f.key === reportKey)?.note,
      new RegExp(`compat report of job ${compatId}: never served .*POST /api/v1/compat`),
    );
    t.ok(await store.head(reportKey), 'without repair nothing is removed');
    t.ok(await store.head(`bundles/${bundleId}.tar.gz`), 'the intact archive of a job missing its metadata is no orphan');

    let stdout = '';
    const io = { stdout: { write: (c: string | Uint8Array) => void (stdout += String(c)) }, stderr: { write: () => undefined } };
    const command = createVerifyCommand({ env: { BTFHUB_DATA_DIR: dir }, progressIntervalMs: 0 });
    t.equal(await runCli(['verify', '--repair'], io, [command]), 0, `all repaired: ${stdout}`);
    t.match(stdout, /checked 1 kernels, \d+ trims, 1 objects, 0 derived copies, 3 job files, \d+ stored files: 4 findings, 0 left/);
    t.match(
      stdout,
      new RegExp(`repaired job_file bundles/${bundleId}.json: bundle metadata of job ${bundleId}: removed with the job's other files`),
    );
    t.equal(await store.head(reportKey), null, 'the damaged report removed');
    t.equal(await store.head(`bundles/${bundleId}.tar.gz`), null, "the bundle's intact archive removed with its job");
    t.equal(await catalog.getJobFile(compatId, 'report'), null, 'and the rows');
    t.equal(await catalog.getJobFile(bundleId, 'bundle'), null);
    t.equal(await store.head(orphanReport), null, 'old orphans removed');
    t.equal(await store.head(orphanBundle), null);
    t.ok(await store.head(young), 'a young one kept');
    t.match(await verify(), { checked: { job_file: 0 }, unresolved: 0, findings: [] }, 'clean after the repair, nothing left behind');

    // Submitted again: made again under a rebuild's key, recorded for the rebuild and the original job.
    const compatAgain = await postJob('compat');
    const bundleAgain = await postJob('bundle');
    t.equal(compatAgain.statusCode, 200, why(compatAgain));
    t.equal(bundleAgain.statusCode, 200, why(bundleAgain));
    t.ok(same(bundleAgain.rawPayload, bundle.rawPayload), 'the same bundle, byte for byte');
    t.equal((await app.inject(`/api/v1/compat/${compatId}`)).statusCode, 200, "the compat job's URL serves again");
    const served = await app.inject(`/api/v1/bundle/${bundleId}`);
    t.ok(same(served.rawPayload, bundle.rawPayload), "the bundle job's URL serves the same bundle");
    t.match(await verify(), { checked: { job_file: 6 }, unresolved: 0 }, 'each rebuilt file named by two rows: 6, clean');

    // Two rows, one damaged file: both reported damaged (read once), both removed.
    const rebuiltReport = (await catalog.getJobFile(compatId, 'report'))!;
    t.not(rebuiltReport.storageKey, reportKey);
    await flipBit(store, rebuiltReport.storageKey, 40);
    const shared = await verify('?repair=true');
    t.same(
      shared.findings.map((f) => `${f.problem} ${f.kind} ${f.key} ${f.repaired}`),
      [`damaged job_file ${rebuiltReport.storageKey} true`, `damaged job_file ${rebuiltReport.storageKey} true`],
      'both rows naming it',
    );
    t.equal(await store.head(rebuiltReport.storageKey), null);
    t.equal(await catalog.getJobFile(compatId, 'report'), null);

    // A job with a missing file whose intact file another, sound job's row also names: that file stays.
    const rebuiltBundle = (await catalog.getJobFile(bundleId, 'bundle'))!;
    await catalog.recordJobFile({ jobId: bundleId, role: 'bundle_meta', storageKey: 'bundles/gone.json', sha256: 'f'.repeat(64), size: 1 });
    const partial = await verify('?repair=true');
    t.same(listed(partial), ['missing job_file bundles/gone.json'], 'only the missing file');
    t.equal(await catalog.getJobFile(bundleId, 'bundle'), null, "the broken job's rows removed");
    t.ok(same(await store.get(rebuiltBundle.storageKey), bundle.rawPayload), "the archive the rebuild's own rows name stays");
    t.match(await verify(), { checked: { job_file: 2 }, unresolved: 0, findings: [] }, 'the rebuild job still whole, no orphan');
  },
);

t.test('a stored compat report with a flipped bit: never sent; a clear 500, removed, made again by the next POST', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t);
  const object = fixtureObject(fixtures, 'tools_like');
  const form = () => multipart([{ name: 'object', filename: 'tools_like.bpf.o', data: object.bytes }]);
  const post = () => app.inject({ method: 'POST', url: '/api/v1/compat', ...form() });
  const first = await post();
  t.equal(first.statusCode, 200, why(first));
  const id = String(first.headers['x-btfhub-job']);
  const row = await catalog.getJobFile(id, 'report');
  t.match(
    row,
    { storageKey: `reports/compat/${id}.json`, sha256: sha256(first.rawPayload), size: first.rawPayload.length },
    'its sha256 recorded',
  );
  await flipBit(store, row!.storageKey, 40);

  const get = await app.inject(`/api/v1/compat/${id}`);
  t.equal(get.statusCode, 500, 'the damaged report is not sent');
  t.match(get.json(), { error: 'result_damaged', message: new RegExp(`report of job ${id} is damaged .*submit the request again`) });
  t.equal(await store.head(row!.storageKey), null, 'the damaged copy is removed');
  t.equal(await catalog.getJobFile(id, 'report'), null, 'and its row');
  t.equal(await damageCount(metrics, 'compat_report'), 1, 'counted');
  const gone = await app.inject(`/api/v1/compat/${id}`);
  t.equal(gone.statusCode, 404, 'then: no longer stored');
  t.match(gone.json(), { error: 'job_not_found', message: /POST \/api\/v1\/compat makes it again/ });

  const again = await post();
  t.equal(again.statusCode, 200, `submitted again: made again, ${why(again)}`);
  t.equal(again.headers['x-btfhub-job'], id, 'for the same job');
  const withoutTime = (body: Buffer) => ({ ...(JSON.parse(body.toString('utf8')) as Record<string, unknown>), duration_ms: 0 });
  t.same(withoutTime(again.rawPayload), withoutTime(first.rawPayload), 'the same report (its duration aside)');
  const served = await app.inject(`/api/v1/compat/${id}`);
  t.equal(served.statusCode, 200, 'the job URL serves it again');
  t.ok(same(served.rawPayload, again.rawPayload));
  const rebuilt = await catalog.getJobFile(id, 'report');
  t.equal(rebuilt?.sha256, sha256(again.rawPayload), 'the row names the rebuilt file');
  t.not(rebuilt?.storageKey, row!.storageKey, "stored under the rebuild's own key");

  // A report stored without a row (before migration 005, or a crash between the write and the row): never sent unchecked.
  await catalog.deleteJobFile(id, 'report', rebuilt!.storageKey);
  const unrecorded = await app.inject(`/api/v1/compat/${id}`);
  t.equal(unrecorded.statusCode, 404, 'not sent without a recorded sha256');
  t.equal((await post()).statusCode, 200, 'and a POST makes it again');
});

t.test('a stored bundle or its metadata with a flipped bit: never sent; a clear 500, removed, made again by the next POST', async (t) => {
  const { app, fixtures, store, catalog, metrics } = await setupApi(t);
  const object = fixtureObject(fixtures, 'tools_like');
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/bundle',
      ...multipart([{ name: 'object', filename: 'tools_like.bpf.o', data: object.bytes }]),
    });
  const first = await post();
  t.equal(first.statusCode, 200, why(first));
  const id = String(first.headers['x-btfhub-job']);
  t.match(await catalog.getJobFile(id, 'bundle'), { storageKey: `bundles/${id}.tar.gz`, sha256: sha256(first.rawPayload) });

  for (const role of ['bundle', 'bundle_meta'] as const) {
    const row = (await catalog.getJobFile(id, role))!;
    await flipBit(store, row.storageKey, role === 'bundle' ? 30 : 12);
    const get = await app.inject(`/api/v1/bundle/${id}`);
    t.equal(get.statusCode, 500, `${role} damaged: not sent`);
    t.match(get.json(), { error: 'result_damaged', message: new RegExp(`bundle of job ${id} is damaged .*submit the request again`) });
    t.equal(await store.head(`bundles/${id}.tar.gz`), null, `${role} damaged: the archive is removed`);
    t.equal(await store.head(`bundles/${id}.json`), null, `${role} damaged: its metadata too`);
    const again = await post();
    t.equal(again.statusCode, 200, `${role} damaged: submitted again, ${why(again)}`);
    t.ok(same(again.rawPayload, first.rawPayload), `${role} damaged: the same bundle, byte for byte`);
    t.equal(again.headers.etag, first.headers.etag);
    t.equal(again.headers['x-btfhub-kernels'], first.headers['x-btfhub-kernels'], 'right headers');
    const served = await app.inject(`/api/v1/bundle/${id}`);
    t.equal(served.statusCode, 200);
    t.ok(same(served.rawPayload, first.rawPayload), `${role} damaged: the job URL serves it again`);
  }
  t.equal(await damageCount(metrics, 'bundle'), 2, 'each damage counted');
});
