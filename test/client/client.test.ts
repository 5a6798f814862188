/**
 * BtfhubClient against a scripted local HTTP server: retries (5xx, 429, broken connections,
 * timeouts) with backoff and jitter, Retry-After, per-request timeouts, typed errors with
 * the server's {error, message, field}, the 202 → job → result path, and each call's wire.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import t from 'tap';
import {
  backoffDelay,
  BtfhubClient,
  BtfhubHttpError,
  BtfhubJobFailedError,
  BtfhubNetworkError,
  BtfhubResponseError,
  BtfhubTimeoutError,
  isRetryableStatus,
  kernelFields,
  objectsHash,
  parseRetryAfter,
  type BtfhubClientOptions,
  type RetryEvent,
} from '../../src/client/index.js';
import { objectsHashOf } from '../../src/queue/kinds.js';
import { binary, fail, hangUp, json, silence, startScriptedServer, type Handler } from './scripted-server.js';

const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const BTF = new Uint8Array([0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** A 200 with a trimmed BTF, as POST /api/v1/btf answers it. */
const trimmed =
  (bytes: Uint8Array = BTF, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    binary(res, bytes, {
      etag: `"${sha256(bytes)}"`,
      'x-btfhub-kernel': 'ubuntu/22.04/x86_64/5.15.0-91-generic',
      'x-btfhub-cache': 'miss',
      ...headers,
    });

/** A client with fast, deterministic backoff that records its retries. */
function client(baseUrl: string, options: Partial<BtfhubClientOptions> = {}) {
  const retries: RetryEvent[] = [];
  const c = new BtfhubClient({
    baseUrl,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    random: () => 0.5,
    onRetry: (event) => retries.push(event),
    ...options,
  });
  return { client: c, retries };
}

t.test('backoff: exponential, jittered into the upper half, capped', async (t) => {
  const options = { baseMs: 100, maxMs: 1000 };
  t.same(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options, () => 0)),
    [50, 100, 200, 400, 500, 500],
    'lowest: half the ceiling',
  );
  t.same(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options, () => 1)),
    [100, 200, 400, 800, 1000, 1000],
    'highest: the ceiling',
  );
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3, options)));
  t.ok(spread.size > 10, 'Math.random jitter spreads the delays');
  for (const delay of spread) t.ok(delay >= 200 && delay <= 400, `${delay} within [200, 400]`);
});

t.test('Retry-After: seconds or an HTTP date', async (t) => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  t.equal(parseRetryAfter('5', now), 5000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('Wed, 01 May 2024 12:00:03 GMT', now), 3000);
  t.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0, 'a past date: retry now');
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter('-1', now), undefined);
  t.equal(parseRetryAfter(null, now), undefined);
});

t.test('which statuses are retried', async (t) => {
  for (const status of [408, 429, 500, 502, 503, 504, 599]) t.ok(isRetryableStatus(status), `${status} retried`);
  for (const status of [200, 304, 400, 401, 403, 404, 413, 415, 422, 501, 505]) t.notOk(isRetryableStatus(status), `${status} not retried`);
});

t.test('a 503 with Retry-After: the client waits what the server says, then succeeds', async (t) => {
  const server = await startScriptedServer(t);
  server.script(fail(503, 'unavailable', 'the catalog is unavailable, retry later', { headers: { 'retry-after': '1' } }), trimmed());
  const { client: c, retries } = client(server.url);
  const result = await c.trim([BTF], KERNEL);
  t.same(result.btf, BTF);
  t.equal(server.requests.length, 2);
  const waited = server.requests[1]!.at - server.requests[0]!.at;
  t.ok(waited >= 950, `waited ${waited} ms for Retry-After: 1`);
  t.ok(waited < 1900, `and not much more (${waited} ms)`);
  t.match(retries, [{ method: 'POST', attempt: 1, reason: '503', delayMs: 1000, retryAfter: true }]);
});

t.test('Retry-After longer than the cap is cut to maxRetryAfterMs', async (t) => {
  const server = await startScriptedServer(t);
  server.script(fail(429, 'too_many', 'slow down', { headers: { 'retry-after': '3600' } }), (_req, res) =>
    json(res, 200, { items: [], total: 0, limit: 100, offset: 0 }),
  );
  const { client: c, retries } = client(server.url, { maxRetryAfterMs: 50 });
  await c.listKernels();
  t.match(retries, [{ reason: '429', delayMs: 50, retryAfter: true }]);
});

