/**
 * A command loads only what it uses (issue 12): the codec commands never load Fastify,
 * BullMQ, ioredis, the AWS SDK, pg, SQLite, pino or zod, nor the service's folders (api,
 * queue, worker, catalog, config, storage backends). A loader hook records every module this
 * test process loads after it is registered, while the real command table runs each command
 * in turn; the set only grows, so checking it after each command checks that command. Last,
 * `help serve` must show the service's modules: the recorder sees what it should.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import t from 'tap';
import { loadFixtures } from '../helpers/fixtures.js';
import { testArchive } from '../helpers/test-archive.js';

const fixtures = await loadFixtures();
const archive = await testArchive();
const object = fixtures.objects.get('tools_like')!.path;
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-startup-imports-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const loaded = new Set<string>();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url: string) => loaded.add(url));
port1.unref();
register(new URL('./fixtures/import-recorder.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });

let marker = 0;
/** Every URL loaded so far, once the hook's messages have all arrived (a marker module goes last). */
async function loadedSoFar(): Promise<string[]> {
  const url = `data:text/javascript,export default ${++marker}`;
  await import(url);
  while (!loaded.has(url)) await new Promise((resolve) => setImmediate(resolve));
  return [...loaded];
}

/**
 * Packages and folders a command without the service must not load. src/worker is not in the
 * list: two pure functions the CLI shares with the workers live there (verify-trim.ts, the
 * bundle's check; coverage-report.ts, the compat report's API shape); a worker module that
 * pulled in a package would show here through that package.
 */
const SERVICE_PACKAGES = ['fastify', '@fastify', 'bullmq', 'ioredis', '@aws-sdk', 'pg', 'better-sqlite3', 'pino', 'zod', 'yaml'];
const SERVICE_FOLDERS = ['api', 'queue', 'catalog', 'config'];

function serviceModules(urls: readonly string[]): string[] {
  return urls.filter((url) => {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
    if (pkg !== undefined && SERVICE_PACKAGES.some((p) => pkg === p || pkg.startsWith(`${p}/`))) return true;
    const folder = /\/src\/([^/]+)\//.exec(url)?.[1];
    return folder !== undefined && SERVICE_FOLDERS.includes(folder);
  });
}

const { runCli } = await import('../../src/cli/run.js');
const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

const commands: [string, string[]][] = [
  ['--help', ['--help']],
  ['trim', ['trim', '--btf', fixtures.vmlinuxPath, '--out', join(scratch, 'out.btf'), object]],
  ['relocs', ['relocs', '--btf', fixtures.vmlinuxPath, object]],
  ['dump', ['dump', fixtures.vmlinuxPath]],
  ['compat --archive', ['compat', '--archive', archive.dir, '--distro', 'ubuntu', '--fail-on', 'never', object]],
  ['bundle', ['bundle', '--archive', archive.dir, '--distro', 'ubuntu', '--out', join(scratch, 'b.tar.gz'), object]],
  ['fetch', ['fetch', '--btf', fixtures.vmlinuxPath, '--offline', '--out', join(scratch, 'fetched.btf'), object]],
  ['compat --server', ['compat', '--server', 'http://127.0.0.1:1', object]],
  ['smoke', ['smoke', '--server', 'http://127.0.0.1:1', '--timeout', '5']],
  // Loading the module is what matters here: its imports are static.
  ['help generate', ['help', 'generate']],
];

for (const [name, argv] of commands) {
  t.test(`${name} loads nothing of the service`, async (t) => {
    const status = await runCli(argv, quiet);
    t.ok(status === 0 || (name.endsWith('--server') || name === 'smoke' ? status === 2 : false), `${name}: exit ${status}`);
    t.same(serviceModules(await loadedSoFar()), [], 'no service module loaded so far');
  });
}

t.test('no package at all: the commands above use Node and this project only', async (t) => {
  t.same(
    [...loaded].filter((u) => u.includes('/node_modules/')),
    [],
  );
  t.ok(
    [...loaded].some((u) => u.endsWith('/src/cli/commands/trim.ts')),
    'the commands’ own modules were seen',
  );
});

t.test('the recorder sees service modules when they load', async (t) => {
  t.equal(await runCli(['help', 'serve'], quiet), 0);
  const service = serviceModules(await loadedSoFar());
  t.ok(
    service.some((u) => u.includes('/node_modules/fastify/')),
    'fastify, once serve is loaded',
  );
  t.ok(
    service.some((u) => /\/src\/api\//.test(u)),
    'src/api too',
  );
});
