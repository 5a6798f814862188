/**
 * No 500 for anything a client can send: random and malformed paths, query strings,
 * headers and bodies against every route answer a 4xx JSON error (or a success), and the
 * error mapping of src/api/errors.ts puts each known error type on its status.
 */
import { randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { ApiError, DependencyError, toErrorReply } from '../../src/api/errors.js';
import { ErrorBody } from '../../src/api/schemas.js';
import { ArchiveError } from '../../src/archive/errors.js';
import { CodecError } from '../../src/btf/errors.js';
import { IdentityError } from '../../src/identity/kernel-identity.js';
import { StorageError } from '../../src/storage/errors.js';
import { fixtureObject, multipart, RAW_FIELDS, setupApi } from './helpers.js';

const CUSTOMIZE = '/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';

/** A deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { int, pick };
}

const NASTY_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '..%2F..%2Fetc',
  '%00',
  '%ff',
  '%',
  '%zz',
  'a%2Fb',
  '~',
  '-x',
  '.hidden',
  'x'.repeat(300),
  'ü',
  '%F0%9F%92%A9',
  '*',
  '%20',
  'a b',
  '\\',
  'CON',
  '',
];

t.test('random paths and query strings never answer 500', async (t) => {
  const { app } = await setupApi(t);
  const rng = random(Number(process.env.FUZZ_SEED ?? 1234));
  const templates = [
    '/api/v1/btf/{h}/{s}/{s}/{s}/{s}',
    '/api/v1/jobs/{s}',
    '/api/v1/kernels/{s}/{s}/{s}/{s}',
    '/api/v1/kernels/{s}/{s}/{s}/{s}/btf',
    '/api/v1/kernels?distro={s}&distro_version={s}&arch={s}&kernel_prefix={s}&limit={s}&offset={s}',
    '/api/v1/download?distribution={s}&distribution_version={s}&kernel_version={s}&arch={s}',
    '/api/v1/download?distribution={s}&distribution=ubuntu',
    '/api/v1/list?{s}={s}',
    '/readyz?{s}',
  ];
  const segment = () => (rng.int(3) === 0 ? encodeURIComponent(randomBytes(rng.int(12)).toString('latin1')) : rng.pick(NASTY_SEGMENTS));
  let requests = 0;
  for (let i = 0; i < 400; i++) {
    const url = rng
      .pick(templates)
      .replace(/\{s\}/g, segment)
      .replace('{h}', () => rng.pick(['a'.repeat(64), 'A'.repeat(64), segment()]));
    const res = await app.inject({
      method: 'GET',
      url,
      headers: { accept: rng.pick(['*/*', 'application/x-xz', 'text/html;q=0', ';;;', 'application/x-xz;q=abc']) },
    });
    requests++;
    if (res.statusCode >= 500) t.fail(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    if (res.statusCode >= 400 && !ErrorBody.safeParse(res.json()).success) t.fail(`${url}: not an error body: ${res.body.slice(0, 200)}`);
  }
  t.pass(`${requests} requests, no 500`);
});

