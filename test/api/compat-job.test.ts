/**
 * POST /api/v1/compat over HTTP, on the test archive's variant kernels: every kernel gives
 * exactly the outcomes its variant was built to produce, the summary counts equal the
 * archive, filters narrow the kernels, a long run is a job whose progress
 * GET /api/v1/jobs/{id} shows, and bad input is refused before anything is stored.
 */
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { Btf, parseBpfObject } from '../../src/btf/index.js';
import { kernelCompat, listRelocations } from '../../src/coverage/compat.js';
import { expectedClasses } from '../../src/coverage/variants.js';
import type { CompatReportBody } from '../../src/coverage/compat-report.js';
import { fixtureObject, keysUnder, multipart, withoutBtfExt } from './helpers.js';
import { followJob, labelOf, setupCoverageApi } from './coverage-setup.js';

const api = await setupCoverageApi(t);
const { app, archive, fixtures } = api;
const toolsLike = fixtureObject(fixtures, 'tools_like');
const objects = [parseBpfObject(toolsLike.bytes, 'tools_like.bpf.o')];
const relocations = listRelocations(objects);
const base = kernelCompat(Btf.parse(fixtures.vmlinux), objects, relocations).results.map((r) => r.class);

function form(files: { name: string; bytes: Uint8Array }[], fields: Record<string, string> = {}) {
  return multipart([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    ...files.map((f) => ({ name: 'object', filename: f.name, data: f.bytes })),
  ]);
}

async function post(files: { name: string; bytes: Uint8Array }[], fields: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/api/v1/compat', ...form(files, fields) });
}

const tools = { name: 'tools_like.bpf.o', bytes: toolsLike.bytes };
const first = await post([tools]);
const report = first.json<CompatReportBody>();

t.test('the report: every registered kernel, with the relocations of the object', async (t) => {
  t.equal(first.statusCode, 200, first.body.slice(0, 300));
  t.match(first.headers['content-type'], /application\/json/);
  t.match(first.headers['x-btfhub-job'], /^compat-[0-9a-f]{64}$/);
  t.same(report.objects, [{ name: 'tools_like.bpf.o', relocations: 145 }]);
  t.same(
    report.relocations.map((r) => `${r.section}#${r.index} ${r.kind} ${r.path}`),
    relocations.map((r) => `${r.section}#${r.index} ${r.kind} ${r.path}`),
    'relocations in the codec order',
  );
  t.same(
    report.kernels.map(labelOf).sort(),
    archive.kernels.map((k) => k.path).sort(),
    'the registered kernels (the corrupt file is not one)',
  );
});

t.test('compat outcomes over HTTP are the ones the variants were built to produce', async (t) => {
  for (const k of archive.kernels) {
    const got = report.kernels.find((r) => labelOf(r) === k.path);
    if (!got) {
      t.fail(`${k.path} missing`);
      continue;
    }
    const want = expectedClasses(relocations, base, k.rules);
    t.same(
      got.results.map((r) => r.class),
      want,
      `${k.path} (${k.variants.join(' + ')})`,
    );
    const changed = want.filter((c, i) => c !== base[i]).length;
    if (k.variants.every((v) => v === 'base' || v.startsWith('unrelated-'))) t.equal(changed, 0, `${k.path}: as the base kernel`);
    else t.ok(changed > 0, `${k.path}: ${changed} outcomes differ from the base kernel`);
  }
  const byPath = (path: string) => report.kernels.find((k) => labelOf(k) === path)!;
  const index = (path: string) => report.relocations.findIndex((r) => r.path === path && r.kind === 'byte_off');
  t.match(byPath('ubuntu/20.04/x86_64/5.4.0-42-generic').results[index('task_struct.__state')], {
    class: 'field_missing',
    value: null,
    reason: /task_struct\.__state/,
  });
  t.match(byPath('ubuntu/20.04/x86_64/5.4.0-42-generic').results[index('task_struct.state')], { class: 'resolved', value: 24 });
  t.notOk('reason' in byPath('ubuntu/20.04/x86_64/5.4.0-42-generic').results[index('task_struct.state')]!, 'no reason when resolved');
  const fedora = byPath('fedora/40/x86_64/6.8.5-301.fc40.x86_64');
  t.same(fedora.failed_objects, ['tools_like.bpf.o']);
  t.match(fedora.results[index('cfs_rq.nr_queued')], { class: 'ambiguous', reason: /ambiguity/ });
});

