/**
 * Scale-out, end to end over real ports and processes: `btfhub serve` (API only: BullMQ on
 * the machine's Redis, PostgreSQL catalog in a schema of its own, S3 on an s3rver started
 * here) and two worker processes. The kernel BTF sits in S3 in BTFHub layout
 * (`.btf.tar.xz`) and is registered with the kernel registry; the agents are `fetch` calls.
 *
 *   - a real CO-RE object POSTed comes back equal to bpftool's output; so does
 *     /api/v1/customize (un-xz, untar, compare);
 *   - 50 concurrent identical POSTs run exactly one trim and all get the same bytes;
 *   - a worker SIGKILLed mid-job: the other worker finishes it and the waiting client still
 *     gets its BTF.
 *
 * The deployment is test/e2e/deployment.ts's scale-out: the API is `src/cli/main.ts serve`
 * and the workers `test/jobs/fixtures/worker-entry.ts` (the real `btfhub worker` wiring plus
 * the test-only job delay and short BullMQ locks), both run through our TypeScript loader:
 * nothing to compile first. Teardown stops the processes and removes the schema, the Redis
 * keys and the temp directories.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { readTarEntries } from '../../src/archive/tar.js';
import { decompressXz } from '../../src/archive/xz.js';
import { openCatalog } from '../../src/catalog/index.js';
import { LIMIT_DEFAULTS } from '../../src/config/schema.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { btfFormData, startDeployment } from './deployment.js';

const WORKER_ENTRY = fileURLToPath(new URL('../jobs/fixtures/worker-entry.ts', import.meta.url));
/** Each job sleeps this long first, so a worker can be killed in the middle of one. */
const JOB_DELAY_MS = 1500;
const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const FIELDS = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' };
const COMPAT_QUERY = 'distribution=ubuntu&distribution_version=jammy&kernel_version=5.15.0-91-generic&arch=amd64';

const started = performance.now();
const fixtures = await loadFixtures();
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
function object(name: string): Uint8Array {
  const found = fixtures.objects.get(name);
  if (found === undefined) throw new Error(`fixture ${name} missing`);
  return found.bytes;
}
function oracle(name: string): Buffer {
  const found = fixtures.oracle.single.get(name);
  if (found === undefined) throw new Error(`no bpftool output for ${name}`);
  return Buffer.from(found);
}

// The kernel in S3 in BTFHub layout, registered; then the API and two workers.
const deployment = await startDeployment({
  mode: 'scale-out',
  label: 'e2e',
  kernel: { ref: KERNEL, btf: fixtures.vmlinux, format: 'btf.tar.xz' },
  workers: 2,
  workerEntry: WORKER_ENTRY,
  // The rate limit as configured by default, not switched off: 50 concurrent POSTs must pass it.
  env: { BTFHUB_RATE_LIMIT_MAX: String(LIMIT_DEFAULTS.rateLimit.max) },
  apiEnv: { BTFHUB_REQUEST_WAIT_MS: '60000' },
  workerEnv: { BTFHUB_TEST_JOB_DELAY_MS: String(JOB_DELAY_MS), BTFHUB_WORKER_CONCURRENCY: '2' },
});
t.comment(`processes up after ${Math.round(performance.now() - started)} ms`);
const { base: BASE, api, workers } = deployment;
// For the trim count: a catalog of this process on the deployment's schema, closed before it is dropped.
const catalog = await openCatalog({ kind: 'postgres', ...deployment.database! }).catch(async (error: unknown) => {
  await deployment.close();
  throw error;
});
t.teardown(async () => {
  await catalog.close().catch((error: unknown) => t.comment(`teardown: ${String(error)}`));
  await deployment.close((error) => t.comment(`teardown: ${String(error)}`));
});

/** Log lines "test: job started" for an objects hash, across both workers. */
const jobStarts = (hash: string) =>
  workers.flatMap((w) => w.lines.filter((l) => l.msg === 'test: job started' && l.objectsHash === hash).map(() => w.name));

async function postBtf(name: string): Promise<Response> {
  return fetch(`${BASE}/api/v1/btf`, { method: 'POST', body: btfFormData([{ name, bytes: object(name) }], FIELDS) });
}

t.test('the API is ready: catalog, queue and store answer', async (t) => {
  const res = await fetch(`${BASE}/readyz`);
  t.equal(res.status, 200, await res.clone().text());
  t.same(await res.json(), { status: 'ok', checks: { catalog: { ok: true }, queue: { ok: true }, store: { ok: true } } });
  const kernels = (await (await fetch(`${BASE}/api/v1/kernels`)).json()) as { total: number; items: { format: string }[] };
  t.equal(kernels.total, 1);
  t.equal(kernels.items[0]?.format, 'btf.tar.xz');
});

