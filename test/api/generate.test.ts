/**
 * Kernel generation through the service, in-process (createBackends as `btfhub serve` makes
 * them, no network: the packages are the test/fixtures/generate ones, the repositories a
 * local mirror). POST /api/v1/kernels/generate with a .deb (zstd) and an .rpm (xz) -> a
 * generate job -> the kernel registered with its provenance -> a CO-RE object trims to what
 * bpftool gives on pahole's BTF, through /api/v1/btf and /api/v1/customize. Bad inputs end
 * in a failed job naming the cause, a `.failed` marker with the reason, nothing registered.
 * The identity alone generates from the repositories; BTFHUB_GENERATE=on-miss turns an
 * unknown kernel on POST /api/v1/btf into generate-then-trim, with a negative cache.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/api/app.js';
import { readTarEntries } from '../../src/archive/tar.js';
import { decompressXz } from '../../src/archive/xz.js';
import { loadConfig } from '../../src/config/schema.js';
import { detectPaholeVersion, paholeFlags } from '../../src/generate/pahole.js';
import { createGenerateProcessor } from '../../src/jobs/generate.js';
import type { JobProcessor } from '../../src/queue/job.js';
import type { GenerateJobData, GenerateJobResult } from '../../src/queue/kinds.js';
import { createBackends } from '../../src/service/backends.js';
import { generateFixtures, type FixturePackage } from '../fixtures/generate/build-packages.js';
import { buildMirror, MIRROR_LAYOUT, serveDirectory } from '../fixtures/generate/mirror.js';
import { runBpftoolMinCore, runToolOrThrow } from '../fixtures/tools.js';
import { keysUnder, multipart, why } from './helpers.js';

const TOKEN = 'generate-test-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

const fixtures = await generateFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-generate-api-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

// pahole's BTF of the bare vmlinux, and bpftool's trim of it for the CO-RE object: the answers.
const flags = paholeFlags(await detectPaholeVersion());
const referencePath = join(scratch, 'reference.btf');
await runToolOrThrow('pahole', [...flags, `--btf_encode_detached=${referencePath}`, fixtures.vmlinux]);
const expected = await runBpftoolMinCore(referencePath, [fixtures.coreObject]);
if (!expected.ok) throw new Error(`bpftool min_core_btf failed: ${expected.stderr}`);
const coreObject = await readFile(fixtures.coreObject);

const mirrorRoot = join(scratch, 'mirror');
await buildMirror(mirrorRoot, fixtures);
const mirror = await serveDirectory(mirrorRoot);
t.teardown(() => mirror.close());

const repositories = {
  debian: [
    { name: 'bookworm', kind: 'deb', baseUrl: `${mirror.baseUrl}/${MIRROR_LAYOUT.debian.base}`, suites: [MIRROR_LAYOUT.debian.suite] },
  ],
  centos: [{ name: 'el8', kind: 'rpm', baseUrl: `${mirror.baseUrl}/${MIRROR_LAYOUT.rpm.el8}` }],
  // A suite whose index gives the wrong SHA256.
  fedora: [
    { name: 'tampered', kind: 'deb', baseUrl: `${mirror.baseUrl}/${MIRROR_LAYOUT.tampered.base}`, suites: [MIRROR_LAYOUT.tampered.suite] },
  ],
};

const dataDir = await mkdtemp(join(scratch, 'data-'));
const config = loadConfig({
  BTFHUB_DATA_DIR: dataDir,
  BTFHUB_REGISTER_HOST_KERNEL: 'false',
  BTFHUB_ADMIN_TOKEN: TOKEN,
  BTFHUB_GENERATE: 'on-miss',
  BTFHUB_GENERATE_REPOSITORIES: JSON.stringify(repositories),
  BTFHUB_GENERATE_RETRY_MS: String(3_600_000),
  // Every trim route answers at once: the jobs are followed, as a client would.
  BTFHUB_REQUEST_WAIT_MS: '0',
});

/** The generate processor the queue runs: the real one, or one over a stand-in pahole for a test. */
let generate: JobProcessor<GenerateJobData, GenerateJobResult> | undefined;
const backends = createBackends(config, {
  logger: pino({ level: 'silent' }),
  processors: (p) => ({ ...p, generate: (data, context) => (generate ?? p.generate)(data, context) }),
});
const { store, catalog } = await backends.prepare();
const queue = await backends.jobs();
const trimProcessor = (await backends.processors()).trim;
const app = await buildApp({
  config: { ...config, rateLimit: { max: 0, windowMs: 60_000 } },
  store,
  catalog,
  queue,
  codec: backends.codec,
});
t.teardown(async () => {
  await app.close();
  await backends.close();
});

