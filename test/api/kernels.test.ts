/**
 * GET /api/v1/kernels (filters, pages), .../{kernel} (metadata) and .../btf (raw or
 * .btf.tar.xz by Accept), plus the jobs route's 404 and 400.
 */
import t from 'tap';
import { readKernelBtfFile } from '../../src/archive/kernel-btf.js';
import { isXz } from '../../src/archive/xz.js';
import { ErrorBody, KernelInfo, KernelList } from '../../src/api/schemas.js';
import { sha256Hex } from '../../src/api/trim-service.js';
import { archiveKernelBtf, registerKernel, setupApi } from './helpers.js';

t.test('listing, filters, pagination', async (t) => {
  const { app, fixtures, store, catalog } = await setupApi(t);
  // A few more kernels (raw, the same bytes) to page through.
  for (const kernel of ['5.4.0-42-generic', '5.4.0-100-generic', '5.8.0-1-generic']) {
    await registerKernel(store, catalog, { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel }, 'btf', fixtures.vmlinux);
  }
  await registerKernel(
    store,
    catalog,
    { distro: 'ubuntu', distroVersion: '20.04', arch: 'arm64', kernel: '5.4.0-42-generic' },
    'btf',
    fixtures.vmlinux,
  );

  const all = KernelList.parse((await app.inject('/api/v1/kernels')).json());
  t.equal(all.total, 5);
  t.equal(all.items.length, 5);
  t.equal(all.limit, 100);
  t.equal(all.offset, 0);
  const first = all.items[0]!;
  t.equal(first.distro, 'ubuntu');
  t.equal(first.format, 'btf');
  t.equal(first.sha256, sha256Hex(fixtures.vmlinux));
  t.equal(first.size, fixtures.vmlinux.length);
  t.match(first.btf_url, /^\/api\/v1\/kernels\/ubuntu\/20\.04\/arm64\/5\.4\.0-42-generic\/btf$/);

  const focal = KernelList.parse((await app.inject('/api/v1/kernels?distro=ubuntu&distro_version=focal&arch=amd64')).json());
  t.equal(focal.total, 3, 'aliases apply to filters');
  t.ok(focal.items.every((k) => k.distro_version === '20.04' && k.arch === 'x86_64'));

  const prefix = KernelList.parse((await app.inject('/api/v1/kernels?kernel_prefix=5.4.')).json());
  t.equal(prefix.total, 3);

  const page1 = KernelList.parse((await app.inject('/api/v1/kernels?limit=2')).json());
  const page2 = KernelList.parse((await app.inject('/api/v1/kernels?limit=2&offset=2')).json());
  const page3 = KernelList.parse((await app.inject('/api/v1/kernels?limit=2&offset=4')).json());
  t.equal(page1.items.length, 2);
  t.equal(page3.items.length, 1);
  t.same([...page1.items, ...page2.items, ...page3.items], all.items, 'pages add up to the list');
  t.equal(page3.total, 5);

  for (const [query, field] of [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=abc', 'limit'],
    ['offset=-1', 'offset'],
    ['distro=../x', 'distro'],
    ['distro=windows', 'distro'],
    ['arch=sparc', 'arch'],
    ['kernel_prefix=a/b', 'kernel_prefix'],
  ] as const) {
    const res = await app.inject(`/api/v1/kernels?${query}`);
    t.equal(res.statusCode, 400, query);
    t.match(res.json(), { error: 'invalid_field', field }, query);
  }
});

