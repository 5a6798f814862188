/**
 * `btfhub serve` and `btfhub migrate` on the embedded default, through the CLI dispatcher
 * in this process (signals injected) but over a real port: configuration errors exit 2
 * naming the setting, the archive is registered and read but never written, the host
 * kernel is registered, a POST trims, SIGTERM stops gracefully.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createMigrateCommand } from '../../src/cli/commands/migrate.js';
import { createServeCommand } from '../../src/cli/commands/serve.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { runCli } from '../../src/cli/run.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { freePort } from '../helpers/net.js';

const fixtures = await loadFixtures();

function capture() {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (c: string | Uint8Array) => (out += String(c)) },
      stderr: { write: (c: string | Uint8Array) => (err += String(c)) },
    },
    out: () => out,
    err: () => err,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-serve-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Served {
  base: string;
  stop(): Promise<number>;
  output: ReturnType<typeof capture>;
}

/** Runs `btfhub serve ARGS` until stop() sends SIGTERM; resolves once listening. */
async function serve(args: string[], env: Record<string, string>): Promise<Served> {
  const output = capture();
  const signals = new EventEmitter();
  let listening!: (address: string) => void;
  const address = new Promise<string>((resolve) => (listening = resolve));
  const command = createServeCommand({ env, signals, exit: () => {}, onListening: listening });
  const done = runCli(['serve', ...args], output.io, [command]);
  const first = await Promise.race([address, done.then((code) => `exited ${code}: ${output.err()}${output.out().slice(-2000)}`)]);
  if (!first.startsWith('http')) throw new Error(first);
  return {
    base: first,
    output,
    async stop() {
      signals.emit('SIGTERM', 'SIGTERM');
      return done;
    },
  };
}

const OBJECT = 'tools_like';

function form(fields: Record<string, string>): FormData {
  const body = new FormData();
  body.append('object', new Blob([fixtures.objects.get(OBJECT)!.bytes]), `${OBJECT}.bpf.o`);
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

t.test('serve with an archive: registers it, reads it, never writes to it', async (t) => {
  const archive = await tempDir(t);
  const data = await tempDir(t);
  await mkdir(join(archive, 'ubuntu', '20.04', 'x86_64'), { recursive: true });
  await writeFile(join(archive, 'ubuntu', '20.04', 'x86_64', '5.4.0-42-generic.btf'), fixtures.vmlinux);
  await writeFile(join(archive, 'README.md'), 'not a kernel');
  const port = await freePort();
  const served = await serve(['--archive', archive, '--data', data, '--port', String(port)], {
    BTFHUB_REGISTER_HOST_KERNEL: 'false',
    LOG_LEVEL: 'info',
  });
  t.teardown(() => served.stop()); // a failed assertion must not leave the server listening
  t.equal(served.base, `http://127.0.0.1:${port}`);

  const logs = served.output.logs();
  const configLines = logs.filter((l) => l.msg === 'btfhub serve configuration');
  t.equal(configLines.length, 1, 'the configuration is logged once');
  t.match(configLines[0], { config: { archiveDir: archive, dataDir: data, port } });
  t.match(
    logs.find((l) => l.msg === 'archive kernels registered'),
    { added: 1 },
  );

  const kernels = (await (await fetch(`${served.base}/api/v1/kernels`)).json()) as { total: number; items: { kernel_version: string }[] };
  t.equal(kernels.total, 1);
  t.equal(kernels.items[0]?.kernel_version, '5.4.0-42-generic');

  const res = await fetch(`${served.base}/api/v1/btf`, {
    method: 'POST',
    body: form({ distro: 'ubuntu', distro_version: 'focal', arch: 'amd64', kernel_version: '5.4.0-42-generic' }),
  });
  t.equal(res.status, 200);
  t.same(Buffer.from(await res.arrayBuffer()), Buffer.from(fixtures.oracle.single.get(OBJECT)!), 'equals bpftool');
  t.same((await readdir(archive)).sort(), ['README.md', 'ubuntu'], 'nothing written to the archive');
  t.ok(existsSync(join(data, 'objects', 'trimmed')), 'results in the data directory');
  t.ok(existsSync(join(data, 'catalog.sqlite')), 'SQLite catalog in the data directory');

  t.equal(await served.stop(), 0, 'SIGTERM: exit 0');
  t.ok(served.output.logs().some((l) => l.msg === 'btfhub serve stopped'));
  await t.rejects(fetch(`${served.base}/healthz`), 'no longer listening');
});

t.test('serve on the embedded default registers this host kernel', async (t) => {
  const data = await tempDir(t);
  const served = await serve(['--data', data, '--port', String(await freePort())], { LOG_LEVEL: 'warn' });
  t.teardown(() => served.stop());
  const kernels = (await (await fetch(`${served.base}/api/v1/kernels`)).json()) as { total: number };
  const ready = await fetch(`${served.base}/readyz`);
  t.equal(ready.status, 200);
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    t.equal(kernels.total, 0, 'no host BTF here: nothing registered, the service still runs');
    return;
  }
  t.equal(kernels.total, 1, 'the host kernel is registered');
  const host = (await (await fetch(`${served.base}/api/v1/list`)).json()) as {
    distribution: string;
    distribution_version: string;
    arch: string;
    kernel_version: string;
  }[];
  const ref = host[0]!;
  const res = await fetch(`${served.base}/api/v1/btf`, {
    method: 'POST',
    body: form({ distro: ref.distribution, distro_version: ref.distribution_version, arch: ref.arch, kernel_version: ref.kernel_version }),
  });
  t.equal(res.status, 200, 'the README request works at once');
  if (fixtures.source === 'built') {
    // Built fixtures ran bpftool against this very /sys/kernel/btf/vmlinux.
    t.same(Buffer.from(await res.arrayBuffer()), Buffer.from(fixtures.oracle.single.get(OBJECT)!), 'equals bpftool on the host kernel');
  }
});