t.test('random and malformed upload bodies never answer 500', async (t) => {
  const { app, fixtures } = await setupApi(t, { maxFileBytes: 256 * 1024, maxFiles: 3 });
  const rng = random(Number(process.env.FUZZ_SEED ?? 99));
  const object = fixtureObject(fixtures, 'enum64').bytes;
  const good = multipart([
    ...Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data })),
    { name: 'object', filename: 'o.o', data: object },
  ]);
  const bodies: (() => InjectOptions)[] = [
    () => ({ payload: randomBytes(rng.int(2000)), headers: { 'content-type': 'multipart/form-data; boundary=xyz' } }),
    () => ({ payload: good.payload.subarray(0, rng.int(good.payload.length)), headers: good.headers }),
    () => {
      // Flip some bytes of a good body: headers, boundaries and contents get damaged.
      const copy = Buffer.from(good.payload);
      for (let i = 0; i < 1 + rng.int(20); i++) copy[rng.int(copy.length)] = rng.int(256);
      return { payload: copy, headers: good.headers };
    },
    () => ({
      payload: good.payload,
      headers: {
        'content-type': rng.pick([
          'multipart/form-data',
          'multipart/form-data; boundary=',
          'multipart/mixed; boundary=x',
          'text/plain',
          'application/json',
          'application/x-www-form-urlencoded',
        ]),
      },
    }),
    () => ({ payload: '{"distro": ', headers: { 'content-type': 'application/json' } }),
    () => ({ payload: 'a=b&c', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    () =>
      multipart([
        {
          name: rng.pick(['object', 'bpf', 'distro', '__proto__', 'constructor', '', 'x'.repeat(200)]),
          filename: rng.pick([undefined, 'a.o', '../../etc/passwd', '']),
          data: randomBytes(rng.int(512)),
        },
        ...Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data: rng.int(4) === 0 ? randomBytes(20).toString('latin1') : data })),
      ]),
    () => multipart(Array.from({ length: 5 + rng.int(40) }, (_, i) => ({ name: `f${i}`, data: 'x' }))),
    () => multipart([{ name: 'object', filename: 'big.o', data: Buffer.alloc(300 * 1024, 0x7f) }]),
  ];
  const urls = [
    '/api/v1/btf',
    `/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64`,
  ];
  for (let i = 0; i < 300; i++) {
    const url = rng.pick(urls);
    const res = await app.inject({ method: 'POST', url, ...rng.pick(bodies)() });
    if (res.statusCode >= 500) t.fail(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    if (res.statusCode >= 400 && !ErrorBody.safeParse(res.json()).success) t.fail(`${url}: not an error body: ${res.body.slice(0, 200)}`);
  }
  t.pass('300 uploads, no 500');
});

t.test("a part without a name is a 400 that says so, not a TypeError's message (found by npm run fuzz)", async (t) => {
  const { app } = await setupApi(t);
  const boundary = 'nameless';
  const body = (disposition: string) => `--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\nubuntu\r\n--${boundary}--\r\n`;
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  for (const disposition of ['form-data; namg="distro"', 'form-data; filename="x.o"']) {
    for (const url of ['/api/v1/btf', '/api/v1/compat']) {
      const res = await app.inject({ method: 'POST', url, headers, payload: body(disposition) });
      t.equal(res.statusCode, 400, `${url}, ${disposition}: ${res.body}`);
      t.match(res.json(), {
        error: 'invalid_field',
        message: /^a part has no name \(its Content-Disposition needs name="\.\.\."\); expected /,
      });
      t.notMatch(res.body, /Cannot read properties/);
    }
  }
  // The lenient route (the original BTFHub Online's) skips it, as any part it does not know.
  const lenient = await app.inject({
    method: 'POST',
    url: '/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64',
    headers,
    payload: body('form-data; namg="bpf"'),
  });
  t.equal(lenient.statusCode, 400, lenient.body);
  t.notMatch(lenient.body, /Cannot read properties/);
  t.match(lenient.json(), { error: 'missing_field' }, 'and answers what is missing');
});

t.test('a body busboy never finishes (a skipped part over 16 KB) is answered 400, and gives its upload budget back', async (t) => {
  const { app } = await setupApi(t);
  // Found by npm run fuzz: a part whose Content-Disposition header is misspelled is skipped by
  // the parser, which then neither finishes nor fails once the part is over its stream buffer.
  const boundary = 'XX';
  const body = (size: number) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposithon: form-data; name="object"; filename="a.o"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.alloc(size, 0x61),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  for (const url of ['/api/v1/btf', CUSTOMIZE]) {
    for (const size of [1000, 17_000, 200_000]) {
      const res = await app.inject({ method: 'POST', url, payload: body(size), headers });
      t.equal(res.statusCode, 400, `${url}, ${size} bytes: 400`);
      t.ok(ErrorBody.safeParse(res.json()).success, 'the JSON error shape');
    }
  }
  t.equal(app.services.uploads.inUse(), 0, 'every request gave its upload budget back');
  const good = multipart([...Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data }))]);
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/btf', ...good })).statusCode, 400, 'the next request is answered as usual');
});

