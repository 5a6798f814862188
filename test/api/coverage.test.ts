/**
 * GET /api/v1/coverage and GET /api/v1/coverage/{distro}/{distro_version}/{arch} over the
 * test archive: the counts are the archive's files (the corrupt one is not registered, the
 * markers are counted as markers), kernels in version order, JSON and CSV; and the page's
 * files are served.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compareKernelVersions, coverageOf } from '../../src/api/routes/api/v1/coverage.js';
import { publicDir } from '../../src/api/routes/page.js';
import { setupCoverageApi } from './coverage-setup.js';

const api = await setupCoverageApi(t);
const { app, archive } = api;

interface Entry {
  distro: string;
  distro_version: string;
  arch: string;
  kernels: number;
  oldest_kernel?: string;
  newest_kernel?: string;
  last_added?: string;
  last_added_kernel?: string;
  markers: { failed: number; hasbtf: number };
  url: string;
}

const groupOf = (path: string) => path.split('/').slice(0, 3).join('/');

/** Kernel files per group, from the archive's own description. */
function expectedGroups(): Map<string, { kernels: string[]; failed: number; hasbtf: number }> {
  const groups = new Map<string, { kernels: string[]; failed: number; hasbtf: number }>();
  const get = (key: string) => {
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kernels: [], failed: 0, hasbtf: 0 }));
    return g;
  };
  for (const k of archive.kernels) get(groupOf(k.path)).kernels.push(k.ref.kernel);
  for (const m of archive.markers) get(groupOf(m.key))[m.marker]++;
  return groups;
}

t.test('the registration saw the archive: its kernel files, markers, the corrupt file', async (t) => {
  t.equal(api.registration?.added, archive.kernels.length);
  t.same(
    api.registration?.invalid.map((i) => i.key),
    [archive.corruptKey],
  );
  t.equal(api.registration?.markers, archive.markers.length);
});

t.test('coverage counts equal the files of the test archive', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/coverage' });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.headers['content-type'], /application\/json/);
  t.equal(res.headers.vary, 'Accept');
  const body = res.json<{ items: Entry[]; totals: Record<string, number> }>();
  const want = expectedGroups();
  t.same(
    body.items.map((g) => `${g.distro}/${g.distro_version}/${g.arch}`),
    [...want.keys()].sort(),
    'one entry per distro/release/arch, sorted',
  );
  for (const g of body.items) {
    const expected = want.get(`${g.distro}/${g.distro_version}/${g.arch}`)!;
    t.equal(g.kernels, expected.kernels.length, `${g.url}: kernels`);
    t.same(g.markers, { failed: expected.failed, hasbtf: expected.hasbtf }, `${g.url}: markers`);
    const sorted = [...expected.kernels].sort(compareKernelVersions);
    t.equal(g.oldest_kernel, sorted[0], `${g.url}: oldest`);
    t.equal(g.newest_kernel, sorted.at(-1), `${g.url}: newest`);
    t.ok(expected.kernels.includes(g.last_added_kernel!), `${g.url}: last added is one of its kernels`);
    t.ok(!Number.isNaN(Date.parse(g.last_added!)), `${g.url}: last_added is a time`);
  }
  t.same(body.totals, {
    kernels: archive.kernels.length,
    generated: 0,
    groups: want.size,
    failed: archive.markers.filter((m) => m.marker === 'failed').length,
    hasbtf: archive.markers.filter((m) => m.marker === 'hasbtf').length,
  });
  const old = body.items.find((g) => g.distro === 'ubuntu' && g.distro_version === '20.04' && g.arch === 'x86_64')!;
  t.match(old, { kernels: 2, oldest_kernel: '5.4.0-42-generic', newest_kernel: '5.4.0-100-generic' }, 'version order, not text order');
  t.notOk(
    body.items.some((g) => g.distro === 'amzn'),
    'the corrupt kernel is not covered',
  );
});

t.test('coverage as CSV', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/coverage', headers: { accept: 'text/csv' } });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/csv/);
  const lines = res.body.trimEnd().split('\r\n');
  t.equal(lines[0], 'distro,distro_version,arch,kernels,oldest_kernel,newest_kernel,last_added,last_added_kernel,failed,hasbtf');
  t.equal(lines.length - 1, expectedGroups().size);
  t.match(
    lines.find((l) => l.startsWith('ubuntu,20.04,x86_64,')),
    /^ubuntu,20\.04,x86_64,2,5\.4\.0-42-generic,5\.4\.0-100-generic,\d{4}-/,
  );
  t.match(
    lines.find((l) => l.startsWith('ubuntu,24.04,arm64,')),
    /,1,0$/,
    'the .failed marker',
  );
  const sum = lines.slice(1).reduce((n, l) => n + Number(l.split(',')[3]), 0);
  t.equal(sum, archive.kernels.length);
  const json = await app.inject({
    method: 'GET',
    url: '/api/v1/coverage',
    headers: { accept: 'text/html, application/json;q=0.9, text/csv;q=0.5' },
  });
  t.match(json.headers['content-type'], /application\/json/, 'the preferred type wins');
});