t.test('429 and 5xx without Retry-After: exponential backoff, then success', async (t) => {
  const server = await startScriptedServer(t);
  server.script(
    fail(429, 'too_many_requests', 'slow down'),
    fail(500, 'internal_error', 'internal error'),
    fail(502, 'bad_gateway', 'proxy'),
    (_req, res) => json(res, 200, { items: [], total: 0, limit: 100, offset: 0 }),
  );
  const { client: c, retries } = client(server.url);
  await c.listKernels();
  t.equal(server.requests.length, 4);
  t.same(
    retries.map((r) => [r.attempt, r.reason, r.delayMs, r.retryAfter]),
    [
      [1, '429', 15, false],
      [2, '500', 30, false],
      [3, '502', 60, false],
    ],
    'delays double (equal jitter at 0.5 of 20, 40, 80 ms)',
  );
});

t.test('retries run out: the last answer as a typed error with the server’s body', async (t) => {
  const server = await startScriptedServer(t);
  server.fallback = fail(503, 'unavailable', 'the store is unavailable, retry later', { headers: { 'retry-after': '0' } });
  const { client: c } = client(server.url, { maxAttempts: 3 });
  const error = await c.trim([BTF], KERNEL).catch((e: unknown) => e);
  t.ok(error instanceof BtfhubHttpError);
  t.match(error, {
    status: 503,
    code: 'unavailable',
    serverMessage: 'the store is unavailable, retry later',
    field: undefined,
    retryAfterMs: 0,
    attempts: 3,
    method: 'POST',
    url: `${server.url}/api/v1/btf`,
  });
  t.match(
    (error as Error).message,
    /^POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/btf: 503 unavailable: the store is unavailable, retry later \(after 3 attempts\)$/,
  );
  t.equal(server.requests.length, 3);
});

t.test('client errors are not retried and carry status, code, message and field', async (t) => {
  const server = await startScriptedServer(t);
  server.script(fail(400, 'invalid_field', "distro_version: must not contain '..'", { field: 'distro_version' }));
  const { client: c, retries } = client(server.url);
  const error = await c.trim([BTF], { ...KERNEL, distroVersion: 'a..b' }).catch((e: unknown) => e);
  t.ok(error instanceof BtfhubHttpError);
  t.match(error, { status: 400, code: 'invalid_field', field: 'distro_version', attempts: 1 });
  t.equal(server.requests.length, 1);
  t.same(retries, []);

  server.script((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<html>not here</html>');
  });
  const notJson = await c.coverage().catch((e: unknown) => e);
  t.match(notJson, { name: 'BtfhubHttpError', status: 404, code: undefined, serverMessage: '<html>not here</html>' });
});

t.test('a broken connection is retried', async (t) => {
  const server = await startScriptedServer(t);
  server.script(hangUp, hangUp, (_req, res) => json(res, 200, { items: [], total: 0, limit: 100, offset: 0 }));
  const { client: c, retries } = client(server.url);
  await c.listKernels();
  t.equal(server.requests.length, 3);
  t.equal(retries.length, 2);
  t.ok(
    retries.every((r) => r.reason !== '' && !r.retryAfter),
    `reasons: ${retries.map((r) => r.reason).join(', ')}`,
  );
});

t.test('a refused connection: BtfhubNetworkError naming the cause, after every attempt', async (t) => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const { client: c, retries } = client(`http://127.0.0.1:${port}`, { maxAttempts: 3 });
  const error = await c.listKernels().catch((e: unknown) => e);
  t.ok(error instanceof BtfhubNetworkError, String(error));
  t.match((error as Error).message, /GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/kernels: .*ECONNREFUSED.* \(after 3 attempts\)/);
  t.same(
    retries.map((r) => r.reason),
    ['ECONNREFUSED', 'ECONNREFUSED'],
  );
});

