/**
 * Rate limiting on the trim routes: past the budget a client gets 429 rate_limited with
 * Retry-After; other clients and other routes are not affected; behind a trusted proxy the
 * client is the forwarded address. In scale-out the counters are in Redis, so two API
 * instances sharing a Redis prefix enforce one budget (the machine's Redis, a prefix of
 * this run's own, removed at the end).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ErrorBody } from '../../src/api/schemas.js';
import { isRateLimitedRoute } from '../../src/api/plugins/external/rate-limit.js';
import { deleteRedisKeys, REDIS_URL } from '../jobs/setup.js';
import { btfForm, RAW_FIELDS, setupApi, why } from '../api/helpers.js';

/**
 * A POST the limiter counts before anything else happens (the body is then refused with 415):
 * cheap. The compat route counts every request; the trim routes count only cache misses.
 */
const cheapPost = (url = '/api/v1/compat', headers: Record<string, string> = {}, remoteAddress = '10.1.1.1') => ({
  method: 'POST' as const,
  url,
  payload: '{}',
  headers: { 'content-type': 'application/json', ...headers },
  remoteAddress,
});

t.test('past the budget: 429 rate_limited with Retry-After; per client, per route', async (t) => {
  const { app } = await setupApi(t, { config: { rateLimit: { max: 3, windowMs: 60_000 } } });
  for (let i = 1; i <= 3; i++) {
    const res = await app.inject(cheapPost());
    t.equal(res.statusCode, 415, `request ${i} passes the limiter: ${why(res)}`);
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i));
  }
  const limited = await app.inject(cheapPost());
  t.equal(limited.statusCode, 429, why(limited));
  t.match(limited.json(), { error: 'rate_limited', message: /more than 3 requests in 60 s/ });
  t.ok(ErrorBody.safeParse(limited.json()).success, 'the error shape of every error');
  t.ok(
    Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60,
    `Retry-After: ${limited.headers['retry-after']}`,
  );
  t.equal(limited.headers['x-ratelimit-remaining'], '0');

  t.equal((await app.inject(cheapPost('/api/v1/compat', {}, '10.2.2.2'))).statusCode, 415, 'another client has its own budget');
  t.equal((await app.inject(cheapPost('/api/v1/bundle'))).statusCode, 415, 'another route has its own budget');
  const customize = await app.inject(
    cheapPost('/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64'),
  );
  t.not(customize.statusCode, 429, 'another route has its own budget');
  for (let i = 0; i < 5; i++)
    t.equal((await app.inject({ url: '/api/v1/kernels', remoteAddress: '10.1.1.1' })).statusCode, 200, 'reads are not limited');

  const forwarded = await app.inject(cheapPost('/api/v1/compat', { 'x-forwarded-for': '192.0.2.7' }));
  t.equal(forwarded.statusCode, 429, 'X-Forwarded-For is ignored without a trusted proxy');
});

t.test('trims: only cache misses count; a spent budget still gets cached answers', async (t) => {
  const { app, fixtures } = await setupApi(t, { config: { rateLimit: { max: 2, windowMs: 60_000 } } });
  const trim = (name: string, remoteAddress = '10.3.3.3') =>
    app.inject({
      method: 'POST',
      url: '/api/v1/btf',
      ...btfForm([{ name: `${name}.bpf.o`, bytes: fixtures.objects.get(name)!.bytes }], RAW_FIELDS),
      remoteAddress,
    });
  for (let i = 0; i < 6; i++) t.equal((await trim('tools_like')).statusCode, 200, `the same trim, again (${i}): one miss, then hits`);
  t.equal((await trim('enum_relos')).statusCode, 200, 'a second miss: the budget of 2 is spent');
  const third = await trim('enum64');
  t.equal(third.statusCode, 429, why(third));
  t.match(third.json(), { error: 'rate_limited', message: /more than 2 trims in 60 s .*cached answers are not counted/ });
  t.ok(Number(third.headers['retry-after']) > 0);
  t.equal(third.headers['x-ratelimit-remaining'], '0');
  for (let i = 0; i < 3; i++)
    t.equal((await trim(i % 2 === 0 ? 'tools_like' : 'enum_relos')).statusCode, 200, `cached answers keep coming (${i})`);
  t.equal((await trim('enum64', '10.4.4.4')).statusCode, 200, 'another client has its own budget');
  // Refused before any work: a malformed request is not charged either.
  const cheap = await app.inject({
    method: 'POST',
    url: '/api/v1/btf',
    payload: '{}',
    headers: { 'content-type': 'application/json' },
    remoteAddress: '10.5.5.5',
  });
  t.equal(cheap.statusCode, 415);
});

