/**
 * POST /api/v1/btf and GET /api/v1/btf/{objectsHash}/...: the trimmed BTF equals bpftool's
 * for the same inputs, the cache answers repeats, and every bad input is a 4xx JSON error
 * that writes nothing.
 */
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { ErrorBody, JobAccepted, JobStatus } from '../../src/api/schemas.js';
import { loadConfig } from '../../src/config/schema.js';
import { objectsHash, sha256Hex } from '../../src/api/trim-service.js';
import { SHARED_JOIN_MIN_BYTES } from '../../src/api/uploads.js';
import { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { btfForm, fixtureObject, keysUnder, multipart, oracle, RAW_FIELDS, setupApi, why, withoutBtfExt } from './helpers.js';

const RAW_PATH = 'ubuntu/22.04/x86_64/5.15.0-91-generic';

t.test('a trim equals bpftool, then comes from the cache', async (t) => {
  const { app, fixtures, catalog, metrics } = await setupApi(t);
  const object = fixtureObject(fixtures, 'tools_like');
  const want = oracle(fixtures, 'tools_like');

  const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(first.statusCode, 200, why(first));
  t.equal(first.headers['content-type'], 'application/octet-stream');
  t.same(first.rawPayload, Buffer.from(want), 'bytes equal bpftool gen min_core_btf');
  t.equal(first.headers.etag, `"${sha256Hex(want)}"`);
  t.equal(first.headers['x-btfhub-kernel'], RAW_PATH);
  t.equal(first.headers['x-btfhub-cache'], 'miss');
  const hash = objectsHash([sha256Hex(object.bytes)]);
  t.equal(first.headers['x-btfhub-objects-hash'], hash);
  t.equal(hash, sha256Hex(sha256Hex(object.bytes)), 'one object: sha256 of its hex sha256');

  const second = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(second.statusCode, 200);
  t.equal(second.headers['x-btfhub-cache'], 'hit');
  t.same(second.rawPayload, first.rawPayload);
  t.equal(await catalog.countTrims(), 1);
  const ref = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
  const kernelSha256 = (await catalog.getKernel(ref))!.sha256;
  t.equal((await catalog.getTrim(hash, ref, kernelSha256))?.hits, 0, 'the hit is not written on the request path');
  await app.services.trimHits.flush();
  t.equal((await catalog.getTrim(hash, ref, kernelSha256))?.hits, 1, 'but counted in the catalog in the background');
  t.equal((await metrics.cacheHits.get()).values[0]?.value, 1, 'and in the metrics');
  const durations = (await metrics.trimDuration.get()).values.find((v) => v.metricName === 'btfhub_trim_job_duration_seconds_count');
  t.equal(durations?.value, 1, 'one job duration observed');
});

t.test('a big upload reaches the codec thread as shared memory, a small one as a copy', async (t) => {
  const { app, fixtures, codec } = await setupApi(t);
  if (!(codec instanceof WorkerCodecExecutor)) throw new Error('this test needs codec threads (BTFHUB_CODEC_THREADS unset)');
  const big = fixtureObject(fixtures, 'tools_like');
  const small = fixtureObject(fixtures, 'enum64');
  t.ok(big.bytes.length >= SHARED_JOIN_MIN_BYTES && small.bytes.length < SHARED_JOIN_MIN_BYTES, 'one object each side of the line');

  const bigAnswer = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([big]) });
  t.equal(bigAnswer.statusCode, 200, why(bigAnswer));
  t.same(bigAnswer.rawPayload, Buffer.from(oracle(fixtures, 'tools_like')), 'bytes equal bpftool gen min_core_btf');
  t.equal(codec.objectBytesShared, big.bytes.length, 'the big one was shared');
  t.equal(codec.objectBytesSent, big.bytes.length, 'and sent once');

  const smallAnswer = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([small]) });
  t.equal(smallAnswer.statusCode, 200, why(smallAnswer));
  t.equal(codec.objectBytesShared, big.bytes.length, 'the small one was not');
  t.equal(codec.objectBytesSent, big.bytes.length + small.bytes.length, 'but copied');
});