t.test('a request that outlives its timeout is aborted and retried', async (t) => {
  const server = await startScriptedServer(t);
  server.script(silence, (_req, res) => json(res, 200, { items: [], total: 0, limit: 100, offset: 0 }));
  const { client: c, retries } = client(server.url, { timeoutMs: 150 });
  const started = Date.now();
  await c.listKernels();
  t.ok(Date.now() - started >= 150, 'the first attempt waited the timeout');
  t.match(retries, [{ reason: 'timeout', attempt: 1 }]);

  server.fallback = silence;
  const error = await c.listKernels().catch((e: unknown) => e);
  t.ok(error instanceof BtfhubTimeoutError);
  t.match(error, { phase: 'request', timeoutMs: 150, attempts: 5 });
  t.match((error as Error).message, /no answer within 150 ms \(on each of 5 attempts\)/);
});

t.test('a slow body counts against the timeout too', async (t) => {
  const server = await startScriptedServer(t);
  server.script(
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"items":'); // and never the rest
    },
    (_req, res) => json(res, 200, { items: [], total: 0, limit: 100, offset: 0 }),
  );
  const { client: c, retries } = client(server.url, { timeoutMs: 150 });
  t.same((await c.listKernels()).items, []);
  t.match(retries, [{ reason: 'timeout' }]);
});

t.test('the caller’s signal stops everything, waits included', async (t) => {
  const server = await startScriptedServer(t);
  server.fallback = fail(503, 'unavailable', 'retry later', { headers: { 'retry-after': '30' } });
  const { client: c } = client(server.url);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  const started = Date.now();
  const error = await c.listKernels({}, { signal: controller.signal }).catch((e: unknown) => e);
  t.match(error, { message: 'shutting down' }, 'the signal’s reason is thrown');
  t.ok(Date.now() - started < 2000, 'the 30 s Retry-After wait was cut short');
  t.equal(server.requests.length, 1);
});

t.test('trim: the multipart upload carries the fields and every object', async (t) => {
  const server = await startScriptedServer(t);
  server.script(trimmed(BTF, { 'x-btfhub-cache': 'hit', 'x-btfhub-objects-hash': 'f'.repeat(64) }));
  const { client: c } = client(server.url);
  const first = new Uint8Array([1, 2, 3]);
  const second = new Uint8Array([4, 5, 6]);
  const result = await c.trim([{ name: 'prog.bpf.o', bytes: first }, second], KERNEL);
  t.same(result, {
    btf: BTF,
    sha256: sha256(BTF),
    kernel: 'ubuntu/22.04/x86_64/5.15.0-91-generic',
    objectsHash: 'f'.repeat(64),
    cache: 'hit',
  });
  const request = server.requests[0]!;
  t.equal(request.method, 'POST');
  t.equal(request.url, '/api/v1/btf');
  t.match(request.headers['content-type'], /^multipart\/form-data; boundary=/);
  const body = request.body.toString('latin1');
  for (const [name, value] of Object.entries(kernelFields(KERNEL))) {
    t.match(body, new RegExp(`name="${name}"\\r\\n\\r\\n${value.replace(/\./g, '\\.')}\\r\\n`), `field ${name}`);
  }
  t.ok(
    body.includes('name="object"; filename="prog.bpf.o"\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02\x03\r\n'),
    'first object part',
  );
  t.ok(
    body.includes('name="object"; filename="object-1.bpf.o"\r\nContent-Type: application/octet-stream\r\n\r\n\x04\x05\x06\r\n'),
    'second object part, named for it',
  );
  t.equal(request.headers['user-agent'], 'btfhub-online-client');
});

t.test('trim: a 202 is followed through the job to its result', async (t) => {
  const server = await startScriptedServer(t);
  const jobId = 'a'.repeat(64);
  const hash = objectsHash([BTF]);
  const resultUrl = `/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`;
  server.script(
    (_req, res) =>
      json(
        res,
        202,
        { job_id: jobId, state: 'waiting' },
        { location: `/api/v1/jobs/${jobId}`, 'x-btfhub-kernel': 'ubuntu/22.04/x86_64/5.15.0-91-generic' },
      ),
    (_req, res) => json(res, 200, { job_id: jobId, state: 'waiting' }),
    fail(503, 'unavailable', 'queue hiccup', { headers: { 'retry-after': '0' } }),
    (_req, res) => json(res, 200, { job_id: jobId, state: 'active' }),
    (_req, res) =>
      json(res, 200, {
        job_id: jobId,
        state: 'completed',
        result: { sha256: sha256(BTF), size: BTF.length, duration_ms: 3, relocations_verified: 1, url: resultUrl },
      }),
    trimmed(),
  );
  const { client: c } = client(server.url);
  const pending: string[] = [];
  const result = await c.trim([BTF], KERNEL, { pollIntervalMs: 10, onPending: (p) => pending.push(p.jobId) });
  t.same(result.btf, BTF);
  t.equal(result.jobId, jobId);
  t.equal(result.cache, 'miss');
  t.equal(result.objectsHash, hash);
  t.same(pending, [jobId]);
  t.same(
    server.requests.map((r) => `${r.method} ${r.url}`),
    ['POST /api/v1/btf', ...Array<string>(4).fill(`GET /api/v1/jobs/${jobId}`), `GET ${resultUrl}`],
  );
});

