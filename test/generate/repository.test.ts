/**
 * On-demand generation from repositories, against a local mirror (node:http on 127.0.0.1)
 * whose indexes the test setup writes: Debian Packages.xz and Ubuntu Packages.gz, RPM
 * repomd.xml with primary.xml.gz/.xz/.zst. Lookup, bounded and verified download,
 * generation, one generation per kernel at a time, and the negative cache.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenerateError } from '../../src/generate/errors.js';
import { GenerationGate, MemoryFailureCache } from '../../src/generate/generation-gate.js';
import { generateFromRepositories } from '../../src/generate/on-demand.js';
import { parseGenerateConfig, type DebugRepository, type GenerateConfigInput } from '../../src/generate/repository/config.js';
import { findDebugPackage } from '../../src/generate/repository/find-package.js';
import { downloadVerified, fetchIndex } from '../../src/generate/repository/http.js';
import { generateFixtures } from '../fixtures/generate/build-packages.js';
import { buildMirror, MIRROR_LAYOUT, serveDirectory } from '../fixtures/generate/mirror.js';

const fixtures = await generateFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-generate-repo-'));
const root = join(scratch, 'mirror');
await buildMirror(root, fixtures);
const mirror = await serveDirectory(root);
t.teardown(async () => {
  await mirror.close();
  await rm(scratch, { recursive: true, force: true });
});

const url = (path: string) => `${mirror.baseUrl}/${path}`;
const repositories: DebugRepository[] = [
  {
    name: 'debian',
    kind: 'deb',
    baseUrl: url(MIRROR_LAYOUT.debian.base),
    suites: [MIRROR_LAYOUT.debian.suite],
    components: ['main'],
    architectures: ['amd64'],
  },
  {
    name: 'ubuntu-ddebs',
    kind: 'deb',
    baseUrl: url(MIRROR_LAYOUT.ubuntu.base),
    suites: [MIRROR_LAYOUT.ubuntu.suite],
    components: ['main'],
    architectures: ['amd64'],
  },
  { name: 'el8', kind: 'rpm', baseUrl: url(MIRROR_LAYOUT.rpm.el8) },
  { name: 'fc39', kind: 'rpm', baseUrl: url(MIRROR_LAYOUT.rpm.fc39) },
  { name: 'sles', kind: 'rpm', baseUrl: url(MIRROR_LAYOUT.rpm.sles) },
  { name: 'uek', kind: 'rpm', baseUrl: url(MIRROR_LAYOUT.rpm.uek) },
];
const findOptions = { maxIndexBytes: 64 * 1024 * 1024, indexTimeoutMs: 10_000 };
const config = (extra: Partial<GenerateConfigInput> = {}) => parseGenerateConfig({ repositories, ...extra });

async function expectError(t: Test, promise: Promise<unknown>, code: string, message: RegExp): Promise<GenerateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, GenerateError);
  t.equal((err as GenerateError).code, code, `code ${code}`);
  t.match((err as GenerateError).message, message);
  return err as GenerateError;
}

t.test('the configuration schema', async (t) => {
  const parsed = parseGenerateConfig({});
  t.same(parsed.repositories, [], 'no repositories by default');
  t.equal(parsed.failureRetryMs, 6 * 60 * 60_000);
  const deb = parseGenerateConfig({ repositories: [{ name: 'u', kind: 'deb', baseUrl: 'http://ddebs.ubuntu.com', suites: ['jammy'] }] });
  t.same(deb.repositories[0], {
    name: 'u',
    kind: 'deb',
    baseUrl: 'http://ddebs.ubuntu.com',
    suites: ['jammy'],
    components: ['main'],
    architectures: ['amd64'],
  });
  const bad = (input: unknown, path: RegExp) => {
    const err = (() => {
      try {
        parseGenerateConfig(input);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    t.ok(err, `${JSON.stringify(input)} is refused`);
    t.match(err?.message, path);
  };
  bad({ repositories: [{ name: 'x', kind: 'deb', baseUrl: 'ftp://example.org', suites: ['a'] }] }, /baseUrl/);
  bad({ repositories: [{ name: 'x', kind: 'deb', baseUrl: 'http://example.org', suites: [] }] }, /suites/);
  bad({ repositories: [{ name: 'x', kind: 'deb', baseUrl: 'http://example.org', suites: ['../etc'] }] }, /suites/);
  bad({ repositories: [{ name: 'x', kind: 'yum', baseUrl: 'http://example.org' }] }, /kind/);
  bad(
    {
      repositories: [
        { name: 'a', kind: 'rpm', baseUrl: 'http://a.org' },
        { name: 'a', kind: 'rpm', baseUrl: 'http://b.org' },
      ],
    },
    /unique/,
  );
  bad({ maxDownloadBytes: -1 }, /maxDownloadBytes/);
  bad({ bogus: 1 }, /bogus/);
});

t.test("findDebugPackage finds each distribution's package name in its index", async (t) => {
  for (const pkg of fixtures.packages) {
    const found = await findDebugPackage(pkg.release, repositories, findOptions);
    t.equal(found.name, pkg.name, `${pkg.release}: ${pkg.name}`);
    t.equal(found.version, pkg.version);
    t.equal(found.fileName, pkg.file);
    t.match(found.url, new RegExp(`^${mirror.baseUrl}/.*/${pkg.file.replace(/[.+]/g, '\\$&')}$`));
    const bytes = await readFile(fixtures.path(pkg));
    t.equal(found.size, bytes.length);
    t.match(found.sha256, /^[0-9a-f]{64}$/);
  }
  t.equal(
    mirror.requests.get(`/${MIRROR_LAYOUT.ubuntu.base}/dists/jammy/main/binary-amd64/Packages.xz`) !== undefined,
    true,
    'Packages.xz was asked first',
  );
  t.ok(mirror.requests.get(`/${MIRROR_LAYOUT.ubuntu.base}/dists/jammy/main/binary-amd64/Packages.gz`), 'then Packages.gz');
});

t.test('a kernel no repository has', async (t) => {
  await expectError(
    t,
    findDebugPackage('5.4.0-1-generic', repositories, findOptions),
    'NOT_FOUND',
    /no debug package for kernel 5\.4\.0-1-generic in debian bookworm\/main\/binary-amd64 \(none of linux-image-unsigned-5\.4\.0-1-generic-dbgsym, linux-image-5\.4\.0-1-generic-dbgsym, linux-image-5\.4\.0-1-generic-dbg\).*el8 \(no kernel-debuginfo/,
  );
  await expectError(t, findDebugPackage('5.4.0-1-generic', [], findOptions), 'NOT_FOUND', /no debug package repositories are configured/);
  const missing: DebugRepository = { name: 'nothing', kind: 'rpm', baseUrl: url('no-such-repo') };
  await expectError(
    t,
    findDebugPackage('5.4.0-1-generic', [missing], findOptions),
    'INDEX',
    /nothing \(failed: .*no-such-repo\/repodata\/repomd\.xml: 404 Not Found/,
  );
  const noSuite: DebugRepository = {
    name: 'old',
    kind: 'deb',
    baseUrl: url('debian'),
    suites: ['buster'],
    components: ['main'],
    architectures: ['amd64'],
  };
  await expectError(
    t,
    findDebugPackage('5.4.0-1-generic', [noSuite], findOptions),
    'NOT_FOUND',
    /old buster\/main\/binary-amd64 \(no Packages\.xz or Packages\.gz\)/,
  );
});

t.test('checksums: a tampered primary.xml, a tampered package', async (t) => {
  const broken: DebugRepository = { name: 'broken', kind: 'rpm', baseUrl: url(MIRROR_LAYOUT.rpm.broken) };
  const rpm = fixtures.packages.find((p) => /\.el8\./.test(p.release))!;
  await expectError(
    t,
    findDebugPackage(rpm.release, [broken], findOptions),
    'CHECKSUM',
    /primary\.xml\.gz: SHA256 [0-9a-f]{64} does not match repomd\.xml's/,
  );

  const tampered: DebugRepository = {
    name: 'tampered',
    kind: 'deb',
    baseUrl: url(MIRROR_LAYOUT.tampered.base),
    suites: [MIRROR_LAYOUT.tampered.suite],
    components: ['main'],
    architectures: ['amd64'],
  };
  const deb = fixtures.packages.find((p) => p.kind === 'deb')!;
  const gate = new GenerationGate({ retryAfterMs: 60_000 });
  const tmp = await mkdtemp(join(scratch, 'tmp-'));
  await expectError(
    t,
    generateFromRepositories(deb.release, { config: parseGenerateConfig({ repositories: [tampered] }), gate, tmpDir: tmp }),
    'CHECKSUM',
    new RegExp(`${deb.file.replace(/[.+]/g, '\\$&')}: SHA256 [0-9a-f]{64} does not match the index's`),
  );
  t.same(await readdir(tmp), [], 'the download is deleted');
});

