/**
 * The catalog (PostgreSQL in scale-out) failing: requests that need it answer 503 with
 * Retry-After, never 500; a result already in the API's memory still answers, without the
 * catalog, and its hit count, which cannot be written meanwhile, is dropped rather than
 * turned into an error.
 */
import t from 'tap';
import type { CatalogBackend } from '../../src/catalog/index.js';
import { btfForm, fixtureObject, setupApi, why } from '../api/helpers.js';

t.test('catalog down: cached answers from memory, 503 + Retry-After for the rest, back by itself', async (t) => {
  let down = false;
  const failing = (catalog: CatalogBackend): CatalogBackend =>
    new Proxy(catalog, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down
            ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
  const { app, fixtures } = await setupApi(t, { wrap: (deps) => ({ catalog: failing(deps.catalog) }) });
  const post = (name: 'enum64' | 'shared_a') =>
    app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, name)]) });
  const first = await post('enum64');
  t.equal(first.statusCode, 200, why(first));
  const hash = String(first.headers['x-btfhub-objects-hash']);
  // A new trim's result is kept in memory from its first repeat on (src/api/trim-service.ts).
  const repeat = await post('enum64');
  t.equal(repeat.headers['x-btfhub-cache'], 'hit', why(repeat));

  down = true;
  const cached = await post('enum64');
  t.equal(cached.statusCode, 200, `a result in memory: ${why(cached)}`);
  t.equal(cached.headers['x-btfhub-cache'], 'hit');
  t.same(cached.rawPayload, first.rawPayload);
  t.equal((await app.inject(`/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`)).statusCode, 200, 'by GET too');
  await app.services.trimHits.flush(); // the hit counts cannot be written: dropped, not thrown

  const miss = await post('shared_a');
  t.equal(miss.statusCode, 503, `a new trim needs the catalog: ${why(miss)}`);
  t.equal(miss.headers['retry-after'], '5');
  t.match(miss.json(), { error: 'unavailable', message: /catalog/ });
  t.notMatch(miss.body, /ECONNREFUSED/, 'the cause stays in the log');
  t.equal((await app.inject('/api/v1/kernels')).statusCode, 503);

  down = false;
  const back = await post('shared_a');
  t.equal(back.statusCode, 200, `the catalog is back: ${why(back)}`);
});
