/**
 * /healthz, /readyz (and its 503 naming the failed dependency), /metrics, Swagger UI at
 * /docs, unknown routes, and a dependency outage during a request: 503 with Retry-After.
 */
import t from 'tap';
import { openapiDocument } from '../../src/api/openapi/document.js';
import { ErrorBody, Health, NotReady, Ready } from '../../src/api/schemas.js';
import type { CatalogBackend } from '../../src/catalog/index.js';
import type { JobQueue } from '../../src/queue/job.js';
import type { JobKinds } from '../../src/queue/kinds.js';
import { StorageError } from '../../src/storage/errors.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { btfForm, fixtureObject, keysUnder, setupApi, why } from './helpers.js';

/** `target` with the named methods failing. */
function failing<T extends object>(target: T, methods: readonly (keyof T)[], error: () => Error): T {
  return new Proxy(target, {
    get(obj, property, receiver) {
      if (methods.includes(property as keyof T)) return async () => Promise.reject(error());
      const value: unknown = Reflect.get(obj, property, receiver);
      return typeof value === 'function' ? (value.bind(obj) as unknown) : value;
    },
  });
}

t.test('/healthz and /readyz when all is well', async (t) => {
  const { app } = await setupApi(t);
  const health = await app.inject('/healthz');
  t.equal(health.statusCode, 200);
  t.same(Health.parse(health.json()), { status: 'ok' });
  const ready = await app.inject('/readyz');
  t.equal(ready.statusCode, 200);
  t.same(Ready.parse(ready.json()), { status: 'ok', checks: { catalog: { ok: true }, queue: { ok: true }, store: { ok: true } } });
});

t.test('/readyz names what failed', async (t) => {
  for (const which of ['catalog', 'queue', 'store'] as const) {
    const token = 'a-readiness-admin-token';
    const { app } = await setupApi(t, {
      config: { adminToken: token },
      wrap: (deps) => ({ [which]: failing(deps[which] as object, ['check' as never], () => new Error(`${which} is down`)) }),
    });
    const res = await app.inject({ url: '/readyz', headers: { authorization: `Bearer ${token}` } });
    t.equal(res.statusCode, 503, which);
    t.equal(res.headers['retry-after'], '5');
    const body = NotReady.parse(res.json());
    t.same(body.failed, [which]);
    t.equal(body.checks[which].ok, false);
    t.match(body.checks[which].error, `${which} is down`, 'the admin sees why');
    t.match(body.message, which);
    const anonymous = NotReady.parse((await app.inject('/readyz')).json());
    t.same(anonymous.failed, [which], 'anonymous callers see what failed');
    t.equal(anonymous.checks[which].error, undefined, 'but not why');
    t.notMatch(anonymous.message, 'is down');
  }
});

t.test('a dependency failing mid-request: 503 with Retry-After, never a 500', async (t) => {
  const cases: [string, (deps: { store: ObjectStore; catalog: CatalogBackend; queue: JobQueue<JobKinds> }) => object][] = [
    [
      'catalog',
      (deps) => ({
        catalog: failing(deps.catalog, ['getKernel', 'listKernels', 'getTrim'], () => new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      }),
    ],
    ['queue', (deps) => ({ queue: failing(deps.queue, ['enqueue', 'status'], () => new Error('connect ECONNREFUSED 127.0.0.1:6379')) })],
    [
      'store',
      (deps) => ({ store: failing(deps.store, ['put', 'head', 'get'], () => new StorageError('UNAVAILABLE', 'bucket unreachable')) }),
    ],
  ];
  for (const [which, wrap] of cases) {
    const { app, fixtures, store } = await setupApi(t, { wrap: wrap });
    const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'enum64')]) });
    t.equal(res.statusCode, 503, `${which}: ${why(res)}`);
    t.equal(res.headers['retry-after'], '5', `${which}: Retry-After`);
    t.match(res.json(), { error: 'unavailable', message: which });
    t.ok(ErrorBody.safeParse(res.json()).success);
    t.notMatch(res.body, /ECONNREFUSED|unreachable/, 'internals stay in the log');
    if (which !== 'store') t.ok((await keysUnder(store, 'trimmed/')).length === 0);
  }
  const { app } = await setupApi(t, { wrap: cases[0]![1] });
  const list = await app.inject('/api/v1/kernels');
  t.equal(list.statusCode, 503);
  const job = await app.inject(`/api/v1/jobs/${'0'.repeat(64)}`);
  t.equal(job.statusCode, 404, 'the job route does not need the catalog');
});

