/**
 * Access: who may change what the service serves.
 *   - every route that writes is either public by design (trims, identity, compat reports and
 *     bundles: computations over the caller's own objects) or an admin route, and every admin
 *     route refuses anonymous callers; without BTFHUB_ADMIN_TOKEN they are disabled (403),
 *     not open;
 *   - the token comparison takes the same time whatever is sent: both sides are hashed to 32
 *     bytes and compared with timingSafeEqual, for every guess, of any length;
 *   - guessing is rate limited; an anonymous upload is refused, nothing of it stored.
 */
import * as crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import t from 'tap';
import { loadConfig } from '../../src/config/schema.js';
import { keysUnder, multipart, setupApi } from '../api/helpers.js';

const TOKEN = 'a-very-secret-admin-token-0123456789';

/** Writing routes anyone may call: they compute over the caller's objects, never change what others are served. */
const PUBLIC_WRITES = ['POST /api/v1/btf', 'POST /api/v1/customize', 'POST /api/v1/identity', 'POST /api/v1/compat', 'POST /api/v1/bundle'];

t.test('every writing route is public by design or refuses anonymous callers; no token configured: disabled, not open', async (t) => {
  const seen: string[] = [];
  const { app } = await setupApi(t);
  // Fastify keeps no public list of routes once built: rebuild the same app with an onRoute hook.
  const { buildApp } = await import('../../src/api/app.js');
  const probe = await buildApp({
    config: { requestWaitMs: 0, maxFileBytes: 1, maxFiles: 1 },
    store: app.services.raw.store,
    catalog: app.services.raw.catalog,
    queue: app.services.raw.queue,
    docs: false,
    onRoute: (route: RouteOptions) => {
      for (const method of [route.method].flat()) if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) seen.push(`${method} ${route.url}`);
    },
  });
  await probe.close();
  const admin = seen.filter((route) => !PUBLIC_WRITES.includes(route));
  t.ok(admin.includes('POST /api/v1/kernels') && admin.includes('POST /api/v1/sync'), `admin routes: ${admin.join(', ')}`);
  for (const route of admin) {
    const [method, url] = route.split(' ') as ['POST', string];
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
      const res = await app.inject({ method, url, payload: '{}', headers: { 'content-type': 'application/json', ...headers } });
      t.equal(res.statusCode, 403, `${route} ${Object.keys(headers).length ? 'with' : 'without'} a token: ${res.body.slice(0, 120)}`);
      t.match(res.json(), { error: 'admin_disabled' });
    }
  }
  t.equal(loadConfig({}).adminToken, undefined, 'and no token is the default');
});

t.test('with a token: only the exact token passes; guesses are rate limited; an anonymous upload is not stored', async (t) => {
  const { app, store, fixtures } = await setupApi(t, { config: { adminToken: TOKEN, rateLimit: { max: 5, windowMs: 60_000 } } });
  const body = multipart([
    { name: 'distro', data: 'ubuntu' },
    { name: 'distro_version', data: '22.04' },
    { name: 'arch', data: 'x86_64' },
    { name: 'kernel_version', data: '6.6.6-admin-test' },
    { name: 'btf', filename: 'vmlinux', data: fixtures.vmlinux },
  ]);
  const upload = (authorization?: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/kernels',
      payload: body.payload,
      headers: { ...body.headers, ...(authorization === undefined ? {} : { authorization }) },
      remoteAddress: '10.3.3.3',
    });
  for (const authorization of [undefined, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer  `]) {
    const res = await upload(authorization);
    t.equal(res.statusCode, 401, `${authorization ?? 'no Authorization'}: 401`);
    t.match(res.headers['www-authenticate'], /^Bearer realm=/);
  }
  t.same(await keysUnder(store, 'ubuntu/22.04/x86_64/6.6.6'), [], 'no anonymous upload was stored');
  t.equal((await upload(`Bearer ${TOKEN}`)).statusCode, 429, 'a sixth try from the same client is rate limited, even with the right token');
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/kernels',
    payload: body.payload,
    headers: { ...body.headers, authorization: `bearer ${TOKEN}` },
    remoteAddress: '10.4.4.4',
  });
  t.equal(ok.statusCode, 201, `the token (scheme in any case) from another client: ${ok.body.slice(0, 200)}`);
});

t.test('the token comparison is constant-time: equal-length digests for every guess', async (t) => {
  const compared: [number, number][] = [];
  const spy = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    compared.push([a.byteLength, b.byteLength]);
    return crypto.timingSafeEqual(a, b);
  };
  const { requireAdmin } = await t.mockImport<typeof import('../../src/api/plugins/app/admin-auth.js')>(
    '../../src/api/plugins/app/admin-auth.js',
    {
      'node:crypto': { ...crypto, timingSafeEqual: spy },
    },
  );
  const check = requireAdmin({ adminToken: TOKEN });
  const reply = { header: () => reply } as unknown as FastifyReply;
  const outcomes: string[] = [];
  for (const guess of ['x', TOKEN.slice(0, 16), TOKEN.slice(0, -1), `${TOKEN}${'y'.repeat(1000)}`, TOKEN]) {
    const request = { headers: { authorization: `Bearer ${guess}` } } as unknown as FastifyRequest;
    outcomes.push(
      await check.call(undefined as never, request, reply).then(
        () => 'pass',
        (err: { statusCode?: number }) => String(err.statusCode),
      ),
    );
  }
  t.same(outcomes, ['401', '401', '401', '401', 'pass']);
  t.same(
    compared,
    Array.from({ length: 5 }, () => [32, 32]),
    'every guess compared as two 32-byte digests with timingSafeEqual',
  );
});
