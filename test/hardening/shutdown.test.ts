/**
 * SIGTERM on `btfhub serve` (the real command, in this process with its signals injected,
 * on a real port): a request in flight (its upload half sent when the signal comes) still
 * gets its trimmed BTF; new connections are refused and idle keep-alive ones closed; the
 * process is done well within BTFHUB_SHUTDOWN_GRACE_MS, status 0. A request that never
 * finishes does not hold the process: at the end of the grace period its connection is
 * closed and the status is 1.
 */
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createServeCommand } from '../../src/cli/commands/serve.js';
import { runCli } from '../../src/cli/run.js';
import { btfForm, fixtureObject, oracle, RAW_FIELDS } from '../api/helpers.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { freePort } from '../helpers/net.js';

const fixtures = await loadFixtures();

interface Served {
  port: number;
  sigterm(): void;
  done: Promise<number>;
  /** Calls of the process exit hook (the watchdog's, if it fired). */
  exits: number[];
  logs(): Record<string, unknown>[];
}

async function serve(t: Test, env: Record<string, string>): Promise<Served> {
  const archive = await mkdtemp(join(tmpdir(), 'btfhub-shutdown-archive-'));
  const data = await mkdtemp(join(tmpdir(), 'btfhub-shutdown-data-'));
  t.teardown(() => Promise.all([rm(archive, { recursive: true, force: true }), rm(data, { recursive: true, force: true })]));
  await mkdir(join(archive, 'ubuntu', '22.04', 'x86_64'), { recursive: true });
  await writeFile(join(archive, 'ubuntu', '22.04', 'x86_64', '5.15.0-91-generic.btf'), fixtures.vmlinux);
  const port = await freePort();
  let out = '';
  const io = {
    stdout: { write: (c: string | Uint8Array) => (out += String(c)) },
    stderr: { write: (c: string | Uint8Array) => (out += String(c)) },
  };
  const signals = new EventEmitter();
  const exits: number[] = [];
  let listening!: () => void;
  const up = new Promise<void>((resolve) => (listening = resolve));
  const command = createServeCommand({
    env: { BTFHUB_REGISTER_HOST_KERNEL: 'false', LOG_LEVEL: 'info', ...env },
    signals,
    exit: (code) => void exits.push(code),
    onListening: () => listening(),
  });
  const done = runCli(['serve', '--archive', archive, '--data', data, '--port', String(port)], io, [command]);
  const first = await Promise.race([up.then(() => 'up'), done.then((code) => `exited ${code}: ${out.slice(-2000)}`)]);
  if (first !== 'up') throw new Error(first);
  t.teardown(async () => {
    signals.emit('SIGTERM', 'SIGTERM');
    await done;
  });
  return {
    port,
    sigterm: () => void signals.emit('SIGTERM', 'SIGTERM'),
    done,
    exits,
    logs: () =>
      out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** A raw connection, with everything it receives and whether it was closed. */
async function open(port: number): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** Status, headers and body of one HTTP/1.1 answer. */
function parseAnswer(raw: Buffer): { status: number; headers: Record<string, string>; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.subarray(end + 4) };
}

function upload(): { head: string; body: Buffer } {
  const form = btfForm([fixtureObject(fixtures, 'tools_like')], RAW_FIELDS);
  return {
    head: `POST /api/v1/btf HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${form.headers['content-type']}\r\nContent-Length: ${form.payload.length}\r\n\r\n`,
    body: form.payload,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bound for a wait: its timer does not keep the test process alive once the wait is over. */
const upTo = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

t.test('SIGTERM: the request in flight finishes, new connections are refused, exit 0 within the grace period', async (t) => {
  const graceMs = 8000;
  const served = await serve(t, { BTFHUB_SHUTDOWN_GRACE_MS: String(graceMs) });
  // An idle keep-alive connection, and a request whose upload is half sent.
  const idle = await open(served.port);
  idle.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await sleep(100);
  t.equal(parseAnswer(idle.received()).status, 200);
  const inFlight = await open(served.port);
  const { head, body } = upload();
  inFlight.socket.write(head);
  inFlight.socket.write(body.subarray(0, body.length >> 1));
  await sleep(100);

  const signalledAt = performance.now();
  served.sigterm();
  await sleep(300);
  const refused = await new Promise<string>((resolve) => {
    const socket = connect(served.port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.equal(refused, 'ECONNREFUSED', 'a new connection is refused');
  await Promise.race([idle.closed, upTo(2000)]);
  t.ok(idle.socket.destroyed || idle.socket.readableEnded, 'the idle keep-alive connection was closed');

  inFlight.socket.write(body.subarray(body.length >> 1));
  await Promise.race([inFlight.closed, upTo(graceMs)]);
  const answer = parseAnswer(inFlight.received());
  t.equal(answer.status, 200, answer.status === 200 ? 'the request in flight got its answer' : answer.body.toString('utf8', 0, 300));
  t.same(answer.body, Buffer.from(oracle(fixtures, 'tools_like')), 'its trimmed BTF, equal to bpftool');
  t.equal(answer.headers.connection, 'close', 'with Connection: close');

  t.equal(await served.done, 0, 'exit status 0');
  const elapsed = performance.now() - signalledAt;
  t.ok(elapsed < graceMs, `done ${Math.round(elapsed)} ms after SIGTERM (grace ${graceMs} ms)`);
  t.same(served.exits, [], 'the watchdog never had to act');
  t.ok(served.logs().some((l) => l.msg === 'btfhub serve stopped'));
});

t.test('SIGTERM with a request that never finishes: cut at the end of the grace period, exit 1', async (t) => {
  const graceMs = 1200;
  const served = await serve(t, { BTFHUB_SHUTDOWN_GRACE_MS: String(graceMs) });
  const stalled = await open(served.port);
  const { head, body } = upload();
  stalled.socket.write(head);
  stalled.socket.write(body.subarray(0, 1000)); // and nothing more, ever
  await sleep(100);
  const signalledAt = performance.now();
  served.sigterm();
  const code = await served.done;
  const elapsed = performance.now() - signalledAt;
  t.equal(code, 1, 'exit status 1: something was cut short');
  t.ok(elapsed >= graceMs - 50 && elapsed < graceMs + 1500, `done ${Math.round(elapsed)} ms after SIGTERM (grace ${graceMs} ms)`);
  await Promise.race([stalled.closed, upTo(1000)]);
  t.ok(stalled.socket.destroyed || stalled.socket.readableEnded, 'the stalled connection was closed');
  t.ok(
    served.logs().some((l) => String(l.msg).startsWith('grace period over')),
    'the log says why',
  );
});