t.test('trim: a job the service lost (404 job_lost) is submitted again, once; an expired one is not', async (t) => {
  const server = await startScriptedServer(t);
  const jobId = 'b'.repeat(64);
  const accepted: Handler = (_req, res) => json(res, 202, { job_id: jobId, state: 'waiting' }, { location: `/api/v1/jobs/${jobId}` });
  const lost = fail(404, 'job_lost', `job ${jobId} was lost by the queue; send the request again`);
  server.script(accepted, lost, trimmed());
  const { client: c } = client(server.url);
  const result = await c.trim([BTF], KERNEL, { pollIntervalMs: 10 });
  t.same(result.btf, BTF, 'the second POST answered');
  t.same(
    server.requests.map((r) => `${r.method} ${r.url}`),
    ['POST /api/v1/btf', `GET /api/v1/jobs/${jobId}`, 'POST /api/v1/btf'],
  );

  server.script(accepted, lost, accepted, lost);
  await t.rejects(c.trim([BTF], KERNEL, { pollIntervalMs: 10 }), { name: 'BtfhubHttpError', status: 404, code: 'job_lost' }, 'once only');
  server.script(accepted, fail(404, 'job_not_found', 'expired'));
  const before = server.requests.length;
  await t.rejects(c.trim([BTF], KERNEL, { pollIntervalMs: 10 }), { status: 404, code: 'job_not_found' });
  t.equal(server.requests.length - before, 2, 'an expired job is not submitted again');
});

t.test('trim: a failed job is a BtfhubJobFailedError; a job that never ends is a total timeout', async (t) => {
  const server = await startScriptedServer(t);
  const accepted: Handler = (_req, res) => json(res, 202, { job_id: 'j1', state: 'waiting' }, { location: '/api/v1/jobs/j1' });
  server.script(accepted, (_req, res) =>
    json(res, 200, { job_id: 'j1', state: 'failed', error: { message: 'prog.o: relocation 3 rejected', client_error: true } }),
  );
  const { client: c } = client(server.url);
  const failedJob = await c.trim([BTF], KERNEL, { pollIntervalMs: 10 }).catch((e: unknown) => e);
  t.ok(failedJob instanceof BtfhubJobFailedError);
  t.match(failedJob, { jobId: 'j1', clientError: true, message: 'trim job j1 failed: prog.o: relocation 3 rejected' });

  server.script(accepted);
  server.fallback = (_req, res) => json(res, 200, { job_id: 'j1', state: 'active' });
  const started = Date.now();
  const timedOut = await c.trim([BTF], KERNEL, { pollIntervalMs: 10, timeoutMs: 300 }).catch((e: unknown) => e);
  const took = Date.now() - started;
  t.ok(timedOut instanceof BtfhubTimeoutError, String(timedOut));
  t.match(timedOut, { phase: 'total', timeoutMs: 300 });
  t.ok(took >= 290 && took < 1500, `bounded: ${took} ms`);
});

t.test('a body that does not match its ETag is refused', async (t) => {
  const server = await startScriptedServer(t);
  server.script((_req, res) => binary(res, BTF, { etag: `"${'0'.repeat(64)}"` }));
  const { client: c } = client(server.url);
  const error = await c.trim([BTF], KERNEL).catch((e: unknown) => e);
  t.ok(error instanceof BtfhubResponseError);
  t.match((error as Error).message, /does not match the ETag/);
});

