/**
 * POST /api/v1/bundle over the test archive: a .tar.gz of
 * <distro>/<distro_version>/<arch>/<kernel>.btf whose every BTF is what trimBtf gives for
 * that kernel, identical results stored once and counted (X-BTFHub-Distinct), the kernel
 * libbpf refuses left out and listed in the job, and a long build followed as a job.
 */
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { readKernelBtfFile, readTarEntries } from '../../src/archive/index.js';
import { Btf, parseBpfObject, trimBtf } from '../../src/btf/index.js';
import { sha256Hex } from '../../src/api/trim-service.js';
import { fixtureObject, keysUnder, multipart } from './helpers.js';
import { followJob, setupCoverageApi } from './coverage-setup.js';

const api = await setupCoverageApi(t);
const { app, archive, fixtures } = api;
const toolsLike = fixtureObject(fixtures, 'tools_like');
const objects = [parseBpfObject(toolsLike.bytes, 'tools_like.bpf.o')];

function form(fields: Record<string, string> = {}) {
  return multipart([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    { name: 'object', filename: 'tools_like.bpf.o', data: toolsLike.bytes },
  ]);
}

function entriesOf(body: Buffer): Map<string, Uint8Array> {
  return new Map([...readTarEntries(gunzipSync(body))].map((e) => [e.name, new Uint8Array(e.data)]));
}

/** What trimBtf gives for a kernel of the archive; undefined when libbpf refuses the object there. */
async function expectedTrim(key: string): Promise<Uint8Array | undefined> {
  const raw = await readKernelBtfFile((await api.store.get(key))!, key);
  try {
    return trimBtf(Btf.parse(raw), objects);
  } catch {
    return undefined;
  }
}

t.test('a bundle for a distro: each BTF equals what trimBtf gives for that kernel', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bundle', ...form({ distro: 'ubuntu' }) });
  t.equal(res.statusCode, 200, res.statusCode === 200 ? '' : res.body);
  t.equal(res.headers['content-type'], 'application/gzip');
  t.match(res.headers['content-disposition'], /attachment; filename="btfhub-bundle\.tar\.gz"/);
  t.equal(res.headers.etag, `"${sha256Hex(res.rawPayload)}"`);
  const files = entriesOf(res.rawPayload);
  const ubuntu = archive.kernels.filter((k) => k.ref.distro === 'ubuntu');
  t.same(
    [...files.keys()].sort(),
    ubuntu.map((k) => `${k.path}.btf`).sort(),
    '<distro>/<distro_version>/<arch>/<kernel>.btf for every ubuntu kernel',
  );
  for (const k of ubuntu) {
    const want = await expectedTrim(k.key);
    const got = files.get(`${k.path}.btf`);
    t.ok(want && got && Buffer.from(got).equals(want), `${k.path}: equals trimBtf`);
  }
  const distinct = new Set([...files.values()].map(sha256Hex));
  t.equal(res.headers['x-btfhub-kernels'], String(ubuntu.length));
  t.equal(res.headers['x-btfhub-distinct'], String(distinct.size));
  t.ok(distinct.size < ubuntu.length, `identical trims across kernels (${distinct.size} distinct of ${ubuntu.length})`);
  t.equal(res.headers['x-btfhub-failed'], '0');
  const stored = await keysUnder(api.serviceStore, 'trimmed/');
  t.same(stored.sort(), [...distinct].map((s) => `trimmed/${s}.btf`).sort(), 'each distinct BTF stored once, content-addressed');
});

t.test('the whole archive: the kernel libbpf refuses is left out and listed', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/bundle', ...form() });
  t.equal(res.statusCode, 200);
  const files = entriesOf(res.rawPayload);
  t.equal(files.size, archive.kernels.length - 1);
  t.notOk(files.has('fedora/40/x86_64/6.8.5-301.fc40.x86_64.btf'), 'the ambiguous kernel has no entry');
  t.equal(res.headers['x-btfhub-failed'], '1');
  for (const k of archive.kernels) {
    const want = await expectedTrim(k.key);
    const got = files.get(`${k.path}.btf`);
    if (want === undefined) t.equal(got, undefined, `${k.path}: left out`);
    else t.ok(got && Buffer.from(got).equals(want), `${k.path}: equals trimBtf`);
  }
  const job = await app.inject({ method: 'GET', url: `/api/v1/jobs/${res.headers['x-btfhub-job'] as string}` });
  t.match(job.json(), {
    kind: 'bundle',
    state: 'completed',
    result: {
      kernels: archive.kernels.length - 1,
      distinct: Number(res.headers['x-btfhub-distinct']),
      failed: 1,
      failures: [{ kernel: 'fedora/40/x86_64/6.8.5-301.fc40.x86_64', stage: 'trim', message: /ambiguity/ }],
      size: res.rawPayload.length,
      url: `/api/v1/bundle/${res.headers['x-btfhub-job'] as string}`,
    },
  });
});

t.test('a long build is a job: 202, progress, the .tar.gz at its URL', async (t) => {
  const slow = await setupCoverageApi(t, { requestWaitMs: 0 });
  const res = await slow.app.inject({ method: 'POST', url: '/api/v1/bundle', ...form({ arch: 'arm64' }) });
  t.equal(res.statusCode, 202, res.body);
  const { job_id: id } = res.json<{ job_id: string }>();
  t.match(id, /^bundle-[0-9a-f]{64}$/);
  const last = (await followJob(slow.app, id)).at(-1)!;
  const arm = archive.kernels.filter((k) => k.ref.arch === 'arm64');
  t.match(last, { kind: 'bundle', state: 'completed', progress: { done: arm.length, total: arm.length }, result: { kernels: arm.length } });
  const bundle = await slow.app.inject({ method: 'GET', url: `/api/v1/bundle/${id}` });
  t.equal(bundle.statusCode, 200);
  t.same([...entriesOf(bundle.rawPayload).keys()].sort(), arm.map((k) => `${k.path}.btf`).sort());
  t.equal(bundle.headers['x-btfhub-distinct'], String((last.result as { distinct: number }).distinct));
  const missing = await slow.app.inject({ method: 'GET', url: `/api/v1/bundle/bundle-${'f'.repeat(64)}` });
  t.equal(missing.statusCode, 404);
  const notFound = await slow.app.inject({ method: 'POST', url: '/api/v1/bundle', ...form({ kernel_version: '2.6.' }) });
  t.equal(notFound.statusCode, 404);
  t.match(notFound.json(), { error: 'kernel_not_found' });
});
