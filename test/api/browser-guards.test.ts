/**
 * What browsers meet: X-Content-Type-Options on every answer, a CSP that refuses framing on
 * /docs, requests that do work refused from web origins that are neither the service's own
 * nor allowed (agents send no Origin), and the readiness and sync details kept for the admin.
 */
import t from 'tap';
import { btfForm, RAW_FIELDS, setupApi } from './helpers.js';

const TOKEN = 'an-admin-token-of-some-length';

t.test('nosniff on every answer; framing refused on /docs', async (t) => {
  const { app } = await setupApi(t);
  for (const url of ['/healthz', '/api/v1/kernels', '/no/such/route', '/docs/json', '/docs/']) {
    const res = await app.inject(url);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url} (${res.statusCode})`);
  }
  const ui = await app.inject('/docs/');
  t.equal(ui.statusCode, 200);
  t.match(ui.headers['content-security-policy'], /frame-ancestors 'none'/);
  t.match(ui.headers['content-security-policy'], /script-src 'self'/);
  t.notMatch(ui.headers['content-security-policy'], /upgrade-insecure-requests/);
  t.equal(ui.headers['x-frame-options'], 'DENY');
  const redirect = await app.inject('/docs');
  t.match(redirect.headers['content-security-policy'], /frame-ancestors 'none'/, 'the /docs redirect too');
});

t.test('Origin: refused on work routes unless own or allowed; absent for agents', async (t) => {
  const { app, fixtures } = await setupApi(t, { config: { allowedOrigins: ['https://ci.example.com'] } });
  const form = () => btfForm([{ name: 'p.bpf.o', bytes: fixtures.objects.get('tools_like')!.bytes }], RAW_FIELDS);
  const post = (headers: Record<string, string>) => {
    const f = form();
    return app.inject({ method: 'POST', url: '/api/v1/btf', payload: f.payload, headers: { ...f.headers, ...headers } });
  };

  const foreign = await post({ origin: 'https://evil.example' });
  t.equal(foreign.statusCode, 403);
  t.match(foreign.json(), { error: 'forbidden_origin', field: 'Origin', message: /"https:\/\/evil\.example"/ });
  t.equal((await post({ origin: 'null' })).statusCode, 403, 'an opaque origin (sandboxed frame, file://) is refused');
  t.equal((await post({ origin: 'http://localhost:8080' })).statusCode, 403, 'another port of the same host is another origin');

  t.equal((await post({})).statusCode, 200, 'no Origin: an agent or curl');
  t.equal((await post({ origin: 'https://ci.example.com' })).statusCode, 200, 'an allowed origin');
  t.equal(
    (await post({ origin: 'http://btfhub.internal:8080', host: 'btfhub.internal:8080' })).statusCode,
    200,
    "the service's own origin (/docs, the page)",
  );

  // Reading is not work: a foreign page may read kernels (the browser's CORS rules still apply to it).
  t.equal((await app.inject({ url: '/api/v1/kernels', headers: { origin: 'https://evil.example' } })).statusCode, 200);
});

t.test('/readyz and GET /api/v1/sync: details only with the admin token', async (t) => {
  const { app } = await setupApi(t, {
    config: { adminToken: TOKEN },
    wrap: ({ store }) => ({
      store: new Proxy(store, {
        get: (target, property, receiver) =>
          property === 'check'
            ? () => Promise.reject(new Error('/srv/secret/objects: permission denied'))
            : (Reflect.get(target, property, receiver) as unknown),
      }),
    }),
  });
  const anonymous = await app.inject('/readyz');
  t.equal(anonymous.statusCode, 503);
  t.same(anonymous.json<{ checks: unknown }>().checks, { catalog: { ok: true }, queue: { ok: true }, store: { ok: false } });
  t.same(anonymous.json<{ failed: string[] }>().failed, ['store']);
  t.notMatch(anonymous.body, /secret/, 'no path for anonymous callers');
  const admin = await app.inject({ url: '/readyz', headers: { authorization: `Bearer ${TOKEN}` } });
  t.match(admin.json(), { checks: { store: { ok: false, error: /\/srv\/secret\/objects/ } }, message: /secret/ });
  const wrongToken = await app.inject({ url: '/readyz', headers: { authorization: 'Bearer not-the-token-at-all' } });
  t.notMatch(wrongToken.body, /secret/);
});
