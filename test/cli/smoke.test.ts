/**
 * `btfhub smoke` against a real service listening on 127.0.0.1 (the fixture kernel, trims
 * in-process and answered as 202 + job, so the jobs are followed), against services that
 * fail one way or another, against a dead port and one that never answers.
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { createSmokeCommand } from '../../src/cli/commands/smoke.js';
import { runCli } from '../../src/cli/run.js';
import { setupApi } from '../api/helpers.js';
import { setupCoverageApi } from '../api/coverage-setup.js';
import { startScriptedServer } from '../client/scripted-server.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

async function smoke(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  // One attempt per request: a failure shows at once (the command's own default retries twice).
  const command = createSmokeCommand({ client: { maxAttempts: 1 } });
  const status = await runCli(
    ['smoke', ...argv],
    { stdout: { write: (s) => (stdout += String(s)) }, stderr: { write: (s) => (stderr += String(s)) } },
    [command],
  );
  return { status, stdout, stderr };
}

t.test('a working service: every check passes, exit 0', async (t) => {
  const api = await setupApi(t, { requestWaitMs: 0 });
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const run = await smoke(['--server', address]);
  t.equal(run.status, 0, run.stdout + run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  t.equal(lines.length, 5, 'one line per check and a summary');
  t.match(lines[0], /^ok {4}readyz {5}GET \/readyz: catalog ok, queue ok, store ok \(\d+ ms\)$/);
  t.match(lines[1], /^ok {4}kernels {4}GET \/api\/v1\/kernels: 1 kernels; using ubuntu\/22\.04\/x86_64\/5\.15\.0-91-generic \(\d+ ms\)$/);
  t.match(
    lines[2],
    /^ok {4}btf {8}POST \/api\/v1\/btf: \d+ bytes of BTF, \d+ types, 2 of 2 relocations resolve \(job [0-9a-f]{64}\) \(\d+ ms\)$/,
  );
  t.match(
    lines[3],
    /^ok {4}customize {2}POST \/api\/v1\/customize: \d+-byte \.tar\.xz, \d+ bytes of BTF, \d+ types, the same BTF as POST \/api\/v1\/btf \(\d+ ms\)$/,
  );
  t.equal(lines[4], `smoke: 4 of 4 checks passed against ${address}/`);
  t.equal(run.stderr, '');

  const object = api.fixtures.objects.get('tools_like')!.path;
  const own = await smoke(['--server', address, '--object', object, '--timeout', '120']);
  t.equal(own.status, 0, own.stdout);
  t.match(
    own.stdout,
    /^ok {4}btf {8}POST \/api\/v1\/btf: .* \d+ of 145 relocations resolve/m,
    'an object of the user’s: its relocations counted',
  );
});

t.test('a service that serves no kernel: the trims are skipped, exit 1', async (t) => {
  const api = await setupCoverageApi(t, { registerArchive: false });
  await mkdir(join(api.dir, 'store'), { recursive: true }); // made by the first write otherwise; readyz wants it
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const run = await smoke(['--server', address]);
  t.equal(run.status, 1);
  t.match(run.stdout, /^ok {4}readyz /m);
  t.match(run.stdout, /^FAIL {2}kernels {4}GET \/api\/v1\/kernels: the service serves no kernel \(load some: btfhub import/m);
  t.match(run.stdout, /^skip {2}btf {8}no kernel to trim for$/m);
  t.match(run.stdout, /^skip {2}customize {2}no kernel to trim for$/m);
  t.match(run.stdout, /^smoke: 1 of 4 checks passed/m);
});

t.test('a service whose store fails: readyz fails (503 naming the store), exit 1', async (t) => {
  const api = await setupApi(t, {
    wrap: ({ store }) => ({
      store: new Proxy(store, {
        get(target, name, receiver) {
          if (name === 'check') return () => Promise.reject(new Error('disk on fire'));
          const value = Reflect.get(target, name, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    }),
  });
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const run = await smoke(['--server', address]);
  t.equal(run.status, 1);
  // The reason (here "disk on fire") is shown to the admin only; smoke runs anonymously.
  t.match(run.stdout, /^FAIL {2}readyz {5}GET http:\/\/127\.0\.0\.1:\d+\/readyz: 503 unavailable: not ready: store$/m);
  t.notMatch(run.stdout, /disk on fire/);
  t.match(run.stdout, /^ok {4}kernels /m, 'the other checks still run and say what works');
  t.match(run.stdout, /^smoke: 3 of 4 checks passed/m);
});

t.test('a dead port: exit 2 at once, with a message naming the service', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const run = await smoke(['--server', `http://127.0.0.1:${port}`]);
  t.equal(run.status, 2);
  t.match(run.stdout, new RegExp(`^FAIL {2}readyz {5}GET http://127\\.0\\.0\\.1:${port}/readyz: .*ECONNREFUSED`, 'm'));
  t.equal(run.stderr, `btfhub smoke: http://127.0.0.1:${port} cannot be reached; nothing else checked\n`);
  t.notMatch(run.stdout, /kernels/, 'nothing else tried');
});

t.test('a service that never answers: every check fails by --timeout, exit 1', async (t) => {
  const server = await startScriptedServer(t);
  server.fallback = () => {
    // never answers
  };
  const run = await smoke(['--server', server.url, '--timeout', '0.3']);
  t.equal(run.status, 1);
  t.match(run.stdout, /^FAIL {2}readyz {5}no answer within --timeout 0\.3 s$/m);
  t.match(run.stdout, /^FAIL {2}kernels {4}no answer within --timeout 0\.3 s$/m);
  t.match(run.stdout, /^smoke: 0 of 4 checks passed/m);
  t.match(run.stderr, /stopped by --timeout 0\.3 s/);
});

t.test('usage: --server is required, --timeout positive, --object a CO-RE object', async (t) => {
  t.match(await smoke([]), { status: 2, stderr: /--server URL is required/ });
  t.match(await smoke(['--server', 'http://127.0.0.1:1', '--timeout', 'soon']), {
    status: 2,
    stderr: /--timeout needs a positive number of seconds, got 'soon'/,
  });
  t.match(await smoke(['--server', 'nope']), { status: 2, stderr: /--server nope: not a service URL/ });
  t.match(await smoke(['--server', 'http://127.0.0.1:1', '--object', '/nonexistent.o']), {
    status: 2,
    stderr: /\/nonexistent\.o: no such file/,
  });
  t.match(await smoke(['--server', 'http://127.0.0.1:1', 'extra']), { status: 2, stderr: /unexpected argument 'extra'/ });
});