t.test('the summary per distro / release / arch equals the archive', async (t) => {
  t.same(report.totals, { kernels: archive.kernels.length, unreadable: 0, loadable: archive.kernels.length - 1, all_resolved: 0 });
  t.same(
    report.summary.map((g) => `${g.distro}/${g.distro_version}/${g.arch}:${g.kernels}`),
    [
      'centos/8/x86_64:1',
      'debian/12/arm64:1',
      'debian/12/x86_64:1',
      'fedora/40/x86_64:1',
      'ubuntu/20.04/arm64:1',
      'ubuntu/20.04/x86_64:2',
      'ubuntu/24.04/arm64:1',
      'ubuntu/24.04/x86_64:2',
    ],
  );
  t.match(
    report.summary.find((g) => g.distro === 'fedora'),
    { loadable: 0, kernels_with: { ambiguous: 1 } },
  );
  t.same(report.summary.find((g) => g.distro_version === '20.04' && g.arch === 'x86_64')!.relocations, {
    resolved: 276,
    field_missing: 14,
    type_missing: 0,
    enum_missing: 0,
    ambiguous: 0,
    error: 0,
  });
  const state = report.relocations.find((r) => r.path === 'task_struct.__state' && r.kind === 'byte_off')!;
  t.same(state.outcomes, { resolved: 7, field_missing: 3, type_missing: 0, enum_missing: 0, ambiguous: 0, error: 0 });
});

t.test('the same request again is the same job, answered at once', async (t) => {
  const again = await post([tools]);
  t.equal(again.statusCode, 200);
  t.equal(again.headers['x-btfhub-job'], first.headers['x-btfhub-job']);
  t.equal(again.body, first.body);
  const stored = await app.inject({ method: 'GET', url: `/api/v1/compat/${first.headers['x-btfhub-job'] as string}` });
  t.equal(stored.statusCode, 200);
  t.equal(stored.body, first.body, 'GET /api/v1/compat/{id} serves the same report');
});

t.test('a gzip-compressed object is the same object', async (t) => {
  const gz = await post([{ name: 'tools_like.bpf.o', bytes: gzipSync(toolsLike.bytes) }]);
  t.equal(gz.statusCode, 200, gz.body.slice(0, 300));
  t.equal(gz.headers['x-btfhub-job'], first.headers['x-btfhub-job'], 'the same job as the plain upload');
});

t.test('a kernel filter: aliases accepted, a kernel release prefix', async (t) => {
  const arm = await post([tools], { distro: 'Ubuntu', distro_version: 'focal', arch: 'aarch64' });
  t.equal(arm.statusCode, 200, arm.body.slice(0, 300));
  const body = arm.json<CompatReportBody>();
  t.same(body.kernels.map(labelOf), ['ubuntu/20.04/arm64/5.4.0-42-generic']);
  t.same(body.filter, { distro: 'ubuntu', distro_version: '20.04', arch: 'arm64' });
  t.not(arm.headers['x-btfhub-job'], first.headers['x-btfhub-job'], 'another filter, another job');
  const prefix = (await post([tools], { kernel_version: '6.11.' })).json<CompatReportBody>();
  t.same(prefix.kernels.map(labelOf).sort(), [
    'ubuntu/24.04/arm64/6.11.0-8-generic',
    'ubuntu/24.04/x86_64/6.11.0-8-generic',
    'ubuntu/24.04/x86_64/6.11.0-9-generic',
  ]);
  const none = await post([tools], { distro: 'debian', distro_version: '9' });
  t.equal(none.statusCode, 404);
  t.match(none.json(), { error: 'kernel_not_found', message: /distro=debian, distro_version=9/ });
});

t.test('several objects: each relocation of each, objects named as uploaded', async (t) => {
  const a = fixtureObject(fixtures, 'shared_a');
  const b = fixtureObject(fixtures, 'shared_b');
  const res = await post(
    [
      { name: 'a.bpf.o', bytes: a.bytes },
      { name: 'b.bpf.o', bytes: b.bytes },
    ],
    { distro: 'centos' },
  );
  t.equal(res.statusCode, 200, res.body.slice(0, 300));
  const body = res.json<CompatReportBody>();
  t.same(
    body.objects.map((o) => o.name),
    ['a.bpf.o', 'b.bpf.o'],
  );
  t.equal(
    body.kernels[0]!.results.length,
    body.objects.reduce((n, o) => n + o.relocations, 0),
  );
});