t.test('toErrorReply: each error type on its status', async (t) => {
  const cases: [unknown, number, string, string?][] = [
    [new ApiError(404, 'job_not_found', 'x'), 404, 'job_not_found'],
    [new IdentityError('arch', 'bad'), 400, 'invalid_field', 'arch'],
    [new CodecError('ELF', 'not an ELF'), 422, 'invalid_object', 'object'],
    [new CodecError('MISSING_SECTION', 'no .BTF.ext'), 422, 'invalid_object', 'object'],
    [new DependencyError('queue', new Error('ECONNREFUSED')), 503, 'unavailable'],
    [new StorageError('UNAVAILABLE', 'down'), 503, 'unavailable'],
    [new ArchiveError('FORMAT', 'bad archive'), 500, 'internal_error'],
    [Object.assign(new Error('x'), { code: 'FST_REQ_FILE_TOO_LARGE', statusCode: 413 }), 413, 'payload_too_large'],
    [Object.assign(new Error('x'), { code: 'FST_FILES_LIMIT', statusCode: 413 }), 413, 'payload_too_large'],
    [Object.assign(new Error('x'), { code: 'FST_INVALID_MULTIPART_CONTENT_TYPE', statusCode: 406 }), 415, 'unsupported_media_type'],
    [Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), 415, 'unsupported_media_type'],
    [Object.assign(new Error('x'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }), 413, 'payload_too_large'],
    [Object.assign(new Error('bad json'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), 400, 'bad_request'],
    [Object.assign(new Error('x'), { statusCode: 406, code: 'FST_INVALID_JSON_FIELD_ERROR' }), 400, 'bad_request'],
    [new TypeError('a bug'), 500, 'internal_error'],
    ['a string', 500, 'internal_error'],
  ];
  for (const [err, status, code, field] of cases) {
    const reply = toErrorReply(err);
    t.equal(reply.status, status, `${String(err)}: status`);
    t.equal(reply.body.error, code, `${String(err)}: code`);
    t.equal(reply.body.field, field, `${String(err)}: field`);
    t.equal(reply.serverFault, status >= 500);
    if (status === 503) t.equal(reply.headers['retry-after'], '5');
  }
  t.equal(toErrorReply(new TypeError('secret detail')).body.message, 'internal error', 'a bug does not leak its message');
});

t.test(
  'identity fields named like Object.prototype members are plain names: an unknown kernel, never 503 (found by npm run fuzz)',
  async (t) => {
    const { app, fixtures } = await setupApi(t);
    const hash = 'a'.repeat(64);
    for (const name of ['constructor', '__proto__']) {
      const requests: [string, InjectOptions][] = [
        [
          'POST /api/v1/btf',
          {
            method: 'POST',
            url: '/api/v1/btf',
            ...multipart([
              ...Object.entries({ ...RAW_FIELDS, distro_version: name }).map(([n, data]) => ({ name: n, data })),
              { name: 'object', filename: 'o.o', data: fixtureObject(fixtures, 'enum64').bytes },
            ]),
          },
        ],
        ['GET /api/v1/btf/...', { url: `/api/v1/btf/${hash}/ubuntu/${name}/x86_64/5.15.0-91-generic` }],
        ['GET /api/v1/kernels/...', { url: `/api/v1/kernels/ubuntu/${name}/x86_64/5.15.0-91-generic` }],
        ['GET /api/v1/kernels?...', { url: `/api/v1/kernels?distro=ubuntu&distro_version=${name}` }],
        [
          'GET /api/v1/download',
          { url: `/api/v1/download?distribution=ubuntu&distribution_version=${name}&kernel_version=5.15.0-91-generic&arch=x86_64` },
        ],
      ];
      for (const [what, request] of requests) {
        const res = await app.inject(request);
        if (what === 'GET /api/v1/kernels?...') {
          t.equal(res.statusCode, 200, `${what} with distro_version ${name}: ${res.body.slice(0, 160)}`);
          t.match(res.json(), { items: [], total: 0 }, 'no kernel has that release');
        } else {
          t.equal(res.statusCode, 404, `${what} with distro_version ${name}: ${res.body.slice(0, 160)}`);
          t.match(res.json(), { error: /not_found$/ });
        }
      }
    }
  },
);
