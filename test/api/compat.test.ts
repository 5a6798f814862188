/**
 * The original BTFHub Online routes: /api/v1/list, /api/v1/download, /api/v1/customize,
 * /monitoring/health and /monitoring/metrics. Same fields and formats as the Go service;
 * JSON errors with the right status where it answered 500.
 */
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { readTarEntries } from '../../src/archive/tar.js';
import { decompressXz } from '../../src/archive/xz.js';
import { CompatList, ErrorBody } from '../../src/api/schemas.js';
import { archiveKernelBtf, fixtureObject, keysUnder, multipart, oracle, setupApi, why } from './helpers.js';

const RAW_QUERY = 'distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';
const XZ_QUERY = 'distribution=debian&distribution_version=11&kernel_version=5.10.0-26-arm64&arch=arm64';

async function untar(archive: Uint8Array): Promise<{ name: string; data: Uint8Array }[]> {
  const tar = await decompressXz(archive, { maxOutputBytes: 64 * 1024 * 1024 });
  return [...readTarEntries(tar)].map((entry) => ({ name: entry.name, data: entry.data }));
}

t.test('/api/v1/list: every kernel as {distribution, distribution_version, kernel_version, arch}', async (t) => {
  const { app } = await setupApi(t, { withArchiveKernel: true });
  const res = await app.inject('/api/v1/list');
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  const list = CompatList.parse(res.json());
  t.same(list, [
    { distribution: 'debian', distribution_version: '11', kernel_version: '5.10.0-26-arm64', arch: 'arm64' },
    { distribution: 'ubuntu', distribution_version: '22.04', kernel_version: '5.15.0-91-generic', arch: 'x86_64' },
  ]);
  t.same(Object.keys(list[0]!), ['distribution', 'distribution_version', 'kernel_version', 'arch'], 'the original field order');
});

t.test('/api/v1/download: the stored .btf.tar.xz', async (t) => {
  const { app, fixtures } = await setupApi(t, { withArchiveKernel: true });
  const res = await app.inject(`/api/v1/download?${XZ_QUERY}`);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/octet-stream');
  t.equal(res.headers['content-description'], 'File Transfer');
  t.equal(res.headers['content-transfer-encoding'], 'binary');
  t.equal(res.headers['content-disposition'], 'attachment; filename="5.10.0-26-arm64.btf.tar.xz"');
  const entries = await untar(res.rawPayload);
  t.same(
    entries.map((e) => e.name),
    ['5.10.0-26-arm64.btf'],
  );
  t.same(Buffer.from(entries[0]!.data), Buffer.from(archiveKernelBtf(fixtures)));

  const aliased = await app.inject(
    '/api/v1/download?distribution=debian&distribution_version=bullseye&kernel_version=5.10.0-26-arm64&arch=aarch64',
  );
  t.equal(aliased.statusCode, 200, 'aliases accepted');

  const unknown = await app.inject('/api/v1/download?distribution=ubuntu&distribution_version=22.04&kernel_version=1.0.0&arch=x86_64');
  t.equal(unknown.statusCode, 404, 'unknown kernel: 404, not the original 500');
  t.equal(unknown.json<{ error: string; field?: string; message: string }>().error, 'kernel_not_found');

  for (const name of ['distribution', 'distribution_version', 'kernel_version', 'arch']) {
    const query = XZ_QUERY.split('&')
      .filter((p) => !p.startsWith(`${name}=`))
      .join('&');
    const missing = await app.inject(`/api/v1/download?${query}`);
    t.equal(missing.statusCode, 400, `missing ${name}`);
    t.match(missing.json(), { error: 'missing_field', field: name });
    const bad = await app.inject(`/api/v1/download?${query}&${name}=..%2F..`);
    t.equal(bad.statusCode, 400, `'../' in ${name}`);
    t.match(bad.json(), { error: 'invalid_field', field: name });
  }
  const unsupported = await app.inject('/api/v1/download?distribution=arch&distribution_version=1&kernel_version=6.1&arch=x86_64');
  t.match(unsupported.json(), { error: 'invalid_field', field: 'distribution' }, 'identity errors name the compat parameter');
});

t.test('/api/v1/customize: a .tar.xz holding the trimmed <kernel>.btf', async (t) => {
  const { app, fixtures, store } = await setupApi(t);
  const object = fixtureObject(fixtures, 'tools_like');
  const form = multipart([
    { name: 'bpf', filename: 'prog.bpf.o', data: object.bytes },
    { name: 'extra', data: 'ignored' },
  ]);
  const res = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.equal(res.statusCode, 200, why(res));
  t.equal(res.headers['content-type'], 'application/octet-stream');
  t.equal(res.headers['content-description'], 'File Transfer');
  t.equal(res.headers['x-btfhub-kernel'], 'ubuntu/22.04/x86_64/5.15.0-91-generic');
  const entries = await untar(res.rawPayload);
  t.same(
    entries.map((e) => e.name),
    ['5.15.0-91-generic.btf'],
  );
  t.same(Buffer.from(entries[0]!.data), Buffer.from(oracle(fixtures, 'tools_like')), 'the trimmed BTF equals bpftool');

  // Shares the cache with POST /api/v1/btf.
  const again = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.equal(again.statusCode, 200);
  t.same(await untar(again.rawPayload), entries);

  const errors: [string, InjectOptions, number, string, string?][] = [
    [
      'no bpf part',
      { method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...multipart([{ name: 'other', filename: 'x.o', data: object.bytes }]) },
      400,
      'missing_field',
      'bpf',
    ],
    ['JSON body', { method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, payload: { bpf: 'x' } }, 415, 'unsupported_media_type'],
    // The original's part name, not POST /api/v1/btf's `object`.
    [
      'not an ELF',
      { method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...multipart([{ name: 'bpf', filename: 'x.o', data: 'MZ not elf' }]) },
      422,
      'invalid_object',
      'bpf',
    ],
    [
      'unknown kernel',
      { method: 'POST', url: `/api/v1/customize?${RAW_QUERY.replace('5.15.0-91-generic', '4.0.0')}`, ...form },
      404,
      'kernel_not_found',
    ],
    [
      'missing arch',
      { method: 'POST', url: `/api/v1/customize?${RAW_QUERY.replace('&arch=x86_64', '')}`, ...form },
      400,
      'missing_field',
      'arch',
    ],
  ];
  for (const [name, request, status, error, field] of errors) {
    const res = await app.inject(request);
    t.equal(res.statusCode, status, name);
    t.ok(ErrorBody.safeParse(res.json()).success, `${name}: error body`);
    t.equal(res.json<{ error: string; field?: string; message: string }>().error, error, name);
    if (field !== undefined) t.equal(res.json<{ error: string; field?: string; message: string }>().field, field, `${name}: field`);
  }
  t.equal((await keysUnder(store, 'objects/')).length, 1, 'only the good object was stored');
});

