/**
 * The embedded default loads none of the scale-out clients (issue 12, memory): `btfhub serve`
 * with no REDIS_URL, S3 or DATABASE_URL settings, serving a trim, leaves the AWS SDK, pg,
 * ioredis and BullMQ unloaded (together ~25 MB of RSS). ES modules are seen by a loader hook
 * (the one test/cli/startup-imports.test.ts uses), CommonJS requires in require's cache; the
 * last test shows both see those packages once a scale-out backend is made.
 */
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import t from 'tap';
import { loadFixtures } from '../helpers/fixtures.js';
import { freePort } from '../helpers/net.js';

const fixtures = await loadFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-footprint-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const imported = new Set<string>();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url: string) => imported.add(url));
port1.unref();
register(new URL('../cli/fixtures/import-recorder.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });

let marker = 0;
/** Every module loaded so far: ES modules the hook reported (a marker module goes last), and require's cache. */
async function loadedSoFar(): Promise<string[]> {
  const url = `data:text/javascript,export default ${++marker}`;
  await import(url);
  while (!imported.has(url)) await new Promise((resolve) => setImmediate(resolve));
  return [...imported, ...Object.keys(createRequire(import.meta.url).cache)];
}

const SCALE_OUT_PACKAGES = ['@aws-sdk/client-s3', 'pg', 'ioredis', 'bullmq'];

function packagesLoaded(paths: readonly string[]): string[] {
  const found = new Set<string>();
  for (const path of paths) {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
    if (pkg !== undefined && SCALE_OUT_PACKAGES.includes(pkg)) found.add(pkg);
  }
  return [...found].sort();
}

t.test('serve on the embedded default, answering a trim, loads no scale-out client', async (t) => {
  const { createServeCommand } = await import('../../src/cli/commands/serve.js');
  const { runCli } = await import('../../src/cli/run.js');
  const signals = new EventEmitter();
  let listening!: (address: string) => void;
  const address = new Promise<string>((resolve) => (listening = resolve));
  const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
  const archive = join(scratch, 'archive');
  await mkdir(join(archive, 'ubuntu', '20.04', 'x86_64'), { recursive: true });
  await writeFile(join(archive, 'ubuntu', '20.04', 'x86_64', '5.4.0-42-generic.btf'), fixtures.vmlinux);
  const command = createServeCommand({
    env: { BTFHUB_REGISTER_HOST_KERNEL: 'false', LOG_LEVEL: 'silent' },
    signals,
    exit: () => {},
    onListening: listening,
  });
  const done = runCli(['serve', '--archive', archive, '--data', join(scratch, 'data'), '--port', String(await freePort())], quiet, [
    command,
  ]);
  const base = await Promise.race([address, done.then((code) => `exited ${code}`)]);
  t.match(base, /^http:/, 'listening');
  const body = new FormData();
  body.append('object', new Blob([fixtures.objects.get('tools_like')!.bytes]), 'tools_like.bpf.o');
  for (const [name, value] of Object.entries({
    distro: 'ubuntu',
    distro_version: '20.04',
    arch: 'x86_64',
    kernel_version: '5.4.0-42-generic',
  }))
    body.append(name, value);
  const res = await fetch(`${base}/api/v1/btf`, { method: 'POST', body });
  t.equal(res.status, 200, 'a trim answered');
  t.same(packagesLoaded(await loadedSoFar()), [], 'neither the AWS SDK, pg, ioredis nor BullMQ is loaded');
  signals.emit('SIGTERM', 'SIGTERM');
  t.equal(await done, 0, 'stopped');
});

t.test('the census sees the scale-out clients once their backends are made', async (t) => {
  const { S3ObjectStore } = await import('../../src/storage/s3-store.js');
  const store = new S3ObjectStore({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: 'census', forcePathStyle: true });
  await store.close();
  const { openCatalog } = await import('../../src/catalog/index.js');
  const catalog = await openCatalog({ kind: 'postgres', url: 'postgres://127.0.0.1:1/none' });
  await catalog.close();
  const { ioredis } = await import('../../src/api/ioredis.js');
  t.type(ioredis().Redis, 'function');
  t.same(packagesLoaded(await loadedSoFar()), ['@aws-sdk/client-s3', 'ioredis', 'pg'], 'each loaded on first use, and seen');
});