const pkgOf = (pred: (p: FixturePackage) => boolean) => fixtures.packages.find(pred)!;
const debZstd = pkgOf((p) => p.kind === 'deb' && p.compression === 'zstd' && p.file.endsWith('.deb'));
const rpmXz = pkgOf((p) => p.kind === 'rpm' && p.compression === 'xz' && p.name === 'kernel-debuginfo');

interface Identity {
  distro: string;
  distro_version: string;
  arch: string;
  kernel_version: string;
}

function generateForm(identity: Identity, pkg?: { name: string; bytes: Uint8Array }) {
  return multipart([
    ...Object.entries(identity).map(([name, data]: [string, string]) => ({ name, data })),
    ...(pkg === undefined ? [] : [{ name: 'package', filename: pkg.name, data: pkg.bytes }]),
  ]);
}

async function postGenerate(
  identity: Identity,
  pkg?: { name: string; bytes: Uint8Array },
  headers: Record<string, string> = AUTH,
): Promise<LightMyRequestResponse> {
  const form = generateForm(identity, pkg);
  return app.inject({ method: 'POST', url: '/api/v1/kernels/generate', payload: form.payload, headers: { ...form.headers, ...headers } });
}

interface JobBody {
  job_id: string;
  kind?: string;
  state: string;
  error?: { message: string; client_error: boolean };
  result?: Record<string, unknown> & { url?: string; sha256?: string; provenance?: { package: Record<string, unknown> } | null };
}