t.test('downloadVerified', async (t) => {
  const pkg = fixtures.packages[0]!;
  const bytes = await readFile(fixtures.path(pkg));
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const pkgUrl = url(`debian/pool/main/l/linux/${pkg.file}`);
  const ok = await downloadVerified(pkgUrl, join(scratch, 'ok.deb'), {
    sha256,
    maxBytes: 1 << 30,
    timeoutMs: 10_000,
    expectedBytes: bytes.length,
  });
  t.same(ok, { path: join(scratch, 'ok.deb'), bytes: bytes.length, sha256 });
  t.same(await readFile(ok.path), bytes);

  const dest = join(scratch, 'bounded.deb');
  await expectError(
    t,
    downloadVerified(pkgUrl, dest, { sha256, maxBytes: 100, timeoutMs: 10_000 }),
    'LIMIT',
    /bytes is more than the bound of 100 bytes/,
  );
  await expectError(
    t,
    downloadVerified(pkgUrl, dest, { sha256, maxBytes: 1 << 30, timeoutMs: 10_000, expectedBytes: bytes.length - 1 }),
    'CHECKSUM',
    /more than the \d+ bytes the index gives/,
  );
  await expectError(
    t,
    downloadVerified(pkgUrl, dest, { sha256: 'a'.repeat(64), maxBytes: 1 << 30, timeoutMs: 10_000 }),
    'CHECKSUM',
    /does not match the index's a{64}/,
  );
  await expectError(
    t,
    downloadVerified(url('debian/none.deb'), dest, { sha256, maxBytes: 1 << 30, timeoutMs: 10_000 }),
    'DOWNLOAD',
    /404 Not Found/,
  );
  await expectError(
    t,
    downloadVerified(pkgUrl, dest, { sha256: 'xyz', maxBytes: 1 << 30, timeoutMs: 10_000 }),
    'INDEX',
    /not 64 hex digits/,
  );
  t.same(
    (await readdir(scratch)).filter((n) => n === 'bounded.deb'),
    [],
    'nothing is left after a failed download',
  );

  // A server that never answers: the time bound ends the wait.
  const { createServer } = await import('node:http');
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  await expectError(
    t,
    fetchIndex(`http://127.0.0.1:${port}/Packages.xz`, { maxBytes: 1000, timeoutMs: 200 }),
    'TIMEOUT',
    /no complete answer within 200 ms/,
  );
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
  // Nothing listening: a connection error, named.
  await expectError(t, fetchIndex(`http://127.0.0.1:${port}/Packages.xz`, { maxBytes: 1000, timeoutMs: 2000 }), 'DOWNLOAD', /ECONNREFUSED/);
  // A status other than 200 or 404.
  const failing = createServer((_, res) => res.writeHead(503, 'Service Unavailable').end());
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  await expectError(
    t,
    fetchIndex(`http://127.0.0.1:${(failing.address() as { port: number }).port}/x`, { maxBytes: 1000, timeoutMs: 2000 }),
    'DOWNLOAD',
    /503 Service Unavailable/,
  );
  await new Promise((resolve) => failing.close(resolve));
});

