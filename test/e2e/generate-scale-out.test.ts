/**
 * Kernel generation in the scale-out layout: the API (BullMQ producer only) and a worker
 * (BullMQ consumer of every lane) as two sets of backends over the machine's Redis, a
 * PostgreSQL schema of their own (migration 003 on PostgreSQL) and an s3rver bucket. The
 * uploaded package travels through S3 (`packages/<sha256>.pkg`, streamed both ways), the
 * worker generates and registers the kernel, the package is removed, and the API serves a
 * trim that equals bpftool's. One case: it is the slow one.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config/schema.js';
import { detectPaholeVersion, paholeFlags } from '../../src/generate/pahole.js';
import { createBackends } from '../../src/service/backends.js';
import { keysUnder, multipart, why } from '../api/helpers.js';
import { generateFixtures } from '../fixtures/generate/build-packages.js';
import { runBpftoolMinCore, runToolOrThrow } from '../fixtures/tools.js';
import { startScaleOutServices } from './deployment.js';

const TOKEN = 'scale-out-generate-admin-token-0123456789';
const fixtures = await generateFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-generate-e2e-'));
const cleanups: (() => Promise<unknown>)[] = [() => rm(scratch, { recursive: true, force: true })];
t.teardown(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => t.comment(`teardown: ${String(error)}`));
});

const referencePath = join(scratch, 'reference.btf');
await runToolOrThrow('pahole', [...paholeFlags(await detectPaholeVersion()), `--btf_encode_detached=${referencePath}`, fixtures.vmlinux]);
const expected = await runBpftoolMinCore(referencePath, [fixtures.coreObject]);
if (!expected.ok) throw new Error(`bpftool min_core_btf failed: ${expected.stderr}`);

const services = await startScaleOutServices('gen-e2e');
cleanups.push(() => services.close((error) => t.comment(`teardown: ${String(error)}`)));

const env = {
  ...services.env,
  BTFHUB_DATA_DIR: scratch,
  BTFHUB_REGISTER_HOST_KERNEL: 'false',
  BTFHUB_ADMIN_TOKEN: TOKEN,
  BTFHUB_REQUEST_WAIT_MS: '0',
};
const config = loadConfig(env);
const logger = pino({ level: 'silent' });

// The API's backends: a BullMQ producer, no processors.
const api = createBackends(config, { logger, pollIntervalMs: 50 });
cleanups.push(() => api.close());
const { store, catalog } = await api.prepare();
const app = await buildApp({
  config: { ...config, rateLimit: { max: 0, windowMs: 60_000 } },
  store,
  catalog,
  queue: await api.jobs(),
  codec: api.codec,
  docs: false,
});
cleanups.push(() => app.close());

// The worker's: its own store, catalog and BullMQ consumer.
const worker = createBackends(config, { logger });
cleanups.push(() => worker.close());
await worker.prepare();
const consumer = await worker.jobWorker();
await consumer.ready;

t.test('an uploaded .rpm (zstd) goes through S3 to a worker, which generates and registers the kernel', async (t) => {
  const rpm = fixtures.packages.find((p) => p.kind === 'rpm' && p.compression === 'zstd')!;
  const identity = { distro: 'fedora', distro_version: '39', arch: 'x86_64', kernel_version: rpm.release };
  const bytes = await readFile(fixtures.path(rpm));
  const form = multipart([
    ...Object.entries(identity).map(([name, data]) => ({ name, data })),
    { name: 'package', filename: rpm.file, data: bytes },
  ]);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/kernels/generate',
    payload: form.payload,
    headers: { ...form.headers, authorization: `Bearer ${TOKEN}` },
  });
  t.equal(res.statusCode, 202, why(res));
  const location = res.headers.location as string;

  let job: { state: string; error?: unknown; result?: { generated: boolean } } = { state: 'waiting' };
  for (const deadline = Date.now() + 120_000; job.state !== 'completed' && job.state !== 'failed' && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    job = (await app.inject(location)).json();
  }
  t.equal(job.state, 'completed', JSON.stringify(job.error));
  t.equal(job.result?.generated, true);
  t.same(await keysUnder(store, 'packages/'), [], 'the package is removed from S3 after the job');

  const kernel = await app.inject(`/api/v1/kernels/fedora/39/x86_64/${rpm.release}`);
  const info = kernel.json<{ source: string; provenance: { package: { sha256: string; name: string } } }>();
  t.equal(info.source, 'generated', 'registered in PostgreSQL with its provenance');
  t.equal(info.provenance.package.sha256, createHash('sha256').update(bytes).digest('hex'));
  t.equal(info.provenance.package.name, rpm.name);

  const trim = multipart([
    ...Object.entries(identity).map(([name, data]) => ({ name, data })),
    { name: 'object', filename: 'core-task.bpf.o', data: await readFile(fixtures.coreObject) },
  ]);
  let answer = await app.inject({ method: 'POST', url: '/api/v1/btf', payload: trim.payload, headers: trim.headers });
  if (answer.statusCode === 202) {
    const trimJob = answer.headers.location as string;
    let state = 'waiting';
    let url: string | undefined;
    for (const deadline = Date.now() + 60_000; state !== 'completed' && state !== 'failed' && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const body = (await app.inject(trimJob)).json<{ state: string; result?: { url: string } }>();
      state = body.state;
      url = body.result?.url;
    }
    t.equal(state, 'completed');
    answer = await app.inject(url!);
  }
  t.equal(answer.statusCode, 200, why(answer));
  t.same(answer.rawPayload, Buffer.from(expected.btf), "the trim on the generated kernel == bpftool on pahole's BTF");
});