/** Follows a job to its end, as a client would. */
async function followJob(t: Test, location: string, timeoutMs = 120_000): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: location });
    t.equal(res.statusCode, 200, `GET ${location}: ${why(res)}`);
    const body = res.json<JobBody>();
    if (body.state === 'completed' || body.state === 'failed') return body;
    if (Date.now() > deadline) throw new Error(`job ${location} still ${body.state}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function generateFrom(t: Test, identity: Identity, pkg?: { name: string; bytes: Uint8Array }): Promise<JobBody> {
  const res = await postGenerate(identity, pkg);
  t.equal(res.statusCode, 202, why(res));
  const location = res.headers.location as string;
  t.match(location, /^\/api\/v1\/jobs\/generate-[0-9a-f]{64}$/, 'Location names the generate job');
  t.equal(res.json<{ job_id: string }>().job_id, location.split('/').pop());
  return followJob(t, location);
}

const kernelUrl = (i: Identity) => `/api/v1/kernels/${i.distro}/${i.distro_version}/${i.arch}/${i.kernel_version}`;

async function trimFor(identity: Identity): Promise<LightMyRequestResponse> {
  const form = multipart([
    ...Object.entries(identity).map(([name, data]: [string, string]) => ({ name, data })),
    { name: 'object', filename: 'core-task.bpf.o', data: coreObject },
  ]);
  return app.inject({ method: 'POST', url: '/api/v1/btf', payload: form.payload, headers: form.headers });
}

/** POST /api/v1/btf followed to the trimmed BTF (a 202 is followed to its result.url). */
async function trimmed(t: Test, identity: Identity): Promise<Buffer> {
  const res = await trimFor(identity);
  if (res.statusCode === 200) return res.rawPayload;
  t.equal(res.statusCode, 202, why(res));
  const job = await followJob(t, res.headers.location as string);
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  const got = await app.inject({ method: 'GET', url: job.result!.url! });
  t.equal(got.statusCode, 200, why(got));
  return got.rawPayload;
}

async function expectNothingRegistered(t: Test, identity: Identity): Promise<void> {
  const res = await app.inject({ method: 'GET', url: kernelUrl(identity) });
  t.equal(res.statusCode, 404, 'no kernel registered');
  t.same(
    await keysUnder(store, `${identity.distro}/${identity.distro_version}/${identity.arch}/${identity.kernel_version}.btf`),
    [],
    'no BTF stored',
  );
}

async function failedMarker(identity: Identity): Promise<{ code: string; reason: string; at: string } | null> {
  const bytes = await store.get(`${identity.distro}/${identity.distro_version}/${identity.arch}/${identity.kernel_version}.failed`);
  return bytes === null ? null : (JSON.parse(Buffer.from(bytes).toString('utf8')) as { code: string; reason: string; at: string });
}

async function markerInCatalog(identity: Identity): Promise<boolean> {
  const page = await catalog.listKernelMarkers(
    { distro: identity.distro, distroVersion: identity.distro_version, arch: identity.arch, kernelPrefix: identity.kernel_version },
    { limit: 10, offset: 0 },
  );
  return page.items.some((m) => m.kernel === identity.kernel_version && m.marker === 'failed');
}

/** A failed generation: the job's error names the cause, a marker holds it, nothing is registered. */
async function expectFailure(
  t: Test,
  job: JobBody,
  identity: Identity,
  code: string,
  message: RegExp,
  clientError: boolean,
): Promise<void> {
  t.equal(job.state, 'failed');
  t.match(job.error?.message, new RegExp(`^${code}: `), `the error starts with ${code}`);
  t.match(job.error?.message, message);
  t.equal(job.error?.client_error, clientError, clientError ? 'the package is at fault' : "not the client's fault");
  const marker = await failedMarker(identity);
  t.equal(marker?.code, job.error?.message.split(':')[0], 'the .failed marker holds the code');
  t.match(marker?.code, new RegExp(`^${code}$`));
  t.equal(marker?.reason, job.error?.message.slice(`${marker?.code}: `.length), 'and the reason');
  t.ok(await markerInCatalog(identity), 'the marker is recorded in the catalog');
  await expectNothingRegistered(t, identity);
}

t.test('the admin token is required', async (t) => {
  const identity = { distro: 'debian', distro_version: '12', arch: 'x86_64', kernel_version: debZstd.release };
  const none = await postGenerate(identity, undefined, {});
  t.equal(none.statusCode, 401, why(none));
  t.equal(none.json<{ error: string }>().error, 'unauthorized');
  const wrong = await postGenerate(identity, undefined, { authorization: 'Bearer not-the-token-at-all-0123456789' });
  t.equal(wrong.statusCode, 401, why(wrong));
  const disabled = await buildApp({ config: { requestWaitMs: 0, maxFileBytes: 1024, maxFiles: 1 }, store, catalog, queue, docs: false });
  t.teardown(() => disabled.close());
  const form = generateForm(identity);
  const res = await disabled.inject({
    method: 'POST',
    url: '/api/v1/kernels/generate',
    payload: form.payload,
    headers: { ...form.headers, ...AUTH },
  });
  t.equal(res.statusCode, 403, 'no token configured: admin routes are off');
  t.equal(res.json<{ error: string }>().error, 'admin_disabled');
});

t.test('a .deb (zstd) upload: generated, registered with provenance, served by /btf and /customize', async (t) => {
  const identity = { distro: 'debian', distro_version: '12', arch: 'x86_64', kernel_version: debZstd.release };
  const bytes = await readFile(fixtures.path(debZstd));
  const job = await generateFrom(t, identity, { name: debZstd.file, bytes });
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  t.equal(job.kind, 'generate');
  t.equal(job.result?.generated, true);
  t.equal(job.result?.kernel_url, kernelUrl(identity));
  t.same(await keysUnder(store, 'packages/'), [], 'the uploaded package is deleted after the job');

  const kernel = await app.inject({ method: 'GET', url: kernelUrl(identity) });
  t.equal(kernel.statusCode, 200, why(kernel));
  const info = kernel.json<{
    source: string;
    format: string;
    provenance: { package: Record<string, unknown>; pahole: { version: string; flags: string[] }; generated_at: string };
  }>();
  t.equal(info.source, 'generated');
  t.equal(info.format, 'btf.tar.xz');
  t.same(info.provenance.package, {
    file: debZstd.file,
    name: debZstd.name,
    version: debZstd.version,
    sha256: (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'),
    url: null,
  });
  t.equal(info.provenance.pahole.version, '1.24');
  t.same(info.provenance.pahole.flags, flags);
  t.ok(Date.parse(info.provenance.generated_at) > Date.now() - 600_000, 'when');

  // The stored archive holds pahole's BTF.
  const full = await app.inject({ method: 'GET', url: `${kernelUrl(identity)}/btf` });
  t.same(full.rawPayload, await readFile(referencePath), "the registered BTF is pahole's, byte for byte");

  t.same(await trimmed(t, identity), Buffer.from(expected.btf), "POST /api/v1/btf == bpftool gen min_core_btf on pahole's BTF");

  const coverage = await app.inject({ method: 'GET', url: '/api/v1/coverage/debian/12/x86_64' });
  t.equal(coverage.json<{ items: { source: string }[] }>().items[0]?.source, 'generated', 'coverage marks it generated');
  const totals = (await app.inject({ method: 'GET', url: '/api/v1/coverage' })).json<{ totals: { generated: number } }>().totals;
  t.ok(totals.generated >= 1, 'and counts it apart');

  // The same package again is the same job: nothing stored, nothing run.
  const again = await postGenerate(identity, { name: debZstd.file, bytes });
  t.equal(again.statusCode, 202);
  t.equal(again.json<{ job_id: string; state: string }>().state, 'completed');
  t.same(await keysUnder(store, 'packages/'), [], 'no copy is kept for a job that will not run again');
});

t.test('an .rpm (xz) upload, then a BTFHub Online request with BTFHUB_REQUEST_WAIT_MS=0 gets its tar.xz', async (t) => {
  const identity = { distro: 'centos', distro_version: '8', arch: 'x86_64', kernel_version: rpmXz.release };
  const job = await generateFrom(t, identity, { name: rpmXz.file, bytes: await readFile(fixtures.path(rpmXz)) });
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  t.equal(job.result?.provenance?.package.name, 'kernel-debuginfo');

  const form = multipart([{ name: 'bpf', filename: 'core-task.bpf.o', data: coreObject }]);
  const query = `distribution=centos&distribution_version=8&kernel_version=${rpmXz.release}&arch=x86_64`;
  const res = await app.inject({ method: 'POST', url: `/api/v1/customize?${query}`, payload: form.payload, headers: form.headers });
  t.equal(res.statusCode, 200, `never a 202: ${why(res)}`);
  const entries = [...readTarEntries(await decompressXz(res.rawPayload, { maxOutputBytes: 16 * 1024 * 1024 }))];
  t.same(
    entries.map((e) => e.name),
    [`${rpmXz.release}.btf`],
  );
  t.same(Buffer.from(entries[0]!.data), Buffer.from(expected.btf), "the trimmed BTF inside == bpftool's");
});

t.test('bad packages: the job fails naming the cause, a .failed marker, nothing registered', async (t) => {
  const base = { distro: 'debian', distro_version: '12', arch: 'x86_64' };
  const text = { ...base, kernel_version: '6.1.0-50-amd64' };
  await expectFailure(
    t,
    await generateFrom(t, text, { name: 'notes.txt', bytes: Buffer.from('not a package\n') }),
    text,
    'NOT_A_PACKAGE',
    /not a vmlinux ELF, a \.deb\/\.ddeb or an RPM/,
    true,
  );

  const noVmlinux = { ...base, kernel_version: '6.1.0-51-amd64' };
  await expectFailure(
    t,
    await generateFrom(t, noVmlinux, { name: 'no-vmlinux.deb', bytes: await readFile(fixtures.noVmlinuxDeb) }),
    noVmlinux,
    'NO_VMLINUX',
    /no vmlinux in the package/,
    true,
  );

  const xzDeb = pkgOf((p) => p.kind === 'deb' && p.compression === 'xz');
  const whole = await readFile(fixtures.path(xzDeb));
  const truncated = { ...base, kernel_version: xzDeb.release };
  await expectFailure(
    t,
    await generateFrom(t, truncated, { name: xzDeb.file, bytes: whole.subarray(0, Math.floor(whole.length * 0.6)) }),
    truncated,
    'TRUNCATED',
    /truncated|unexpected end|premature end/i,
    true,
  );

  const mismatch = { ...base, kernel_version: '6.1.0-52-amd64' };
  await expectFailure(
    t,
    await generateFrom(t, mismatch, { name: debZstd.file, bytes: await readFile(fixtures.path(debZstd)) }),
    mismatch,
    'RELEASE_MISMATCH',
    /6\.1\.0-52-amd64/,
    true,
  );
  t.same(await keysUnder(store, 'packages/'), [], 'every upload is deleted after its job');
});

t.test('pahole failing or too slow', async (t) => {
  const fake = async (name: string, body: string) => {
    const path = join(scratch, name);
    await writeFile(path, `#!/bin/sh\nif [ "$1" = --version ]; then echo v1.24; exit 0; fi\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  t.teardown(() => {
    generate = undefined;
  });
  const settings = config.generate;
  const logger = pino({ level: 'silent' });
  generate = createGenerateProcessor({
    store,
    catalog,
    logger,
    trim: trimProcessor,
    settings,
    paholePath: await fake('pahole-fails', 'echo "pahole: vmlinux: Invalid argument" >&2\nexit 1'),
  });
  const failing = {
    distro: 'debian',
    distro_version: '12',
    arch: 'x86_64',
    kernel_version: fixtures.packages[0]!.release.replace('-99-', '-60-'),
  };
  const bare = { name: `vmlinux-${failing.kernel_version}`, bytes: await readFile(fixtures.vmlinux) };
  await expectFailure(t, await generateFrom(t, failing, bare), failing, 'PAHOLE', /pahole: vmlinux: Invalid argument/, false);

  generate = createGenerateProcessor({
    store,
    catalog,
    logger,
    trim: trimProcessor,
    settings: { ...settings, timeoutMs: 1000 },
    paholePath: await fake('pahole-slow', 'exec sleep 30'),
  });
  const slow = { ...failing, kernel_version: failing.kernel_version.replace('-60-', '-61-') };
  const started = Date.now();
  await expectFailure(
    t,
    await generateFrom(t, slow, { ...bare, name: `vmlinux-${slow.kernel_version}` }),
    slow,
    '(PAHOLE_)?TIMEOUT',
    /bound of 1000 ms/,
    false,
  );
  t.ok(Date.now() - started < 20_000, 'stopped at its bound, not when pahole would have finished');
});

