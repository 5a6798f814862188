/**
 * Issue 10 in scale-out (BullMQ on the machine's Redis, PostgreSQL in a schema of its own, S3
 * on an s3rver started here: test/e2e/deployment.ts's services; API and a job consumer in
 * this process over them): a kernel replaced while trims for it are queued and running.
 * Every answer is the trim of the old or the new content, and every POST that starts after
 * the replacement returned answers the new content's trim, round after round (the issue saw
 * the old one in 10 of 10).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/api/app.js';
import { Btf } from '../../src/btf/index.js';
import { loadConfig } from '../../src/config/schema.js';
import { HISTORY_VARIANTS, KernelEditor } from '../../src/coverage/variants.js';
import { createBackends } from '../../src/service/backends.js';
import { btfForm, multipart } from '../api/helpers.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { startScaleOutServices } from './deployment.js';

const ADMIN = 'race-admin-token-0123456789abcdef';
const fixtures = await loadFixtures();
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const logger = pino({ level: 'silent' });

const services = await startScaleOutServices('race');
t.teardown(() => services.close((error) => t.comment(`teardown: ${String(error)}`)));
const dataDir = await mkdtemp(join(tmpdir(), 'btfhub-race-'));
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

const config = loadConfig({
  ...services.env,
  BTFHUB_DATA_DIR: dataDir,
  BTFHUB_REGISTER_HOST_KERNEL: 'false',
  BTFHUB_ADMIN_TOKEN: ADMIN,
});
const backends = createBackends(config, { logger, pollIntervalMs: 50 });
const { store, catalog } = await backends.prepare({ serving: true });
const queue = await backends.jobs();
const worker = await backends.jobWorker();
await worker.ready;
const app = await buildApp({
  config: { requestWaitMs: 30_000, maxFileBytes: 64 * 1024 * 1024, maxFiles: 16, adminToken: ADMIN },
  store,
  catalog,
  queue,
  codec: backends.codec,
  logger,
});
t.teardown(async () => {
  await app.close();
  await backends.close();
});

const kernel = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-400-generic' };
const fields = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: kernel.kernel };
const editor = new KernelEditor(Btf.parse(fixtures.vmlinux));
// Two contents whose trims of tools_like differ (task_struct.__state vs .state).
const contents = [fixtures.vmlinux, editor.variant(HISTORY_VARIANTS.oldState.edits)];

function upload(bytes: Uint8Array) {
  const body = multipart([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    { name: 'btf', filename: 'vmlinux', data: bytes },
  ]);
  return app.inject({
    method: 'POST',
    url: '/api/v1/kernels',
    payload: body.payload,
    headers: { ...body.headers, authorization: `Bearer ${ADMIN}` },
  });
}

/** A tools_like object with a random trailer: a new object (and job) every time, the same trim. */
function freshObject(): { name: string; bytes: Uint8Array } {
  const base = fixtures.objects.get('tools_like')!.bytes;
  const bytes = new Uint8Array(base.length + 16);
  bytes.set(base);
  bytes.set(randomBytes(16), base.length);
  return { name: 'tools_like.o', bytes };
}

const trim = (object: { name: string; bytes: Uint8Array }) =>
  app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object], fields) });

t.test("replacement racing trims: never the old content's trim after the switch", async (t) => {
  t.equal((await upload(contents[0]!)).statusCode, 201);
  t.ok(await catalog.getKernel(kernel), 'registered');
  const probe = freshObject();
  const trims = [];
  for (const content of contents) {
    await upload(content);
    const res = await trim(probe);
    t.equal(res.statusCode, 200);
    trims.push(sha256(res.rawPayload));
  }
  t.not(trims[0], trims[1], 'the two contents trim differently');

  const ROUNDS = 6;
  for (let round = 0; round < ROUNDS; round++) {
    // The setup left contents[1] registered: round 0 switches to contents[0], and so on.
    const to = contents[round % 2]!;
    const want = trims[round % 2];
    // Jobs in flight for the old content (one object shared, so later POSTs could join them).
    const shared = freshObject();
    const racing = Array.from({ length: 4 }, () => trim(shared));
    const replaced = await upload(to);
    t.match(replaced.json(), { outcome: 'updated', sha256: sha256(to) }, `round ${round}: replaced`);
    const after = await Promise.all([trim(shared), trim(freshObject())]);
    for (const res of after) {
      t.equal(res.statusCode, 200);
      t.equal(sha256(res.rawPayload), want, `round ${round}: a POST after the replacement answers the new content`);
    }
    for (const res of await Promise.all(racing)) {
      t.equal(res.statusCode, 200);
      t.ok(trims.includes(sha256(res.rawPayload)), 'a racing POST answers the old or the new content, whole');
    }
  }
});