t.test('behind a trusted proxy the client is the forwarded address', async (t) => {
  const { app } = await setupApi(t, { config: { rateLimit: { max: 1, windowMs: 60_000 }, trustProxy: ['10.0.0.0/8'] } });
  const via = (client: string) => app.inject(cheapPost('/api/v1/compat', { 'x-forwarded-for': client }, '10.9.9.9'));
  t.equal((await via('192.0.2.1')).statusCode, 415);
  t.equal((await via('192.0.2.1')).statusCode, 429, 'the same client through the proxy is limited');
  t.equal((await via('192.0.2.2')).statusCode, 415, 'another client through the same proxy is not');
});

t.test('the routes that trim, build or administer are the limited ones', async (t) => {
  for (const route of [
    'POST /api/v1/btf',
    'POST /api/v1/customize',
    'POST /api/v1/bundle',
    'POST /api/v1/compat',
    'POST /api/v1/kernels',
    'POST /api/v1/sync',
  ]) {
    const [method, url] = route.split(' ') as [string, string];
    t.ok(isRateLimitedRoute(method, url), route);
  }
  for (const route of [
    'GET /api/v1/kernels',
    'GET /api/v1/btf/:objectsHash/:distro/:distro_version/:arch/:kernel_version',
    'GET /healthz',
    'GET /api/v1/jobs/:id',
  ]) {
    const [method, url] = route.split(' ') as [string, string];
    t.notOk(isRateLimitedRoute(method, url), `${route} is not`);
  }
  const { app } = await setupApi(t, { config: { rateLimit: { max: 0, windowMs: 60_000 } } });
  for (let i = 0; i < 20; i++) t.equal((await app.inject(cheapPost())).statusCode, 415, `max 0: off (${i})`);
});

t.test('scale-out: two API instances sharing a Redis prefix enforce one budget', async (t) => {
  const prefix = `btfhub-rl-${process.pid}-${randomBytes(4).toString('hex')}`;
  t.teardown(() => deleteRedisKeys(REDIS_URL, prefix));
  const config = { rateLimit: { max: 4, windowMs: 60_000 }, queue: { kind: 'redis' as const, url: REDIS_URL, prefix } };
  // The apps' own queues are in-process: only the limiter talks to Redis here.
  const [one, two] = [await setupApi(t, { config }), await setupApi(t, { config })];
  // Each instance's first request opens its Redis connection and loads the limiter's script:
  // under a loaded machine that can pass the 500 ms command timeout, and the limiter fails
  // open (skipOnError). That is the design; here it would leave a request uncounted, so each
  // instance makes its first request from another client, with a budget of its own.
  for (const api of [one, two]) await api.app.inject(cheapPost(undefined, {}, '10.2.2.2'));
  const answers: number[] = [];
  for (const api of [one, two, one, two, one, two]) answers.push((await api.app.inject(cheapPost())).statusCode);
  t.same(answers, [415, 415, 415, 415, 429, 429], 'four requests in all, whichever instance took them');
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  t.teardown(() => redis.disconnect());
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:ratelimit:*-10.1.1.1`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  t.equal(keys.length, 1, `one counter in Redis under the deployment's prefix for the client: ${keys.join(', ')}`);
  t.equal(await redis.get(keys[0]!), '6', 'counting every request from both instances');
});