t.test('identity only: from the configured repositories', async (t) => {
  const gz = pkgOf((p) => p.kind === 'deb' && p.compression === 'gzip');
  const identity = { distro: 'debian', distro_version: '12', arch: 'x86_64', kernel_version: gz.release };
  const job = await generateFrom(t, identity);
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  const info = (await app.inject({ method: 'GET', url: kernelUrl(identity) })).json<{
    provenance: { package: { url: string; name: string } };
  }>();
  t.equal(info.provenance.package.name, gz.name);
  t.equal(info.provenance.package.url, `${mirror.baseUrl}/debian/pool/main/l/linux/${gz.file}`, 'the URL it was downloaded from');

  const tampered = { distro: 'fedora', distro_version: '39', arch: 'x86_64', kernel_version: fixtures.packages[0]!.release };
  await expectFailure(t, await generateFrom(t, tampered), tampered, 'CHECKSUM', /does not match the index's/, false);

  const ubuntu = await postGenerate({ distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-999-generic' });
  t.equal(ubuntu.statusCode, 400, 'no repositories for ubuntu: the package is required');
  t.equal(ubuntu.json<{ field: string }>().field, 'package');
});

t.test('on-miss: an unknown kernel on POST /api/v1/btf is generated, then trimmed', async (t) => {
  const none = pkgOf((p) => p.kind === 'deb' && p.compression === 'none');
  const identity = { distro: 'debian', distro_version: '12', arch: 'x86_64', kernel_version: none.release };
  const res = await trimFor(identity);
  t.equal(res.statusCode, 202, `not a 404: ${why(res)}`);
  t.match(res.headers.location, /^\/api\/v1\/jobs\/generate-/, 'the generate job');
  const job = await followJob(t, res.headers.location as string);
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  const got = await app.inject({ method: 'GET', url: job.result!.url! });
  t.same(got.rawPayload, Buffer.from(expected.btf), "result.url is the trimmed BTF, == bpftool's");
  t.equal(got.headers.etag, `"${job.result!.sha256}"`, 'result.sha256 is its sha256');

  // Not in any repository: the job fails; asked again, the negative cache answers.
  const missing = { ...identity, kernel_version: '6.1.0-1-amd64' };
  const first = await followJob(t, (await trimFor(missing)).headers.location as string);
  t.match(first.error?.message, /^NOT_FOUND: /);
  const repeat = await trimFor(missing);
  const second = repeat.statusCode === 202 ? await followJob(t, repeat.headers.location as string) : undefined;
  const message = second?.error?.message ?? repeat.json<{ message: string }>().message;
  t.match(
    message,
    /RECENTLY_FAILED: kernel debian\/12\/x86_64\/6\.1\.0-1-amd64 failed at .*\(NOT_FOUND: .*\); not retried before/,
    'refused until the retry time',
  );
  t.equal((await failedMarker(missing))?.code, 'NOT_FOUND', 'the marker keeps the first cause');
});

t.test('upload bounds', async (t) => {
  const small = await buildApp({
    config: { ...config, generate: { ...config.generate, maxPackageBytes: 1000 }, rateLimit: { max: 0, windowMs: 60_000 } },
    store,
    catalog,
    queue,
    docs: false,
  });
  t.teardown(() => small.close());
  const form = generateForm(
    { distro: 'debian', distro_version: '12', arch: 'x86_64', kernel_version: '6.1.0-70-amd64' },
    { name: 'big.deb', bytes: Buffer.alloc(4096, 1) },
  );
  const res = await small.inject({
    method: 'POST',
    url: '/api/v1/kernels/generate',
    payload: form.payload,
    headers: { ...form.headers, ...AUTH },
  });
  t.equal(res.statusCode, 413, why(res));
  t.match(res.json<{ message: string }>().message, /larger than 1000 bytes \(BTFHUB_MAX_PACKAGE_BYTES\)/);
  const odd = multipart([
    { name: 'distro', data: 'debian' },
    { name: 'btf', filename: 'x', data: 'x' },
  ]);
  const unexpected = await app.inject({
    method: 'POST',
    url: '/api/v1/kernels/generate',
    payload: odd.payload,
    headers: { ...odd.headers, ...AUTH },
  });
  t.equal(unexpected.statusCode, 400, why(unexpected));
  t.equal(unexpected.json<{ field: string }>().field, 'btf', 'the unexpected part is named');
});