t.test('getTrimmed: the trim by hash, null when none, NotModified with the current ETag', async (t) => {
  const server = await startScriptedServer(t);
  const hash = objectsHash([BTF]);
  server.script(
    trimmed(),
    fail(404, 'trim_not_found', 'no trimmed BTF'),
    (_req, res) => {
      res.writeHead(304, { etag: `"${sha256(BTF)}"` });
      res.end();
    },
    fail(404, 'not_found', 'no route'),
  );
  const { client: c } = client(server.url);
  const found = await c.getTrimmed([BTF], KERNEL);
  t.match(found, { btf: BTF, sha256: sha256(BTF), objectsHash: hash });
  t.equal(
    await c.getTrimmed(hash, { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' }),
    null,
  );
  t.same(await c.getTrimmed(hash, KERNEL, { ifNoneMatch: sha256(BTF) }), { notModified: true, sha256: sha256(BTF) });
  await t.rejects(c.getTrimmed(hash, KERNEL), { name: 'BtfhubHttpError', status: 404, code: 'not_found' }, 'another 404 is an error');
  t.equal(server.requests[0]!.url, `/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`);
  t.equal(server.requests[2]!.headers['if-none-match'], `"${sha256(BTF)}"`);
});

t.test('listKernels and kernels(): filters as query parameters, pages followed', async (t) => {
  const server = await startScriptedServer(t);
  const kernel = (n: number) => ({
    distro: 'ubuntu',
    distro_version: '22.04',
    arch: 'x86_64',
    kernel_version: `5.15.0-${n}-generic`,
    format: 'btf',
    size: 1,
    sha256: 'x',
    added_at: '2024-01-01T00:00:00Z',
    btf_url: '/x',
  });
  server.script(
    (_req, res) => json(res, 200, { items: [kernel(1)], total: 1, limit: 10, offset: 0 }),
    (_req, res) => json(res, 200, { items: [kernel(1), kernel(2)], total: 3, limit: 2, offset: 0 }),
    (_req, res) => json(res, 200, { items: [kernel(3)], total: 3, limit: 2, offset: 2 }),
  );
  const { client: c } = client(server.url);
  const page = await c.listKernels({ distro: 'ubuntu', distroVersion: 'jammy', arch: 'amd64', kernelPrefix: '5.15', limit: 10 });
  t.equal(page.items[0]?.kernel_version, '5.15.0-1-generic');
  t.equal(server.requests[0]!.url, '/api/v1/kernels?distro=ubuntu&distro_version=jammy&arch=amd64&kernel_prefix=5.15&limit=10');
  const all: string[] = [];
  for await (const k of c.kernels({ distro: 'ubuntu', limit: 2 })) all.push(k.kernel_version);
  t.same(all, ['5.15.0-1-generic', '5.15.0-2-generic', '5.15.0-3-generic']);
  t.same(
    server.requests.slice(1).map((r) => r.url),
    ['/api/v1/kernels?distro=ubuntu&limit=2&offset=0', '/api/v1/kernels?distro=ubuntu&limit=2&offset=2'],
  );
});

t.test('coverage and identity: their routes and bodies', async (t) => {
  const server = await startScriptedServer(t);
  const coverage = {
    items: [{ distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernels: 3, newest_kernel: '5.15.0-91-generic' }],
  };
  const answer = {
    distro: 'ubuntu',
    distro_version: '22.04',
    arch: 'x86_64',
    kernel_version: '5.15.0-91-generic',
    key: 'ubuntu/22.04/x86_64/5.15.0-91-generic',
    source: 'os-release',
    notes: [],
    kernel_url: '/api/v1/kernels/ubuntu/22.04/x86_64/5.15.0-91-generic',
  };
  server.script(
    (_req, res) => json(res, 200, coverage),
    (_req, res) => json(res, 200, answer),
    fail(404, 'not_found', 'no route GET /api/v1/coverage'),
  );
  const { client: c } = client(`${server.url}/`);
  t.same(await c.coverage(), coverage);
  t.same(
    await c.identity({
      osRelease: 'ID=ubuntu\nVERSION_ID=22.04\n',
      unameRelease: '5.15.0-91-generic',
      unameMachine: 'x86_64',
      distro: 'ubuntu',
    }),
    answer,
  );
  t.equal(server.requests[1]!.headers['content-type'], 'application/json');
  t.same(JSON.parse(server.requests[1]!.body.toString()), {
    os_release: 'ID=ubuntu\nVERSION_ID=22.04\n',
    uname_release: '5.15.0-91-generic',
    uname_machine: 'x86_64',
    distro: 'ubuntu',
  });
  await t.rejects(c.coverage(), { name: 'BtfhubHttpError', status: 404, code: 'not_found' }, 'a service without the route');
});

t.test('a base URL with a path prefix keeps it; bad base URLs are refused', async (t) => {
  const server = await startScriptedServer(t);
  server.script((_req, res) => json(res, 200, { items: [], total: 0, limit: 1, offset: 0 }));
  await new BtfhubClient({ baseUrl: `${server.url}/btfhub` }).listKernels({ limit: 1 });
  t.equal(server.requests[0]!.url, '/btfhub/api/v1/kernels?limit=1');
  t.throws(() => new BtfhubClient({ baseUrl: 'ftp://example.org' }), TypeError);
  t.throws(() => new BtfhubClient({ baseUrl: 'not a url' }), TypeError);
});

t.test('objectsHash is the server’s definition', async (t) => {
  const a = new Uint8Array([1]);
  const b = new Uint8Array([2]);
  t.equal(objectsHash([a, b]), objectsHashOf([sha256(a), sha256(b)]));
  t.equal(objectsHash([b, a, { bytes: a }]), objectsHash([a, b]), 'order and repeats do not matter');
  t.equal(objectsHash([a]), sha256(sha256(a)), 'one object: sha256 of its hex sha256');
});

/** A minimal compat report, as GET /api/v1/compat/{id} serves it. */
const REPORT = {
  job_id: 'compat-1',
  objects: [{ name: 'a.o', relocations: 0 }],
  filter: {},
  totals: {},
  summary: [],
  relocations: [],
  kernels: [],
  duration_ms: 1,
};

t.test('compat: the filter as fields, a 202 followed with progress, the report fetched', async (t) => {
  const server = await startScriptedServer(t);
  server.script(
    (_req, res) => json(res, 202, { job_id: 'compat-1', state: 'waiting' }, { location: '/api/v1/jobs/compat-1' }),
    (_req, res) => json(res, 200, { job_id: 'compat-1', kind: 'compat', state: 'active', progress: { done: 1, total: 3, failed: 0 } }),
    (_req, res) => json(res, 200, { job_id: 'compat-1', kind: 'compat', state: 'completed', progress: { done: 3, total: 3, failed: 0 } }),
    (_req, res) => json(res, 200, REPORT),
  );
  const { client: c } = client(server.url);
  const seen: string[] = [];
  const pending: string[] = [];
  const report = await c.compat(
    [{ name: 'a.o', bytes: BTF }],
    { distro: 'ubuntu', arch: 'arm64', kernelPrefix: '5.' },
    {
      pollIntervalMs: 10,
      onPending: (p) => pending.push(p.jobId),
      onProgress: (job) => seen.push(`${job.state} ${job.progress?.done}/${job.progress?.total}`),
    },
  );
  t.same(report, REPORT);
  t.same(pending, ['compat-1']);
  t.same(seen, ['active 1/3', 'completed 3/3']);
  t.same(
    server.requests.map((r) => `${r.method} ${r.url}`),
    ['POST /api/v1/compat', 'GET /api/v1/jobs/compat-1', 'GET /api/v1/jobs/compat-1', 'GET /api/v1/compat/compat-1'],
  );
  const body = server.requests[0]!.body.toString('latin1');
  const fields: [string, string][] = [
    ['distro', 'ubuntu'],
    ['arch', 'arm64'],
    ['kernel_version', '5\\.'],
  ];
  for (const [name, value] of fields) t.match(body, new RegExp(`name="${name}"\r\n\r\n${value}\r\n`));
  t.notMatch(body, /name="distro_version"/, 'unset filter fields are not sent');
  t.match(body, /name="object"; filename="a\.o"/);
});

t.test('compat: answered at once, a failed job, a report that is not one, the total bound', async (t) => {
  const server = await startScriptedServer(t);
  const { client: c } = client(server.url);
  server.script((_req, res) => json(res, 200, REPORT));
  t.same(await c.compat([BTF]), REPORT, 'a 200 is the report');

  server.script(
    (_req, res) => json(res, 202, { job_id: 'compat-2', state: 'waiting' }),
    (_req, res) =>
      json(res, 200, { job_id: 'compat-2', kind: 'compat', state: 'failed', error: { message: 'store unreachable', client_error: false } }),
  );
  const failed = await c.compat([BTF], {}, { pollIntervalMs: 10 }).catch((e: unknown) => e);
  t.ok(failed instanceof BtfhubJobFailedError);
  t.match(failed, { message: 'compat job compat-2 failed: store unreachable', clientError: false });

  server.script((_req, res) => json(res, 200, { items: [] }));
  await t.rejects(c.compat([BTF]), { name: 'BtfhubResponseError', message: /not a compat report/ });

  server.script((_req, res) => json(res, 202, { job_id: 'compat-3', state: 'waiting' }));
  server.fallback = (_req, res) => json(res, 200, { job_id: 'compat-3', kind: 'compat', state: 'active' });
  const slow = await c.compat([BTF], {}, { pollIntervalMs: 10, timeoutMs: 200 }).catch((e: unknown) => e);
  t.ok(slow instanceof BtfhubTimeoutError);
  t.match(slow, { phase: 'total', timeoutMs: 200, method: 'POST' });
  await t.rejects(c.compat([]), TypeError);
  server.fallback = (_req, res) => json(res, 202, { job_id: 'compat-4', state: 'active' });
  t.equal(await c.getCompatReport('compat-4'), null, 'a report still being made');
});

t.test('customize: the original route’s query and field; a 202 followed, then asked again', async (t) => {
  const server = await startScriptedServer(t);
  const archive = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  server.script(
    (_req, res) => json(res, 202, { job_id: 'j9', state: 'waiting' }, { location: '/api/v1/jobs/j9' }),
    (_req, res) => json(res, 200, { job_id: 'j9', state: 'completed' }),
    (_req, res) => binary(res, archive, { 'x-btfhub-kernel': 'ubuntu/22.04/x86_64/5.15.0-91-generic' }),
  );
  const { client: c } = client(server.url);
  const result = await c.customize([{ name: 'p.o', bytes: BTF }], KERNEL, { pollIntervalMs: 10 });
  t.same(result, { archive, kernel: 'ubuntu/22.04/x86_64/5.15.0-91-generic', jobId: 'j9' });
  const query = 'distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';
  t.same(
    server.requests.map((r) => `${r.method} ${r.url}`),
    [`POST /api/v1/customize?${query}`, 'GET /api/v1/jobs/j9', `POST /api/v1/customize?${query}`],
  );
  t.match(server.requests[0]!.body.toString('latin1'), /name="bpf"; filename="p\.o"/);

  server.script(
    (_req, res) => json(res, 202, { job_id: 'j10', state: 'waiting' }),
    (_req, res) => json(res, 200, { job_id: 'j10', state: 'completed' }),
    (_req, res) => json(res, 202, { job_id: 'j10', state: 'waiting' }),
  );
  await t.rejects(c.customize([BTF], KERNEL, { pollIntervalMs: 10 }), {
    name: 'BtfhubResponseError',
    message: /job j10 completed, but the trim is still pending/,
  });
  server.script(fail(404, 'kernel_not_found', 'no such kernel'));
  await t.rejects(c.customize([BTF], KERNEL), { name: 'BtfhubHttpError', status: 404 });
  await t.rejects(c.customize([], KERNEL), TypeError);
});

t.test('ready: 200 is the checks; 503 is retried, then an error naming them', async (t) => {
  const server = await startScriptedServer(t);
  const { client: c, retries } = client(server.url, { maxAttempts: 2 });
  server.script((_req, res) => json(res, 200, { status: 'ok', checks: { catalog: { ok: true } } }));
  t.same(await c.ready(), { status: 'ok', checks: { catalog: { ok: true } } });
  const notReady = fail(503, 'unavailable', 'not ready: queue (no answer within 3000 ms)', { headers: { 'retry-after': '0' } });
  server.script(notReady, notReady);
  await t.rejects(c.ready(), { name: 'BtfhubHttpError', status: 503, message: /not ready: queue/ });
  t.equal(retries.length, 1);
  server.script((_req, res) => json(res, 200, { status: 'starting' }));
  await t.rejects(c.ready(), { name: 'BtfhubResponseError', message: /status "starting", not "ok"/ });
});