t.test('several objects in one request, aliases in the identity', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const a = fixtureObject(fixtures, 'shared_a');
  const b = fixtureObject(fixtures, 'shared_b');
  const fields = { distro: 'Ubuntu', distro_version: 'jammy', arch: 'amd64', kernel_version: '5.15.0-91-generic' };
  const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([a, b], fields) });
  t.equal(res.statusCode, 200, why(res));
  t.same(res.rawPayload, Buffer.from(fixtures.oracle.sharedPair), 'equals bpftool over both objects');
  t.equal(res.headers['x-btfhub-kernel'], RAW_PATH, 'identity normalized');

  // Order and repetition do not matter: same objects hash, answered from the cache.
  const again = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([b, a, b]) });
  t.equal(again.statusCode, 200);
  t.equal(again.headers['x-btfhub-cache'], 'hit');
  t.equal(again.headers['x-btfhub-objects-hash'], res.headers['x-btfhub-objects-hash']);
});

t.test('GET /api/v1/btf/{objectsHash}/...: 200, 304 with If-None-Match, 404', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const object = fixtureObject(fixtures, 'shared_a');
  const posted = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(posted.statusCode, 200);
  const hash = String(posted.headers['x-btfhub-objects-hash']);
  const etag = String(posted.headers.etag);

  const url = `/api/v1/btf/${hash}/${RAW_PATH}`;
  const got = await app.inject({ method: 'GET', url });
  t.equal(got.statusCode, 200);
  t.same(got.rawPayload, posted.rawPayload);
  t.equal(got.headers.etag, etag);
  t.equal(got.headers['x-btfhub-kernel'], RAW_PATH);
  t.equal(got.headers['x-btfhub-cache'], 'hit');

  const alias = await app.inject({ method: 'GET', url: `/api/v1/btf/${hash}/ubuntu/jammy/amd64/5.15.0-91-generic` });
  t.equal(alias.statusCode, 200, 'aliases work in the path too');

  for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await app.inject({ method: 'GET', url, headers: { 'if-none-match': header } });
    t.equal(res.statusCode, 304, `If-None-Match: ${header}`);
    t.equal(res.rawPayload.length, 0);
    t.equal(res.headers.etag, etag);
  }
  const stale = await app.inject({ method: 'GET', url, headers: { 'if-none-match': '"0000"' } });
  t.equal(stale.statusCode, 200, 'a different ETag gets the bytes');

  const unknown = await app.inject({ method: 'GET', url: `/api/v1/btf/${'a'.repeat(64)}/${RAW_PATH}` });
  t.equal(unknown.statusCode, 404);
  t.equal(unknown.json<{ error: string; field?: string; message: string }>().error, 'trim_not_found');
  t.ok(ErrorBody.safeParse(unknown.json()).success);

  const badHash = await app.inject({ method: 'GET', url: `/api/v1/btf/ABC/${RAW_PATH}` });
  t.equal(badHash.statusCode, 400);
  t.match(badHash.json(), { error: 'invalid_field', field: 'objectsHash' });

  const dots = await app.inject({ method: 'GET', url: `/api/v1/btf/${hash}/ubuntu/..%2F..%2Fetc/x86_64/5.15.0-91-generic` });
  t.equal(dots.statusCode, 400);
  t.match(dots.json(), { error: 'invalid_field', field: 'distro_version' });
});