t.test('a bad setting stops the start with exit 2, naming it', async (t) => {
  for (const [args, env, named] of [
    [['--port', '0'], {}, '--port (BTFHUB_PORT)'],
    [['--port', 'http'], {}, '--port (BTFHUB_PORT)'],
    [[], { BTFHUB_PORT: '70000' }, 'BTFHUB_PORT'],
    [[], { REDIS_URL: 'http://redis' }, 'REDIS_URL'],
    [[], { S3_ENDPOINT: 'http://minio:9000' }, 'S3_BUCKET'],
    [['--host', 'a host'], {}, '--host (BTFHUB_HOST)'],
  ] as const) {
    const output = capture();
    const code = await runCli(['serve', ...args], output.io, [createServeCommand({ env: { ...env } })]);
    t.equal(code, 2, `${args.join(' ')} ${JSON.stringify(env)}: exit 2`);
    t.match(output.err(), named, `names ${named}`);
    t.equal(output.out(), '', 'nothing logged, nothing started');
  }
  const output = capture();
  t.equal(await runCli(['serve', 'extra'], output.io, [createServeCommand()]), 2, 'no positional arguments');
});

t.test('migrate applies the migrations once and exits', async (t) => {
  const data = await tempDir(t);
  const first = capture();
  t.equal(await runCli(['migrate', '--data', data], first.io, [createMigrateCommand({ env: {} })]), 0);
  t.match(first.out(), /applied 001 /);
  t.match(first.out(), /catalog sqlite .*catalog\.sqlite: \d+ applied, at version \d+/);
  const second = capture();
  t.equal(await runCli(['migrate', '--data', data], second.io, [createMigrateCommand({ env: {} })]), 0);
  t.match(second.out(), /: 0 applied/);
  const broken = capture();
  t.equal(
    await runCli(['migrate'], broken.io, [createMigrateCommand({ env: { DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' } })]),
    1,
  );
  t.match(broken.err(), /migrating the catalog \(postgres postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none\) failed/);
  t.notMatch(broken.err(), /secret/, 'the password is not printed');
});

t.test('btfhub --help lists serve and migrate', async (t) => {
  const output = capture();
  t.equal(await runCli(['--help'], output.io, COMMANDS), 0);
  t.match(output.out(), /^\s+serve\s+run the HTTP API/m);
  t.match(output.out(), /^\s+migrate\s+apply the catalog/m);
  const help = capture();
  t.equal(await runCli(['serve', '--help'], help.io, COMMANDS), 0);
  for (const flag of ['--archive DIR', '--data DIR', '--port N', '--host H']) t.match(help.out(), flag);
});

t.test('a port already taken: exit 1 with a message saying so', async (t) => {
  const data = await tempDir(t);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const port = (busy.address() as { port: number }).port;
  const output = capture();
  const code = await runCli(['serve', '--data', data, '--port', String(port)], output.io, [
    createServeCommand({ env: { BTFHUB_REGISTER_HOST_KERNEL: 'false', LOG_LEVEL: 'silent' }, signals: new EventEmitter() }),
  ]);
  t.equal(code, 1);
  t.match(output.err(), `cannot listen on 127.0.0.1:${port}: `);
  t.match(output.err(), /EADDRINUSE/);
});