t.test('generateFromRepositories: one generation per kernel, with provenance', async (t) => {
  const pkg = fixtures.packages.find((p) => p.file.endsWith('.ddeb'))!;
  const path = `/${MIRROR_LAYOUT.ubuntu.base}/pool/main/l/linux/${pkg.file}`;
  const before = mirror.requests.get(path) ?? 0;
  const gate = new GenerationGate({ retryAfterMs: 60_000 });
  const tmp = await mkdtemp(join(scratch, 'tmp-'));
  const [a, b] = await Promise.all([
    generateFromRepositories(pkg.release, { config: config(), gate, tmpDir: tmp }),
    generateFromRepositories(pkg.release, { config: config(), gate, tmpDir: tmp }),
  ]);
  t.equal(a, b, 'the second request joined the first');
  t.equal(mirror.requests.get(path)! - before, 1, 'the package was downloaded once');
  t.same(gate.running, [], 'nothing left in flight');
  t.equal(a.release, pkg.release);
  t.equal(a.debugPackage.repository, 'ubuntu-ddebs');
  t.equal(a.source.url, `${mirror.baseUrl}${path}`);
  t.equal(a.source.sha256, a.debugPackage.sha256, 'the verified checksum is the provenance');
  t.same(a.source.package, { name: pkg.name, version: pkg.version, arch: pkg.arch });
  t.same(
    Buffer.from(a.btf),
    Buffer.from((await generateFromRepositories(pkg.release, { config: config(), gate, tmpDir: tmp })).btf),
    'a later request generates again, the same bytes',
  );
  t.same(await readdir(tmp), [], 'downloads and work directories are removed');
  await expectError(t, generateFromRepositories('../x', { config: config(), gate }), 'BAD_RELEASE', /kernel release '\.\.\/x'/);
});