t.test('the same object twice is one object', async (t) => {
  const twice = await post([tools, { name: 'again.bpf.o', bytes: toolsLike.bytes }]);
  t.equal(twice.statusCode, 200);
  t.equal(twice.headers['x-btfhub-job'], first.headers['x-btfhub-job'], 'the same job as one upload');
});

t.test('a long run is a job: 202, progress in GET /api/v1/jobs/{id}, the report at its URL', async (t) => {
  const slow = await setupCoverageApi(t, { requestWaitMs: 0 });
  const res = await slow.app.inject({ method: 'POST', url: '/api/v1/compat', ...form([tools]) });
  t.equal(res.statusCode, 202, res.body);
  const { job_id: id, state } = res.json<{ job_id: string; state: string }>();
  t.match(id, /^compat-[0-9a-f]{64}$/);
  t.match(state, /^(waiting|active)$/);
  t.equal(res.headers.location, `/api/v1/jobs/${id}`);
  const pending = await slow.app.inject({ method: 'GET', url: `/api/v1/compat/${id}` });
  t.ok(pending.statusCode === 202 || pending.statusCode === 200, 'the report URL says 202 while it runs');
  const seen = await followJob(slow.app, id);
  const last = seen.at(-1)!;
  t.match(last, {
    job_id: id,
    kind: 'compat',
    state: 'completed',
    objects: [{ name: 'tools_like.bpf.o', sha256: /^[0-9a-f]{64}$/ }],
    filter: {},
    progress: { done: archive.kernels.length, total: archive.kernels.length, failed: 1 },
    result: { kernels: archive.kernels.length, loadable: archive.kernels.length - 1, relocations: 145, url: `/api/v1/compat/${id}` },
  });
  t.ok(seen.every((s) => s.kind === 'compat'));
  const full = await slow.app.inject({ method: 'GET', url: `/api/v1/compat/${id}` });
  t.equal(full.statusCode, 200);
  t.same(
    full.json<CompatReportBody>().kernels.map((k) => k.results.map((r) => r.class)),
    report.kernels.map((k) => k.results.map((r) => r.class)),
  );
  const unknown = await slow.app.inject({ method: 'GET', url: `/api/v1/compat/compat-${'0'.repeat(64)}` });
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { error: 'job_not_found' });
  const noJob = await slow.app.inject({ method: 'GET', url: `/api/v1/jobs/compat-${'0'.repeat(64)}` });
  t.equal(noJob.statusCode, 404);
});

t.test('bad input is refused before anything is stored', async (t) => {
  const fresh = await setupCoverageApi(t, { registerArchive: true });
  const notBpf = await fresh.app.inject({
    method: 'POST',
    url: '/api/v1/compat',
    ...form([{ name: 'x.o', bytes: new TextEncoder().encode('not an ELF') }]),
  });
  t.equal(notBpf.statusCode, 422);
  t.match(notBpf.json(), { error: 'invalid_object', field: 'object', message: /x\.o/ });
  const noExt = await fresh.app.inject({
    method: 'POST',
    url: '/api/v1/compat',
    ...form([tools, { name: 'noext.o', bytes: withoutBtfExt(toolsLike.bytes) }]),
  });
  t.equal(noExt.statusCode, 422);
  t.same(await keysUnder(fresh.serviceStore, 'objects/'), [], 'no object stored');
  const none = await fresh.app.inject({ method: 'POST', url: '/api/v1/compat', ...form([], { distro: 'ubuntu' }) });
  t.equal(none.statusCode, 400);
  t.match(none.json(), { error: 'missing_field', field: 'object' });
  const unknownField = await fresh.app.inject({ method: 'POST', url: '/api/v1/compat', ...form([tools], { kernel: '5.4' }) });
  t.equal(unknownField.statusCode, 400);
  t.match(unknownField.json(), { error: 'invalid_field', field: 'kernel' });
  const badDistro = await fresh.app.inject({ method: 'POST', url: '/api/v1/compat', ...form([tools], { distro: 'gentoo' }) });
  t.equal(badDistro.statusCode, 400);
  t.match(badDistro.json(), { error: 'invalid_field', field: 'distro' });
  const notMultipart = await fresh.app.inject({
    method: 'POST',
    url: '/api/v1/compat',
    payload: '{}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(notMultipart.statusCode, 415);
  const badId = await fresh.app.inject({ method: 'GET', url: '/api/v1/compat/bundle-123' });
  t.equal(badId.statusCode, 400);
});