t.test('the kernels of one distro / release / arch, aliases accepted', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/coverage/Ubuntu/focal/amd64' });
  t.equal(res.statusCode, 200, res.body);
  const body = res.json<{
    distro: string;
    distro_version: string;
    arch: string;
    items: { kernel_version: string; format: string; btf_url: string }[];
    markers: unknown[];
  }>();
  t.match(body, { distro: 'ubuntu', distro_version: '20.04', arch: 'x86_64', markers: [] });
  t.same(
    body.items.map((k) => k.kernel_version),
    ['5.4.0-42-generic', '5.4.0-100-generic'],
  );
  t.same(
    body.items.map((k) => k.format),
    ['btf.tar.xz', 'btf'],
  );
  t.equal(body.items[0]!.btf_url, '/api/v1/kernels/ubuntu/20.04/x86_64/5.4.0-42-generic/btf');

  const withMarker = (await app.inject({ method: 'GET', url: '/api/v1/coverage/ubuntu/24.04/arm64' })).json<{
    items: unknown[];
    markers: unknown[];
  }>();
  t.equal(withMarker.items.length, 1);
  t.same(withMarker.markers, [{ kernel_version: '6.11.0-9-generic', marker: 'failed' }]);

  const csv = await app.inject({ method: 'GET', url: '/api/v1/coverage/fedora/40/x86_64', headers: { accept: 'text/csv' } });
  t.equal(csv.statusCode, 200);
  const lines = csv.body.trimEnd().split('\r\n');
  t.equal(lines[0], 'kernel_version,status,format,size,sha256,added_at');
  t.match(lines[1], /^6\.8\.5-301\.fc40\.x86_64,btf,btf,\d+,[0-9a-f]{64},\d{4}-/);
  t.match(lines[2], /^6\.9\.0-1\.fc40\.x86_64,hasbtf,,,,\d{4}-/);

  const unknown = await app.inject({ method: 'GET', url: '/api/v1/coverage/ubuntu/99.04/x86_64' });
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { error: 'kernel_not_found', message: /ubuntu\/99\.04\/x86_64/ });
  const bad = await app.inject({ method: 'GET', url: '/api/v1/coverage/ubuntu/..20/x86_64' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: 'invalid_field', field: 'distro_version' });
  const badArch = await app.inject({ method: 'GET', url: '/api/v1/coverage/ubuntu/20.04/sparc' });
  t.match(badArch.json(), { error: 'invalid_field', field: 'arch' });
});

t.test('kernel version order', async (t) => {
  const versions = [
    '5.15.0-1-generic',
    '5.4.0-100-generic',
    '4.18.0-348.el8.x86_64',
    '5.4.0-42-generic',
    '5.4.0-42-generic',
    '6.1.0-9-amd64',
    '5.4.0',
  ];
  t.same([...versions].sort(compareKernelVersions), [
    '4.18.0-348.el8.x86_64',
    '5.4.0',
    '5.4.0-42-generic',
    '5.4.0-42-generic',
    '5.4.0-100-generic',
    '5.15.0-1-generic',
    '6.1.0-9-amd64',
  ]);
  t.same(coverageOf([], []), { items: [], totals: { kernels: 0, generated: 0, groups: 0, failed: 0, hasbtf: 0 } });
});

t.test('the coverage page and its files', async (t) => {
  const page = await app.inject({ method: 'GET', url: '/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  t.match(page.body, /<script type="module" src="\/assets\/app\.js"><\/script>/);
  for (const [file, type] of [
    ['app.js', /^text\/javascript/],
    ['app.css', /^text\/css/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `/assets/${file}` });
    t.equal(res.statusCode, 200, file);
    t.match(res.headers['content-type'], type, file);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
  }
  const missing = await app.inject({ method: 'GET', url: '/assets/secret.env' });
  t.equal(missing.statusCode, 400);
  t.match(missing.json(), { error: 'invalid_field', field: 'file' });
  const traversal = await app.inject({ method: 'GET', url: '/assets/..%2Fpackage.json' });
  t.equal(traversal.statusCode, 400);
  const dir = publicDir();
  t.ok(dir !== null && existsSync(join(dir, 'index.html')), `the page's files are found (${dir})`);
  t.equal(publicDir('/'), null, 'a build without them: null, and the routes answer 404 instead of failing the start');
});