t.test('the negative cache answers a recent failure, then retries', async (t) => {
  let now = new Date('2024-03-01T00:00:00Z');
  const failures = new MemoryFailureCache();
  const gate = new GenerationGate({ failures, retryAfterMs: 60_000, now: () => now });
  const missing = '5.4.0-1-generic';
  const opts = { config: config(), gate };
  const countIndexRequests = () => [...mirror.requests.values()].reduce((a, b) => a + b, 0);

  await expectError(t, generateFromRepositories(missing, opts), 'NOT_FOUND', /no debug package for kernel 5\.4\.0-1-generic/);
  t.same(
    await failures.get(missing),
    { code: 'NOT_FOUND', reason: (await failures.get(missing))!.reason, at: '2024-03-01T00:00:00.000Z' },
    'recorded',
  );
  const asked = countIndexRequests();
  now = new Date('2024-03-01T00:00:30Z');
  await expectError(
    t,
    generateFromRepositories(missing, opts),
    'RECENTLY_FAILED',
    /kernel 5\.4\.0-1-generic failed at 2024-03-01T00:00:00\.000Z \(NOT_FOUND: no debug package.*\); not retried before 2024-03-01T00:01:00\.000Z/,
  );
  t.equal(countIndexRequests(), asked, 'no repository was asked');
  now = new Date('2024-03-01T00:01:01Z');
  await expectError(t, generateFromRepositories(missing, opts), 'NOT_FOUND', /no debug package/);
  t.ok(countIndexRequests() > asked, 'after the retry time the repositories are asked again');
  t.equal((await failures.get(missing))!.at, '2024-03-01T00:01:01.000Z', 'the record is renewed');

  // A success clears a record whose time has passed.
  const pkg = fixtures.packages.find((p) => p.kind === 'rpm')!;
  await failures.put(pkg.release, { code: 'DOWNLOAD', reason: 'earlier outage', at: '2024-02-01T00:00:00.000Z' });
  const ok = await generateFromRepositories(pkg.release, opts);
  t.equal(ok.release, pkg.release);
  t.equal(await failures.get(pkg.release), undefined, 'cleared after a success');

  // Errors that are not the kernel's (bugs) are not recorded.
  const bug = await gate
    .run('bug-kernel', async () => {
      throw new TypeError('a bug');
    })
    .catch((e: unknown) => e);
  t.type(bug, TypeError);
  t.equal(await failures.get('bug-kernel'), undefined);
});

t.test('an index that is not what it claims', async (t) => {
  const dir = join(root, 'junk', 'dists', 'x', 'main', 'binary-amd64');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Packages.xz'), 'this is not xz');
  const junk: DebugRepository = {
    name: 'junk',
    kind: 'deb',
    baseUrl: url('junk'),
    suites: ['x'],
    components: ['main'],
    architectures: ['amd64'],
  };
  await expectError(
    t,
    findDebugPackage('1.2.3', [junk], findOptions),
    'CORRUPT',
    /junk \(failed: .*Packages\.xz: not xz data \(no known compression magic\)/,
  );
  const repodata = join(root, 'junkrpm', 'repodata');
  await mkdir(repodata, { recursive: true });
  await writeFile(join(repodata, 'repomd.xml'), '<repomd><data type="filelists"></data></repomd>');
  await expectError(
    t,
    findDebugPackage('1.2.3', [{ name: 'junkrpm', kind: 'rpm', baseUrl: url('junkrpm') }], findOptions),
    'INDEX',
    /no <data type="primary"> entry/,
  );
  await expectError(t, findDebugPackage('1.2.3', repositories, { ...findOptions, maxIndexBytes: 10 }), 'LIMIT', /bound of 10 bytes/);
});