t.test('/metrics: requests, trims, cache hits, queue depth, decoded kernels', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const object = fixtureObject(fixtures, 'enum64');
  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
    t.equal(res.statusCode, 200, why(res));
  }
  await app.inject('/api/v1/kernels/ubuntu/22.04/x86_64/nope');
  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const text = res.body;
  t.match(text, 'btfhub_http_requests_total{method="POST",route="/api/v1/btf",status="200"} 2');
  t.match(
    text,
    'btfhub_http_requests_total{method="GET",route="/api/v1/kernels/:distro/:distro_version/:arch/:kernel_version",status="404"} 1',
  );
  t.match(text, 'btfhub_trim_requests_total{outcome="completed"} 1');
  t.match(text, 'btfhub_trim_requests_total{outcome="hit"} 1');
  t.match(text, 'btfhub_cache_hits_total 1');
  t.match(text, 'btfhub_trim_job_duration_seconds_count 1');
  t.match(text, /btfhub_trim_job_duration_seconds_bucket\{le="\+Inf"\} 1/);
  t.match(text, 'btfhub_queue_depth 0');
  t.match(text, 'btfhub_kernels_decoded 1');
  t.match(text, /btfhub_kernels_decoded_bytes [1-9]\d+/);
  // Label order carries no meaning in Prometheus; prom-client writes `le` first.
  t.match(text, /btfhub_http_request_duration_seconds_bucket\{le="0\.001",route="\/api\/v1\/btf"\} \d+/);
  // Every sample line is `name{labels} value` (Prometheus' metric name grammar; values are floats, NaN or +Inf).
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    t.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([0-9.e+-]+|[+-]Inf|NaN)$/i, line);
  }
  // prom-client's process and Node.js metrics, GC included.
  t.match(text, /^process_cpu_seconds_total [0-9.e+-]+$/m);
  t.match(text, /^process_resident_memory_bytes \d+$/m);
  t.match(text, '# TYPE nodejs_gc_duration_seconds histogram');
  t.notMatch(text, /^http_request_duration_seconds/m, "the original's names are on /monitoring/metrics only");
});

t.test('Swagger UI at /docs serves the OpenAPI document; unknown routes are JSON 404s', async (t) => {
  const { app } = await setupApi(t);
  const ui = await app.inject('/docs');
  t.equal(ui.statusCode, 200);
  t.match(ui.headers['content-type'], /text\/html/);
  t.match(ui.body, /swagger/i);
  const json = await app.inject('/docs/json');
  t.equal(json.statusCode, 200);
  t.same(json.json(), openapiDocument(), 'the document served is the generated one');
  t.same(
    json.json<{ servers: unknown }>().servers,
    [{ url: '/', description: 'This service: the origin this document was loaded from.' }],
    'one server, relative: Try it out calls this instance',
  );

  const missing = await app.inject('/api/v2/nothing');
  t.equal(missing.statusCode, 404);
  t.same(missing.json(), { error: 'not_found', message: 'no route GET /api/v2/nothing' });
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/api/v1/kernels' });
  t.equal(wrongMethod.statusCode, 404);
  t.ok(ErrorBody.safeParse(wrongMethod.json()).success);
  const post = await app.inject({ method: 'POST', url: '/healthz', payload: { a: 1 } });
  t.equal(post.statusCode, 404);
});