t.test('/api/v1/customize never answers 202: with BTFHUB_REQUEST_WAIT_MS=0 it still gets its tar.xz', async (t) => {
  const { app, fixtures } = await setupApi(t, { requestWaitMs: 0 });
  const form = multipart([{ name: 'bpf', filename: 'prog.bpf.o', data: fixtureObject(fixtures, 'enum64').bytes }]);
  // POST /api/v1/btf with the same settings would answer 202 (a new trim, no wait).
  const res = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.equal(res.statusCode, 200, why(res));
  const entries = await untar(res.rawPayload);
  t.same(
    entries.map((e) => e.name),
    ['5.15.0-91-generic.btf'],
  );
  t.same(Buffer.from(entries[0]!.data), Buffer.from(oracle(fixtures, 'enum64')), 'the trimmed BTF equals bpftool');
});

t.test('/api/v1/customize past BTFHUB_COMPAT_WAIT_MS: 503 with Retry-After, and the trim goes on', async (t) => {
  const { app, fixtures } = await setupApi(t, { requestWaitMs: 0, config: { compatWaitMs: 0 } });
  const form = multipart([{ name: 'bpf', filename: 'prog.bpf.o', data: fixtureObject(fixtures, 'tools_like').bytes }]);
  const res = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.equal(res.statusCode, 503, why(res));
  t.equal(res.json<{ error: string; field?: string; message: string }>().error, 'unavailable');
  t.match(res.json<{ error: string; field?: string; message: string }>().message, /still running; retry later/);
  t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After');
  // Retried, it is answered once the trim is done.
  let again = res;
  for (let i = 0; i < 200 && again.statusCode === 503; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    again = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  }
  t.equal(again.statusCode, 200, why(again));
  t.same(Buffer.from((await untar(again.rawPayload))[0]!.data), Buffer.from(oracle(fixtures, 'tools_like')));
});

t.test('trailing slashes redirect as the original (gin) did', async (t) => {
  const { app } = await setupApi(t);
  const list = await app.inject('/api/v1/list/');
  t.equal(list.statusCode, 301, 'GET: 301');
  t.equal(list.headers.location, '/api/v1/list');
  const download = await app.inject(`/api/v1/download/?${XZ_QUERY}`);
  t.equal(download.statusCode, 301);
  t.equal(download.headers.location, `/api/v1/download?${XZ_QUERY}`, 'the query is kept');
  const customize = await app.inject({
    method: 'POST',
    url: `/api/v1/customize/?${RAW_QUERY}`,
    ...multipart([{ name: 'bpf', filename: 'x.o', data: 'x' }]),
  });
  t.equal(customize.statusCode, 307, 'POST: 307, so the method and body are kept');
  t.equal(customize.headers.location, `/api/v1/customize?${RAW_QUERY}`);
  t.equal((await app.inject('/monitoring/health/')).statusCode, 301);
  t.equal((await app.inject('/api/v1/kernels/')).statusCode, 404, "our own routes are not the original's: no redirect");
});

t.test('/monitoring/health and /monitoring/metrics', async (t) => {
  const { app } = await setupApi(t);
  const health = await app.inject('/monitoring/health');
  t.equal(health.statusCode, 200);
  t.same(health.json(), {}, 'the original answered {}');
  const metrics = await app.inject('/monitoring/metrics');
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(metrics.body, /# TYPE btfhub_http_requests_total counter/);
  t.match(metrics.body, /btfhub_http_requests_total\{method="GET",route="\/monitoring\/health",status="200"\} 1/);
  // The original's HTTP metrics (go-http-metrics' names and labels), so its dashboards carry over.
  t.match(metrics.body, '# TYPE http_request_duration_seconds histogram');
  t.match(
    metrics.body,
    /^http_request_duration_seconds_bucket\{le="0\.005",handler="\/monitoring\/health",method="GET",code="200"\} \d+$/m,
  );
  t.match(metrics.body, /^http_request_duration_seconds_count\{handler="\/monitoring\/health",method="GET",code="200"\} 1$/m);
  t.match(metrics.body, '# TYPE http_requests_inflight gauge');
  t.match(metrics.body, /^http_requests_inflight\{handler="\/monitoring\/metrics"\} 1$/m, 'the scrape itself is in flight');
  t.match(metrics.body, /^http_requests_inflight\{handler="\/monitoring\/health"\} 0$/m, 'the answered request no longer is');
  t.match(metrics.body, '# TYPE nodejs_gc_duration_seconds histogram');
  const ours = await app.inject('/metrics');
  t.notMatch(ours.body, /^http_requests_inflight/m, '/metrics keeps ours');
});
