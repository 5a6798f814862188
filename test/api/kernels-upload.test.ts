/**
 * POST /api/v1/kernels (admin): the bearer token (disabled without one, 401 without the
 * right one), validation as import does it (a corrupt file is a 422 naming why, and
 * nothing is stored or registered), raw BTF and .btf.tar.xz uploads registered under the
 * content key (its sha256), and the uploaded kernel then serves trims.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { sha256Hex } from '../../src/api/trim-service.js';
import { ADMIN_TOKEN, setupCoverageApi } from './coverage-setup.js';
import { kernelContentKey } from '../../src/storage/keys.js';
import { btfForm, fixtureObject, keysUnder, multipart } from './helpers.js';

const api = await setupCoverageApi(t, { adminToken: ADMIN_TOKEN, registerArchive: false });
const { app, archive, fixtures } = api;
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const IDENTITY = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-200-generic' };

function upload(
  file: { name: string; bytes: Uint8Array } | null,
  fields: Record<string, string> = IDENTITY,
  headers: Record<string, string> = auth,
) {
  const body = multipart([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    ...(file === null ? [] : [{ name: 'btf', filename: file.name, data: file.bytes }]),
  ]);
  return app.inject({ method: 'POST', url: '/api/v1/kernels', payload: body.payload, headers: { ...body.headers, ...headers } });
}

/** Byte equality without tap's diff of megabytes. */
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/** Kernel files of the test archive (variants of the fixtures' kernel) as upload material. */
const archiveFile = async (path: string) => new Uint8Array(await readFile(join(archive.dir, path)));
const variant = await archiveFile('ubuntu/24.04/x86_64/6.11.0-9-generic.btf');
const other = await archiveFile('centos/8/x86_64/4.18.0-348.el8.x86_64.btf');
const packed = await archiveFile('ubuntu/24.04/x86_64/6.11.0-8-generic.btf.tar.xz');

t.test('admin only: 401 without the token or with a wrong one, 403 when no token is configured', async (t) => {
  const none = await upload({ name: 'vmlinux', bytes: variant }, IDENTITY, {});
  t.equal(none.statusCode, 401);
  t.match(none.headers['www-authenticate'], /^Bearer/);
  t.match(none.json(), { error: 'unauthorized' });
  const wrong = await upload({ name: 'vmlinux', bytes: variant }, IDENTITY, { authorization: 'Bearer not-the-admin-token-at-all' });
  t.equal(wrong.statusCode, 401);
  t.match(wrong.json(), { error: 'unauthorized', message: /not valid/ });
  const basic = await upload({ name: 'vmlinux', bytes: variant }, IDENTITY, {
    authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
  });
  t.equal(basic.statusCode, 401);

  const disabled = await setupCoverageApi(t, { registerArchive: false });
  const body = multipart([{ name: 'btf', filename: 'vmlinux', data: variant }]);
  const res = await disabled.app.inject({
    method: 'POST',
    url: '/api/v1/kernels',
    payload: body.payload,
    headers: { ...body.headers, ...auth },
  });
  t.equal(res.statusCode, 403);
  t.match(res.json(), { error: 'admin_disabled' });
  t.equal((await api.catalog.listKernels({}, { limit: 10, offset: 0 })).total, 0, 'nothing registered');
});

t.test('a corrupt upload is a 422 naming why; nothing stored or registered', async (t) => {
  const corrupt = new Uint8Array(await readFile(join(archive.dir, archive.corruptKey)));
  const res = await upload({ name: '5.15.0-200-generic.btf.tar.xz', bytes: corrupt });
  t.equal(res.statusCode, 422);
  t.match(res.json(), { error: 'invalid_kernel', field: 'btf', message: /^5\.15\.0-200-generic\.btf\.tar\.xz: .*xz/ });
  const garbage = await upload({ name: 'vmlinux', bytes: new TextEncoder().encode('definitely not BTF') });
  t.equal(garbage.statusCode, 422);
  t.match(garbage.json(), { error: 'invalid_kernel', message: /not raw BTF, an ELF file with \.BTF, or a \.btf\.tar\.xz/ });
  const truncated = await upload({ name: 'vmlinux', bytes: variant.subarray(0, 4000) });
  t.equal(truncated.statusCode, 422);
  t.match(truncated.json(), { error: 'invalid_kernel', field: 'btf', message: /^vmlinux: / });
  t.same(await keysUnder(api.serviceStore, ''), [], 'the store is empty');
  t.equal((await api.catalog.listKernels({}, { limit: 10, offset: 0 })).total, 0, 'the catalog is empty');
});