t.test('a job that outlasts the wait: 202, Location, then the job and its result', async (t) => {
  const { app, fixtures } = await setupApi(t, { requestWaitMs: 0 });
  const object = fixtureObject(fixtures, 'shared_b');
  const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(res.statusCode, 202);
  const accepted = JobAccepted.parse(res.json());
  t.equal(res.headers.location, `/api/v1/jobs/${accepted.job_id}`);
  t.equal(res.headers['x-btfhub-kernel'], RAW_PATH);

  let status = JobStatus.parse((await app.inject({ method: 'GET', url: String(res.headers.location) })).json());
  for (let i = 0; i < 600 && (status.state === 'waiting' || status.state === 'active'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = JobStatus.parse((await app.inject({ method: 'GET', url: String(res.headers.location) })).json());
  }
  t.equal(status.state, 'completed');
  t.equal(status.kernel?.distro_version, '22.04');
  t.equal(status.objects_hash, res.headers['x-btfhub-objects-hash']);
  t.ok(status.created_at && status.started_at && status.finished_at, 'timings');
  t.equal(status.result?.sha256, sha256Hex(oracle(fixtures, 'shared_b')));
  t.ok((status.result?.relocations_verified ?? 0) > 0, 'relocations were verified');
  const result = await app.inject({ method: 'GET', url: String(status.result?.url) });
  t.equal(result.statusCode, 200);
  t.same(result.rawPayload, Buffer.from(oracle(fixtures, 'shared_b')));
});

t.test('bad input: 4xx JSON naming the problem, nothing written', async (t) => {
  const { app, fixtures, store, catalog } = await setupApi(t, { maxFileBytes: 700_000, maxFiles: 2 });
  const object = fixtureObject(fixtures, 'enum64');
  const big = fixtureObject(fixtures, 'tools_like'); // 785 KB, over the 700 KB limit set here

  const expectError = async (name: string, request: InjectOptions, status: number, error: string, field?: string) => {
    const res = await app.inject(request);
    t.equal(res.statusCode, status, `${name}: ${why(res)}`);
    t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`);
    const parsed = ErrorBody.safeParse(res.json());
    t.ok(parsed.success, `${name}: {error, message, field?}`);
    t.equal(res.json<{ error: string; field?: string; message: string }>().error, error, `${name}: error code`);
    if (field !== undefined)
      t.equal(res.json<{ error: string; field?: string; message: string }>().field, field, `${name}: names the field`);
    t.ok(String(res.json<{ error: string; field?: string; message: string }>().message).length > 0, `${name}: a message`);
  };
  const post = (fields: Record<string, string>, objects: { name: string; bytes: Uint8Array }[] = [object]): InjectOptions => ({
    method: 'POST',
    url: '/api/v1/btf',
    ...btfForm(objects, fields),
  });

  for (const field of Object.keys(RAW_FIELDS)) {
    const fields: Record<string, string> = { ...RAW_FIELDS };
    delete fields[field];
    await expectError(`missing ${field}`, post(fields), 400, 'missing_field', field);
    await expectError(`'../' in ${field}`, post({ ...RAW_FIELDS, [field]: '../etc' }), 400, 'invalid_field', field);
    await expectError(`'/' in ${field}`, post({ ...RAW_FIELDS, [field]: 'a/b' }), 400, 'invalid_field', field);
    await expectError(`empty ${field}`, post({ ...RAW_FIELDS, [field]: '' }), 400, 'invalid_field', field);
    await expectError(`long ${field}`, post({ ...RAW_FIELDS, [field]: 'x'.repeat(200) }), 400, 'invalid_field', field);
  }
  await expectError('unknown distro', post({ ...RAW_FIELDS, distro: 'windows' }), 400, 'invalid_field', 'distro');
  await expectError('unknown arch', post({ ...RAW_FIELDS, arch: 'mips' }), 400, 'invalid_field', 'arch');
  await expectError('no object', post(RAW_FIELDS, []), 400, 'missing_field', 'object');
  await expectError(
    'object as a text field',
    {
      method: 'POST',
      url: '/api/v1/btf',
      ...multipart([...Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data })), { name: 'object', data: 'x' }]),
    },
    400,
    'invalid_field',
    'object',
  );
  await expectError(
    'misspelt part',
    {
      method: 'POST',
      url: '/api/v1/btf',
      ...multipart([
        ...Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data })),
        { name: 'objects', filename: 'a.o', data: object.bytes },
      ]),
    },
    400,
    'invalid_field',
    'objects',
  );
  await expectError('field over its size limit', post({ ...RAW_FIELDS, distro: 'u'.repeat(5000) }), 413, 'payload_too_large', 'distro');
  await expectError('JSON body', { method: 'POST', url: '/api/v1/btf', payload: { distro: 'ubuntu' } }, 415, 'unsupported_media_type');
  await expectError(
    'octet-stream body',
    { method: 'POST', url: '/api/v1/btf', payload: Buffer.from(object.bytes), headers: { 'content-type': 'application/octet-stream' } },
    415,
    'unsupported_media_type',
  );
  await expectError('no body', { method: 'POST', url: '/api/v1/btf' }, 415, 'unsupported_media_type');
  await expectError(
    'multipart without boundary',
    { method: 'POST', url: '/api/v1/btf', payload: 'x', headers: { 'content-type': 'multipart/form-data' } },
    400,
    'bad_request',
  );
  await expectError(
    'truncated multipart',
    { method: 'POST', url: '/api/v1/btf', payload: btfForm([object]).payload.subarray(0, 500), headers: btfForm([object]).headers },
    400,
    'bad_request',
  );
  await expectError('file over the size limit', post(RAW_FIELDS, [big]), 413, 'payload_too_large');
  await expectError('too many files', post(RAW_FIELDS, [object, object, object]), 413, 'payload_too_large');
  await expectError(
    'not an ELF',
    post(RAW_FIELDS, [{ name: 'text', bytes: Buffer.from('hello, not an ELF') }]),
    422,
    'invalid_object',
    'object',
  );
  await expectError('empty file', post(RAW_FIELDS, [{ name: 'empty', bytes: new Uint8Array() }]), 422, 'invalid_object', 'object');
  await expectError(
    'raw BTF, not an object',
    post(RAW_FIELDS, [{ name: 'btf', bytes: oracle(fixtures, 'enum64') }]),
    422,
    'invalid_object',
    'object',
  );
  await expectError(
    'no .BTF.ext',
    post(RAW_FIELDS, [{ name: 'noext', bytes: withoutBtfExt(object.bytes) }]),
    422,
    'invalid_object',
    'object',
  );
  await expectError(
    'a bad object among good ones',
    post(RAW_FIELDS, [object, { name: 'junk', bytes: Buffer.from('\x7fELF junk') }]),
    422,
    'invalid_object',
    'object',
  );
  await expectError('unknown kernel', post({ ...RAW_FIELDS, kernel_version: '6.6.6-nope' }), 404, 'kernel_not_found');

  t.same(await keysUnder(store, 'objects/'), [], 'no object stored');
  t.same(await keysUnder(store, 'trimmed/'), [], 'no trim stored');
  t.equal(await catalog.countTrims(), 0, 'no trim recorded');
  t.equal(await catalog.getObject(sha256Hex(object.bytes)), null, 'no object recorded');
});

t.test('an object libbpf rejects: the job fails as a client error, 422', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const object = fixtureObject(fixtures, 'fail_anon_root');
  const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(res.statusCode, 422, why(res));
  t.match(res.json(), { error: 'trim_failed', field: 'object', message: /anonymous/i });
});

t.test('the default per-file limit admits a 12 MB object and stops past 64 MiB', async (t) => {
  const { maxFileBytes } = loadConfig({});
  t.equal(maxFileBytes, 64 * 1024 * 1024);
  const { app, store } = await setupApi(t, { maxFileBytes });
  const twelve = await app.inject({
    method: 'POST',
    url: '/api/v1/btf',
    ...btfForm([{ name: 'big', bytes: new Uint8Array(12 * 1024 * 1024) }]),
  });
  t.equal(twelve.statusCode, 422, '12 MB gets through to the object check (it is zeros, not an ELF)');
  const over = await app.inject({
    method: 'POST',
    url: '/api/v1/btf',
    ...btfForm([{ name: 'huge', bytes: new Uint8Array(maxFileBytes + 1) }]),
  });
  t.equal(over.statusCode, 413, why(over));
  t.match(over.json(), { error: 'payload_too_large' });
  t.same(await keysUnder(store, 'objects/'), []);
});

t.test('50 concurrent identical requests: one trim, 50 identical answers', async (t) => {
  const { app, fixtures, catalog } = await setupApi(t);
  const object = fixtureObject(fixtures, 'type_matches');
  const answers = await Promise.all(
    Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) })),
  );
  t.ok(
    answers.every((a) => a.statusCode === 200),
    'all 200',
  );
  t.ok(
    answers.every((a) => a.rawPayload.equals(Buffer.from(oracle(fixtures, 'type_matches')))),
    'all equal bpftool',
  );
  t.equal(await catalog.countTrims(), 1, 'one trim');
  t.ok(answers.filter((a) => a.headers['x-btfhub-cache'] === 'miss').length >= 1, 'waited on the one job');
});