t.test('one kernel: metadata and its BTF, raw or .btf.tar.xz', async (t) => {
  const { app, fixtures, store, catalog } = await setupApi(t, { withArchiveKernel: true });
  // A small BTF stored raw, so converting it to .btf.tar.xz is quick.
  const small = { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-1-small' };
  await registerKernel(store, catalog, small, 'btf', archiveKernelBtf(fixtures));

  const full = await app.inject('/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic/btf');
  t.same(full.rawPayload, Buffer.from(fixtures.vmlinux), 'the full kernel BTF');

  const raw = await app.inject('/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic');
  t.equal(raw.statusCode, 200);
  const info = KernelInfo.parse(raw.json());
  t.equal(info.format, 'btf');
  t.equal(info.kernel_version, '5.15.0-91-generic');

  const alias = await app.inject('/api/v1/kernels/ubuntu/jammy/amd64/5.15.0-91-generic');
  t.same(alias.json(), raw.json(), 'aliases in the path');

  const xzInfo = KernelInfo.parse((await app.inject('/api/v1/kernels/debian/bullseye/aarch64/5.10.0-26-arm64')).json());
  t.equal(xzInfo.format, 'btf.tar.xz');
  t.equal(xzInfo.distro_version, '11');

  for (const [path, btf] of [
    ['ubuntu/20.04/x86_64/5.4.0-1-small', archiveKernelBtf(fixtures)],
    ['debian/11/arm64/5.10.0-26-arm64', archiveKernelBtf(fixtures)],
  ] as const) {
    const kernel = path.split('/')[3];
    for (const accept of [undefined, 'application/octet-stream', '*/*', 'application/x-xz;q=0.5, application/octet-stream']) {
      const res = await app.inject({ url: `/api/v1/kernels/${path}/btf`, headers: accept === undefined ? {} : { accept } });
      t.equal(res.statusCode, 200, `${path} Accept ${accept}`);
      t.equal(res.headers['content-type'], 'application/octet-stream');
      t.equal(res.headers['content-disposition'], `attachment; filename="${kernel}.btf"`);
      t.match(res.headers.vary, /Accept/);
      t.same(res.rawPayload, Buffer.from(btf), `${path}: the raw BTF`);
    }
    // Raw to .btf.tar.xz runs xz once, then the derived archive is served from the store.
    for (const accept of [
      'application/x-xz',
      'application/x-xz, application/octet-stream;q=0.9',
      'application/octet-stream;q=0.1, application/x-xz',
    ]) {
      const res = await app.inject({ url: `/api/v1/kernels/${path}/btf`, headers: { accept } });
      t.equal(res.statusCode, 200);
      t.equal(res.headers['content-type'], 'application/x-xz');
      t.equal(res.headers['content-disposition'], `attachment; filename="${kernel}.btf.tar.xz"`);
      t.ok(isXz(res.rawPayload), 'xz');
      if (accept === 'application/x-xz') {
        t.same(await readKernelBtfFile(res.rawPayload, `${kernel}.btf.tar.xz`), Buffer.from(btf), `${path}: archive holds the BTF`);
      }
    }
  }

  for (const url of [
    '/api/v1/kernels/ubuntu/22.04/x86_64/6.0.0-nope',
    '/api/v1/kernels/ubuntu/22.04/x86_64/6.0.0-nope/btf',
    '/api/v1/kernels/fedora/38/x86_64/5.15.0-91-generic',
  ]) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 404, url);
    t.equal(res.json<{ error: string; field?: string; message: string }>().error, 'kernel_not_found');
    t.ok(ErrorBody.safeParse(res.json()).success);
  }
  for (const [url, field] of [
    ['/api/v1/kernels/ubuntu/..%2F..%2Fetc/x86_64/5.15.0-91-generic', 'distro_version'],
    ['/api/v1/kernels/ubuntu/22.04/x86_64/5..15', 'kernel_version'],
    ['/api/v1/kernels/ubuntu/22.04/x86_64/-rf/btf', 'kernel_version'],
    ['/api/v1/kernels/ubuntu/22.04/x86%2F64/5.15.0-91-generic/btf', 'arch'],
    [`/api/v1/kernels/ubuntu/22.04/x86_64/${'9'.repeat(129)}`, 'kernel_version'],
    ['/api/v1/kernels/plan9/4/x86_64/5.15.0-91-generic', 'distro'],
  ] as const) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 400, url);
    t.match(res.json(), { error: 'invalid_field', field }, url);
  }
});

t.test('jobs: unknown id 404, malformed id 400', async (t) => {
  const { app } = await setupApi(t);
  const unknown = await app.inject(`/api/v1/jobs/${'f'.repeat(64)}`);
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { error: 'job_not_found' });
  const bad = await app.inject('/api/v1/jobs/..%2Fetc');
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: 'invalid_field', field: 'id' });
});