t.test('fields: identity validated like everywhere, one btf part', async (t) => {
  const badArch = await upload({ name: 'vmlinux', bytes: variant }, { ...IDENTITY, arch: 'sparc64' });
  t.equal(badArch.statusCode, 400);
  t.match(badArch.json(), { error: 'invalid_field', field: 'arch' });
  const missing = await upload(null);
  t.equal(missing.statusCode, 400);
  t.match(missing.json(), { error: 'missing_field', field: 'btf' });
  const noVersion = await upload({ name: 'vmlinux', bytes: variant }, { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64' });
  t.equal(noVersion.statusCode, 400);
  t.match(noVersion.json(), { error: 'missing_field', field: 'kernel_version' });
});

t.test('raw BTF: registered (201), then unchanged (200), then replaced (200, updated)', async (t) => {
  const res = await upload({ name: 'vmlinux', bytes: variant }, { ...IDENTITY, distro_version: 'jammy', arch: 'amd64' });
  t.equal(res.statusCode, 201, res.body);
  t.match(res.json(), {
    distro: 'ubuntu',
    distro_version: '22.04',
    arch: 'x86_64',
    kernel_version: '5.15.0-200-generic',
    format: 'btf',
    size: variant.length,
    sha256: sha256Hex(variant),
    outcome: 'added',
    btf_url: '/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-200-generic/btf',
  });
  t.ok(same(await api.serviceStore.get(kernelContentKey(sha256Hex(variant), 'btf')), variant), 'stored under its content key');
  t.equal(await api.serviceStore.get('ubuntu/22.04/x86_64/5.15.0-200-generic.btf'), null, 'not under the archive layout key');
  const again = await upload({ name: 'vmlinux', bytes: variant });
  t.equal(again.statusCode, 200);
  t.match(again.json(), { outcome: 'unchanged' });
  const replaced = await upload({ name: 'vmlinux', bytes: other });
  t.equal(replaced.statusCode, 200);
  t.match(replaced.json(), { outcome: 'updated', sha256: sha256Hex(other) });
  const download = await app.inject({ method: 'GET', url: '/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-200-generic/btf' });
  t.ok(same(download.rawPayload, other), 'the replaced BTF is served');
  t.ok(
    same(await api.serviceStore.get(kernelContentKey(sha256Hex(variant), 'btf')), variant),
    'the old content stays for jobs still reading it',
  );
});

t.test('a .btf.tar.xz is stored as is; the kernel then serves trims and the coverage', async (t) => {
  const fields = { distro: 'ubuntu', distro_version: '23.04', arch: 'arm64', kernel_version: '6.2.0-1-generic' };
  const res = await upload({ name: '6.2.0-1-generic.btf.tar.xz', bytes: packed }, fields);
  t.equal(res.statusCode, 201, res.body);
  t.match(res.json(), { format: 'btf.tar.xz', size: packed.length, sha256: sha256Hex(packed) });
  t.ok(
    same(await api.serviceStore.get(kernelContentKey(sha256Hex(packed), 'btf.tar.xz')), packed),
    'stored as uploaded, under its content key',
  );
  const tools = fixtureObject(fixtures, 'tools_like');
  const trim = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([tools], fields) });
  t.equal(trim.statusCode, 200, trim.body.slice(0, 300));
  t.equal(trim.headers['x-btfhub-kernel'], 'ubuntu/23.04/arm64/6.2.0-1-generic');
  const coverage = (await app.inject({ method: 'GET', url: '/api/v1/coverage' })).json<{
    items: { distro_version: string; kernels: number }[];
  }>();
  t.match(
    coverage.items.find((g) => g.distro_version === '23.04'),
    { kernels: 1 },
  );
});