t.test('a CO-RE object POSTed comes back equal to bpftool, trimmed by a worker', async (t) => {
  const res = await postBtf('tools_like');
  const body = Buffer.from(await res.arrayBuffer());
  t.equal(res.status, 200, res.status === 200 ? 'status' : body.toString('utf8', 0, 300));
  t.equal(res.headers.get('content-type'), 'application/octet-stream');
  t.same(body, oracle('tools_like'), 'equals bpftool gen min_core_btf');
  t.equal(res.headers.get('etag'), `"${sha256(body)}"`);
  t.equal(res.headers.get('x-btfhub-kernel'), 'ubuntu/22.04/x86_64/5.15.0-91-generic');
  t.equal(res.headers.get('x-btfhub-cache'), 'miss');
  const hash = String(res.headers.get('x-btfhub-objects-hash'));
  t.equal(jobStarts(hash).length, 1, 'one worker ran it');

  const again = await postBtf('tools_like');
  t.equal(again.headers.get('x-btfhub-cache'), 'hit', 'the repeat is a cache hit');
  t.same(Buffer.from(await again.arrayBuffer()), body);
  const get = await fetch(`${BASE}/api/v1/btf/${hash}/ubuntu/22.04/x86_64/5.15.0-91-generic`, {
    headers: { 'if-none-match': `"${sha256(body)}"` },
  });
  t.equal(get.status, 304);
});

t.test('the same through /api/v1/customize: a .tar.xz holding <kernel>.btf', async (t) => {
  const form = new FormData();
  form.append('bpf', new Blob([object('shared_b')]), 'shared_b.bpf.o');
  const res = await fetch(`${BASE}/api/v1/customize?${COMPAT_QUERY}`, { method: 'POST', body: form });
  const body = new Uint8Array(await res.arrayBuffer());
  t.equal(res.status, 200, res.status === 200 ? 'status' : Buffer.from(body).toString('utf8', 0, 300));
  const tar = await decompressXz(body, { maxOutputBytes: 16 * 1024 * 1024 });
  const entries = [...readTarEntries(tar)];
  t.same(
    entries.map((e) => e.name),
    ['5.15.0-91-generic.btf'],
  );
  t.same(Buffer.from(entries[0]!.data), oracle('shared_b'), 'the trimmed BTF in the archive equals bpftool');
});

t.test('50 concurrent identical POSTs: one trim, 50 identical answers', async (t) => {
  const trimsBefore = await catalog.countTrims();
  const answers = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const res = await postBtf('type_matches');
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()), hash: res.headers.get('x-btfhub-objects-hash') };
    }),
  );
  t.same(
    answers.map((a) => a.status),
    Array.from({ length: 50 }, () => 200),
    'all 200',
  );
  const want = oracle('type_matches');
  t.ok(
    answers.every((a) => a.body.equals(want)),
    'all 50 equal bpftool',
  );
  t.equal(await catalog.countTrims(), trimsBefore + 1, 'the catalog records one trim');
  t.equal(jobStarts(String(answers[0]?.hash)).length, 1, 'and one job ran, on one worker');
  const metrics = await (await fetch(`${BASE}/metrics`)).text();
  t.match(metrics, /btfhub_http_requests_total\{method="POST",route="\/api\/v1\/btf",status="200"\} \d+/);
});

t.test('a worker killed mid-job: the other finishes it, the waiting client gets its BTF', async (t) => {
  const pending = postBtf('enum64');
  const hash = sha256(sha256(object('enum64')));
  // The job starts on one of the workers; kill that one while it sleeps in the job.
  const startedOn = await Promise.any(
    workers.map((w) => w.waitForLog((l) => l.msg === 'test: job started' && l.objectsHash === hash, 30_000).then(() => w)),
  );
  const killedAt = performance.now();
  startedOn.child.kill('SIGKILL');
  const survivor = workers.find((w) => w !== startedOn)!;

  const res = await pending;
  const body = Buffer.from(await res.arrayBuffer());
  t.equal(res.status, 200, res.status === 200 ? 'status' : body.toString('utf8', 0, 300));
  t.same(body, oracle('enum64'), 'the BTF equals bpftool');
  t.same(jobStarts(hash).sort(), [startedOn.name, survivor.name].sort(), 'started on the killed worker, finished on the other');
  t.equal(startedOn.child.signalCode, 'SIGKILL');
  t.comment(`recovered ${Math.round(performance.now() - killedAt)} ms after the kill`);
});

t.test('SIGTERM stops the API gracefully', async (t) => {
  const exited = new Promise<number | null>((resolve) => api.child.once('exit', (code) => resolve(code)));
  api.child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit status 0');
  t.ok(api.lines.some((l) => l.msg === 'btfhub serve stopped'));
  t.comment(`e2e total ${Math.round(performance.now() - started)} ms`);
});
