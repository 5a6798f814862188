/**
 * Every input has a bound, and hitting it is a 4xx (or a 503 asking to retry), never a
 * crash or an unbounded allocation: per-file, per-request, per-field and per-process upload
 * bytes; the number of files and fields; decompression bombs in gzip uploads (413) and in
 * kernel archives (ArchiveError LIMIT, xz killed); tar entries that would escape (absolute,
 * '..', links); clients that send too slowly (408).
 */
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { ErrorBody } from '../../src/api/schemas.js';
import { decompressGzip } from '../../src/archive/gzip.js';
import { DEFAULT_MAX_UNCOMPRESSED_BYTES, readKernelBtfFile, setMaxUncompressedBytes } from '../../src/archive/kernel-btf.js';
import { readTarEntries, safeEntryPath } from '../../src/archive/tar.js';
import { decompressXz } from '../../src/archive/xz.js';
import { btfForm, fixtureObject, keysUnder, multipart, oracle, RAW_FIELDS, setupApi, why } from '../api/helpers.js';

const MiB = 1024 * 1024;

function expectError(t: Test, res: { statusCode: number; json(): unknown; body: string }, status: number, error: string, what: string) {
  t.equal(res.statusCode, status, `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  t.ok(ErrorBody.safeParse(res.json()).success, `${what}: JSON error`);
  t.match(res.json(), { error }, `${what}: ${error}`);
}

t.test('uploads: per file, per request, per field, file and field counts: 413', async (t) => {
  const { app, store, catalog } = await setupApi(t, {
    maxFileBytes: 100_000,
    maxFiles: 3,
    config: { maxRequestBytes: 200_000, maxFieldBytes: 200 },
  });
  const file = (n: number) => ({ name: `f${n}`, bytes: new Uint8Array(90_000).fill(n) });
  const post = (parts: ReturnType<typeof multipart>) => app.inject({ method: 'POST', url: '/api/v1/btf', ...parts });

  expectError(t, await post(btfForm([{ name: 'big', bytes: new Uint8Array(100_001) }])), 413, 'payload_too_large', 'a file one byte over');
  expectError(
    t,
    await post(btfForm([file(1), file(2), file(3)])),
    413,
    'payload_too_large',
    'three files under the file limit, over the request limit',
  );
  t.match((await post(btfForm([file(1), file(2), file(3)]))).json(), { message: /request is larger than 200000 bytes/ });
  expectError(
    t,
    await post(btfForm([file(1), file(1), file(1), file(1)].map((f) => ({ ...f, bytes: f.bytes.subarray(0, 10) })))),
    413,
    'payload_too_large',
    'four files, three allowed',
  );
  const longField = await post(btfForm([file(1)], { ...RAW_FIELDS, kernel_version: 'x'.repeat(201) }));
  expectError(t, longField, 413, 'payload_too_large', 'a field over BTFHUB_MAX_FIELD_BYTES');
  t.equal(longField.json<{ error: string; field?: string; message: string }>().field, 'kernel_version');
  // The compatibility route skips unknown fields (the strict one refuses the first): the count limit still holds.
  const manyFields = multipart(Array.from({ length: 40 }, (_, i) => ({ name: `field${i}`, data: 'x' })));
  const customize = '/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';
  expectError(t, await app.inject({ method: 'POST', url: customize, ...manyFields }), 413, 'payload_too_large', 'forty fields');

  const within = await post(btfForm([file(1), file(2)]));
  t.equal(within.statusCode, 422, `within every limit, the objects are checked (and are not objects): ${why(within)}`);
  t.same(await keysUnder(store, 'objects/'), [], 'nothing stored');
  t.equal(await catalog.countTrims(), 0);
});

t.test('a Content-Length over the request limit is refused before the body is read', async (t) => {
  const { app } = await setupApi(t, { config: { maxRequestBytes: 1 * MiB } });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = new URL(address);
  const started = performance.now();
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    // Headers only: a client announcing 10 GiB, of which it never sends a byte.
    socket.write(
      `POST /api/v1/btf HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${10 * 1024 * MiB}\r\n\r\n`,
    );
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
  t.match(answer, /^HTTP\/1\.1 413 /, 'answered 413 at once');
  t.match(answer, /"error":"payload_too_large"/);
  t.match(answer, /\r\nconnection: close\r\n/i, 'and the connection is closed: the announced body is never read');
  t.ok(performance.now() - started < 2500, `in ${Math.round(performance.now() - started)} ms, without waiting for the body`);
});

t.test('the process-wide upload budget: past it 503 with Retry-After, and given back after each request', async (t) => {
  const { app, fixtures } = await setupApi(t, { maxFileBytes: 2 * MiB, config: { maxUploadBytesInFlight: 64 * 1024 } });
  const big = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'shared_a')]) });
  expectError(t, big, 503, 'unavailable', 'an upload larger than the whole budget');
  t.equal(big.headers['retry-after'], '5');
  for (let i = 0; i < 3; i++) {
    const small = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([fixtureObject(fixtures, 'enum64')]) });
    t.equal(small.statusCode, 200, `a small one fits, again and again (${i}): ${why(small)}`);
  }
  t.equal(app.services.uploads.inUse(), 0, 'every byte given back');
});

t.test('gzip uploads count against the in-flight budget as they inflate', async (t) => {
  // Each bomb is within the per-file limit (3 MiB) but eight of them are not within the 8 MiB budget.
  const { app } = await setupApi(t, { maxFileBytes: 4 * MiB, config: { maxUploadBytesInFlight: 8 * MiB } });
  const bomb = gzipSync(Buffer.alloc(3 * MiB));
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, app.services.uploads.inUse())), 1);
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([{ name: `bomb${i}.gz`, bytes: bomb }]) }),
    ),
  );
  clearInterval(watch);
  const statuses = answers.map((a) => a.statusCode);
  t.ok(statuses.includes(503), `some are refused while the others inflate: ${statuses.join(' ')}`);
  for (const refused of answers.filter((a) => a.statusCode === 503)) t.match(refused.json(), { error: 'unavailable' });
  t.ok(peak <= 8 * MiB, `the budget held while inflating (peak ${peak} bytes)`);
  t.equal(app.services.uploads.inUse(), 0, 'every byte given back');
  // Counted piece by piece: the callback's refusal stops the inflation.
  const pieces: number[] = [];
  await t.rejects(
    decompressGzip(gzipSync(Buffer.alloc(4 * MiB)), {
      maxOutputBytes: 8 * MiB,
      onOutput: (n) => {
        pieces.push(n);
        if (pieces.reduce((a, b) => a + b, 0) > MiB) throw new Error('over budget');
      },
    }),
    { message: 'over budget' },
  );
  t.ok(pieces.reduce((a, b) => a + b, 0) < 2 * MiB, 'inflation stopped soon after the refusal');
});

t.test('gzip uploads: inflated within the file limit; a bomb is a 413, a damaged stream a 422', async (t) => {
  const { app, fixtures, store } = await setupApi(t, { maxFileBytes: 4 * MiB });
  const object = fixtureObject(fixtures, 'enum64');
  const plain = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  const gz = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([{ name: 'enum64.gz', bytes: gzipSync(object.bytes) }]) });
  t.equal(gz.statusCode, 200, why(gz));
  t.same(gz.rawPayload, Buffer.from(oracle(fixtures, 'enum64')), 'the trimmed BTF of the inflated object');
  t.equal(gz.headers['x-btfhub-objects-hash'], plain.headers['x-btfhub-objects-hash'], 'the same objects hash as the plain upload');
  t.equal(gz.headers['x-btfhub-cache'], 'hit', 'so the same cache entry');

  const bomb = gzipSync(Buffer.alloc(64 * MiB));
  t.ok(bomb.length < 100 * 1024, `a ${bomb.length}-byte gzip inflating to 64 MiB`);
  const rssBefore = process.memoryUsage().rss;
  const boom = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([{ name: 'bomb', bytes: bomb }]) });
  expectError(t, boom, 413, 'payload_too_large', 'a gzip bomb');
  t.match(boom.json(), { field: 'object', message: /decompresses to more than 4194304 bytes/ });
  t.ok(process.memoryUsage().rss - rssBefore < 48 * MiB, 'and it was never inflated whole');
  const damaged = Buffer.concat([gzipSync(object.bytes).subarray(0, 200), Buffer.alloc(50, 0x55)]);
  expectError(
    t,
    await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([{ name: 'damaged', bytes: damaged }]) }),
    422,
    'invalid_object',
    'a damaged gzip',
  );
  t.equal((await keysUnder(store, 'objects/')).length, 1, 'only the good object was stored');

  await t.rejects(decompressGzip(bomb, { maxOutputBytes: MiB }), { name: 'ArchiveError', code: 'LIMIT' });
  t.equal((await decompressGzip(gzipSync(Buffer.alloc(MiB)), { maxOutputBytes: MiB })).length, MiB, 'exactly the limit is fine');
});

t.test('kernel archives: an xz bomb stops at the decompression limit', async (t) => {
  const tar = Buffer.alloc(32 * MiB); // zeros: an empty tar, 32 MiB of it
  const bomb = execFileSync('xz', ['-0', '-c', '--threads=1'], { input: tar });
  t.ok(bomb.length < 64 * 1024, `${bomb.length} bytes of xz`);
  const started = performance.now();
  await t.rejects(decompressXz(bomb, { maxOutputBytes: MiB }), { name: 'ArchiveError', code: 'LIMIT' }, 'xz is stopped at the limit');
  await t.rejects(readKernelBtfFile(bomb, 'bomb.btf.tar.xz', { maxUncompressedBytes: MiB }), {
    name: 'ArchiveError',
    code: 'LIMIT',
    message: /bomb\.btf\.tar\.xz: xz: decompressed data exceeds the limit of 1048576 bytes/,
  });
  t.ok(performance.now() - started < 5000, `in ${Math.round(performance.now() - started)} ms`);
  // What btfhub serve and btfhub worker do with BTFHUB_MAX_DECOMPRESSED_BYTES: the bound of every reader in the process.
  setMaxUncompressedBytes(MiB);
  t.teardown(() => setMaxUncompressedBytes(DEFAULT_MAX_UNCOMPRESSED_BYTES));
  await t.rejects(
    readKernelBtfFile(bomb, 'bomb.btf.tar.xz'),
    { name: 'ArchiveError', code: 'LIMIT' },
    'the process-wide bound applies without options',
  );
});

/** One ustar header block (+ data, padded) with any name, type and link, checksum right. */
function tarEntry(name: string, options: { type?: string; link?: string; data?: Uint8Array } = {}): Buffer {
  const data = Buffer.from(options.data ?? new Uint8Array());
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write(options.type ?? '0', 156);
  header.write(options.link ?? '', 157, 100, 'utf8');
  header.write('ustar\x0000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
const tarOf = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
const pax = (records: Record<string, string>) =>
  tarEntry('PaxHeader', {
    type: 'x',
    data: Buffer.from(
      Object.entries(records)
        .map(([key, value]) => {
          const body = ` ${key}=${value}\n`;
          let length = body.length + 1;
          while (`${length}${body}`.length !== length) length++;
          return `${length}${body}`;
        })
        .join(''),
    ),
  });

t.test('tar entry names: absolute paths, .. and links are refused, whatever header carries them', async (t) => {
  const btf = Buffer.from([0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const cases: [string, Buffer, RegExp][] = [
    ['"../k.btf"', tarOf(tarEntry('../k.btf', { data: btf })), /'\.\.' segment/],
    ['"/k.btf"', tarOf(tarEntry('/k.btf', { data: btf })), /absolute path/],
    ['"a/../../k.btf"', tarOf(tarEntry('a/../../k.btf', { data: btf })), /'\.\.' segment/],
    ['"..\\\\k.btf"', tarOf(tarEntry('..\\k.btf', { data: btf })), /'\.\.' segment/],
    ['"C:k.btf"', tarOf(tarEntry('C:k.btf', { data: btf })), /absolute path/],
    ['a pax path "../../k.btf"', tarOf(pax({ path: '../../k.btf' }), tarEntry('k.btf', { data: btf })), /'\.\.' segment/],
    [
      'a GNU long name "/etc/k.btf"',
      tarOf(tarEntry('././@LongLink', { type: 'L', data: Buffer.from('/etc/k.btf\0') }), tarEntry('k.btf', { data: btf })),
      /absolute path/,
    ],
  ];
  for (const [what, archive, reason] of cases) {
    await t.rejects(readKernelBtfFile(archive, 'k.btf.tar'), { name: 'ArchiveError', code: 'UNSAFE_ENTRY', message: reason }, what);
  }
  // Links are never followed: a link named like the BTF is not the BTF.
  for (const [what, entry] of [
    ['a symlink k.btf -> /etc/passwd', tarEntry('k.btf', { type: '2', link: '/etc/passwd' })],
    ['a hardlink k.btf -> ../../x', tarEntry('k.btf', { type: '1', link: '../../x' })],
  ] as const) {
    await t.rejects(
      readKernelBtfFile(tarOf(entry), 'k.btf.tar'),
      { name: 'ArchiveError', code: 'FORMAT', message: /holds no \.btf file/ },
      what,
    );
    const [parsed] = [...readTarEntries(tarOf(entry))];
    t.throws(() => safeEntryPath(parsed!), { name: 'ArchiveError', code: 'UNSAFE_ENTRY' }, `${what}: never extracted`);
  }
  t.same(await readKernelBtfFile(tarOf(tarEntry('./k.btf', { data: btf })), 'k.btf.tar'), btf, 'a plain entry is read');
});

t.test('a client that sends too slowly is cut off with 408 (BTFHUB_REQUEST_TIMEOUT_MS)', async (t) => {
  const { app } = await setupApi(t, { config: { requestTimeoutMs: 1000 } });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = new URL(address);
  for (const [what, head] of [
    ['headers that never end', 'POST /api/v1/btf HTTP/1.1\r\nHost: x\r\nX-Slow: '],
    [
      'a body that never ends',
      'POST /api/v1/btf HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n',
    ],
  ] as const) {
    const started = performance.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.write(head);
      // A byte now and then: slowloris keeps the connection busy without finishing.
      const drip = setInterval(() => socket.write('x'), 200);
      socket.on('close', () => clearInterval(drip));
      setTimeout(() => socket.destroy(), 5000).unref();
    });
    const elapsed = performance.now() - started;
    t.match(answer, /^HTTP\/1\.1 408 /, `${what}: 408`);
    t.ok(elapsed < 3000, `${what}: cut off after ${Math.round(elapsed)} ms`);
  }
});
