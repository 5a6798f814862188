/**
 * A hostile kernel BTF (a million types whose names point into one 4 MB string: seconds of
 * decoding, within every bound) brought by an admin upload (POST /api/v1/kernels) or by an
 * archive being synced (POST /api/v1/sync) to the embedded default (`createBackends` as
 * `btfhub serve` makes them): the kernel is decoded on the codec executor's threads, so
 * `/healthz`, asked once the decode is on a thread, is answered before the hostile request
 * (an ordering, not a timing threshold). Decoded on the event loop, /healthz would wait.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { btfWithSharedNames } from '../helpers/hostile-inputs.js';
import type { WorkerCodecExecutor } from '../../src/executor/worker-executor.js';
import { multipart, setupApi, why } from '../api/helpers.js';

const ADMIN_TOKEN = 'hostile-kernels-admin-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const hostile = btfWithSharedNames(1_000_000, 4_000_000, true);

/** Runs `request`, asks /healthz once a codec thread is working on it; the order they were answered in. */
async function healthzDuring<T>(request: () => Promise<T>): Promise<{ order: string[]; health: number; answer: T }> {
  const { app, codec } = current!;
  const order: string[] = [];
  const heavy = request().then((answer) => {
    order.push('hostile');
    return answer;
  });
  // The upload is read and the file listed first (I/O, the event loop free): wait for the decode.
  while (!(codec as WorkerCodecExecutor).backlog().some((n) => n > 0) && order.length === 0)
    await new Promise((resolve) => setTimeout(resolve, 5));
  const health = (await app.inject('/healthz')).statusCode;
  order.push('healthz');
  return { order, health, answer: await heavy };
}

let current: Awaited<ReturnType<typeof setupApi>> | undefined;

t.test('an admin upload of a hostile kernel: /healthz answers while it decodes', async (t) => {
  current = await setupApi(t, { requestWaitMs: 120_000, config: { adminToken: ADMIN_TOKEN } });
  const body = multipart([
    ...Object.entries({ distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-300-generic' }).map(
      ([name, data]) => ({ name, data }),
    ),
    { name: 'btf', filename: 'hostile.btf', data: hostile },
  ]);
  const { order, health, answer } = await healthzDuring(() =>
    current!.app.inject({ method: 'POST', url: '/api/v1/kernels', payload: body.payload, headers: { ...body.headers, ...auth } }),
  );
  t.equal(health, 200);
  t.same(order, ['healthz', 'hostile'], '/healthz was answered before the upload');
  t.ok([201, 413, 422].includes(answer.statusCode), `the upload is answered: ${why(answer)}`);
});

t.test('a hostile kernel in an archive being synced: /healthz answers while it decodes', async (t) => {
  const source = await mkdtemp(join(tmpdir(), 'btfhub-hostile-sync-'));
  t.teardown(() => rm(source, { recursive: true, force: true }));
  const path = join(source, 'ubuntu/22.04/x86_64/5.15.0-301-generic.btf');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, hostile);
  current = await setupApi(t, { requestWaitMs: 120_000, config: { adminToken: ADMIN_TOKEN }, sync: { source } });
  const { order, health, answer } = await healthzDuring(() => current!.app.inject({ method: 'POST', url: '/api/v1/sync', headers: auth }));
  t.equal(health, 200);
  t.same(order, ['healthz', 'hostile'], '/healthz was answered before the sync');
  t.equal(answer.statusCode, 200, why(answer));
  t.match(answer.json(), { state: 'completed', summary: { added: Number, invalid: Number } }, 'the sync finished and said what it did');
  const summary = answer.json<{ summary: { added: number; invalid: number } }>().summary;
  t.equal(summary.added + summary.invalid, 1, 'the hostile file was registered or refused');
});
