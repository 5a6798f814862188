/**
 * `npm run soak`: a scale-out btfhub-online on this machine under a mixed load for a while,
 * then a verdict. Not part of `npm test`.
 *
 *   npm run soak -- [--seconds 60] [--connections 8] [--workers 2] [--sample 5] [--dist [--bare]] [--embedded]
 *
 * The deployment: a redis-server of its own (free port, no persistence), a PostgreSQL schema
 * of its own on the machine's server (TEST_DATABASE_URL, dropped at the end), s3rver, one
 * `btfhub serve` (API only) and --workers `btfhub worker` processes, all real processes.
 * With --embedded: the embedded default instead, one `btfhub serve` doing everything
 * (filesystem store, SQLite, trims in process: the API holds the decoded kernel). With --dist
 * the processes run the compiled JavaScript (`npm run build` first), as deployed, instead of
 * the sources under the TypeScript loader (which alone holds 150+ MB), and with the process
 * settings and node options the Dockerfile gives the image (scripts/image-env.ts; --bare:
 * without them).
 *
 * The load (autocannon, --connections): 60 % cached answers (the same two objects again),
 * 25 % new trims on the decoded kernel (an object with a random trailer: a new objects hash,
 * the same work), 15 % bad requests (not an ELF, a missing field, an unknown kernel).
 *
 * Printed: throughput, p50/p99, answers by status, and the RSS of the API and each worker
 * every --sample seconds. Fails (exit 1) if any 5xx was answered, if a request errored or
 * timed out, or if RSS keeps growing: a process whose last samples stand more than 50 %
 * above its samples after warm-up, and still rising over the second half; or, once warm-up
 * is well behind (a run of 120 s or more), whose RSS grew more than --max-late-growth (5 %)
 * over the second half of the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { makeBtfTarXz } from '../src/archive/kernel-btf.js';
import { openCatalog } from '../src/catalog/index.js';
import { loadConfig } from '../src/config/schema.js';
import { registerKernelsFromStore } from '../src/kernels/registry.js';
import { createObjectStore, kernelKey } from '../src/storage/index.js';
import { freePort } from '../test/helpers/net.js';
import { startOwnRedis } from '../test/hardening/own-redis.js';
import { imageNodeArgs, imageProcessSettings } from './image-env.js';
import { loadFixtures } from '../test/helpers/fixtures.js';
import { createTestSchema, schemaDatabaseUrl } from '../test/helpers/postgres.js';
import { s3ServiceEnv, startS3Server } from '../test/helpers/s3.js';
import { tsLoaderArgs } from './ts-loader.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    connections: { type: 'string', default: '8' },
    workers: { type: 'string', default: '2' },
    sample: { type: 'string', default: '5' },
    dist: { type: 'boolean', default: false },
    embedded: { type: 'boolean', default: false },
    bare: { type: 'boolean', default: false },
    'max-late-growth': { type: 'string', default: '5' },
  },
});
const useDist = values.dist;
const embedded = values.embedded;
const maxLateGrowth = Number(values['max-late-growth']) / 100;
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const workerCount = values.embedded ? 0 : Number(values.workers);
const sampleSeconds = Number(values.sample);

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO_ROOT, 'src/cli/main.ts');
const DIST_CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const FIELDS = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' };

const cleanups: (() => Promise<unknown>)[] = [];
const children: ChildProcess[] = [];
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
});

async function cleanup(): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  for (const step of cleanups.reverse()) await step().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}

function launch(name: string, args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const command = useDist ? [...(values.bare ? [] : imageNodeArgs()), DIST_CLI] : [...tsLoaderArgs(), CLI];
  const child = spawn(process.execPath, [...command, ...args], {
    cwd: REPO_ROOT,
    // --dist runs the service as the image does, with its process settings (malloc, Node's
    // young generation), unless --bare; the environment's own values win.
    env: { ...(useDist && !values.bare ? imageProcessSettings() : {}), ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const keep = (chunk: string) => (output = (output + chunk).slice(-8000));
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`${name} exited (${code ?? signal}) during the soak:\n${output.slice(-3000)}`);
  });
  return { child, output: () => output };
}
let stopping = false;

/**
 * " (api main thread: heap used/total N/N MB, external N MB; codec threads: ...)" from the
 * API's metrics, or "" when they cannot be read.
 */
async function apiHeap(base: string): Promise<string> {
  try {
    const text = await (await fetch(`${base}/monitoring/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    const main = `heap ${mb('nodejs_heap_size_used_bytes').toFixed(0)}/${mb('nodejs_heap_size_total_bytes').toFixed(0)} MB, external ${mb('nodejs_external_memory_bytes').toFixed(0)} MB`;
    const thread = (kind: string) => mb(`btfhub_codec_threads_heap_bytes\\{kind="${kind}"\\}`);
    const threads = Number.isNaN(thread('used'))
      ? ''
      : `; codec threads: heap ${thread('used').toFixed(0)}/${thread('total').toFixed(0)} MB, external ${thread('external').toFixed(0)} MB`;
    return ` (api main thread: ${main}${threads})`;
  } catch {
    return '';
  }
}

/** Resident set size of a process, in MB (Linux). */
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function form(parts: Record<string, string>, object?: Uint8Array): { body: Buffer; contentType: string } {
  const boundary = `----btfhubsoak${randomBytes(6).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(parts))
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  if (object !== undefined) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="object"; filename="prog.bpf.o"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(object),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function withTrailer(object: Uint8Array): Uint8Array {
  const out = new Uint8Array(object.length + 16);
  out.set(object);
  out.set(randomBytes(16), object.length);
  return out;
}

async function main(): Promise<number> {
  const started = performance.now();
  const fixtures = await loadFixtures();
  const tools = fixtures.objects.get('tools_like')?.bytes;
  const small = fixtures.objects.get('enum64')?.bytes;
  if (tools === undefined || small === undefined) throw new Error('fixtures tools_like and enum64 are needed');

  if (useDist && !existsSync(DIST_CLI)) throw new Error(`--dist: ${DIST_CLI} is missing; run npm run build first`);
  const dataDir = await mkdtemp(join(tmpdir(), 'btfhub-soak-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = {
    BTFHUB_DATA_DIR: dataDir,
    BTFHUB_REGISTER_HOST_KERNEL: 'false',
    BTFHUB_RATE_LIMIT_MAX: '0',
    BTFHUB_REQUEST_WAIT_MS: '30000',
    LOG_LEVEL: 'warn',
  };
  let schema: Awaited<ReturnType<typeof createTestSchema>> | undefined;
  if (!embedded) {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    schema = await createTestSchema();
    const created = schema;
    cleanups.push(() => created.drop());
    const s3 = await startS3Server();
    cleanups.push(() => s3.stop());
    Object.assign(env, {
      DATABASE_URL: schemaDatabaseUrl(schema),
      REDIS_URL: redis.url,
      BTFHUB_QUEUE_PREFIX: 'btfhub-soak',
      ...s3ServiceEnv(s3),
    });
  }

  const config = loadConfig(env);
  const store = createObjectStore(config);
  cleanups.push(() => store.close());
  // The embedded default's SQLite file (the API opens it too), or the run's PostgreSQL schema.
  const catalog = await openCatalog(schema === undefined ? config.database : { kind: 'postgres', url: schema.url, schema: schema.schema });
  cleanups.push(() => catalog.close());
  await catalog.migrate();
  await store.put(kernelKey(KERNEL, 'btf.tar.xz'), await makeBtfTarXz(KERNEL.kernel, fixtures.vmlinux));
  const registered = await registerKernelsFromStore(store, catalog);
  if (registered.added !== 1) throw new Error(`kernel not registered: ${JSON.stringify(registered)}`);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = launch('api', ['serve', '--port', String(port)], env);
  const workers = Array.from({ length: workerCount }, (_, i) => launch(`worker-${i + 1}`, ['worker'], env));
  for (let waited = 0; ; waited += 250) {
    const up = await fetch(`${base}/readyz`).then(
      (res) => res.ok,
      () => false,
    );
    if (up) break;
    if (waited > 120_000 || api.child.exitCode !== null) throw new Error(`the API did not become ready:\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const cachedForms = [form(FIELDS, tools), form(FIELDS, small)];
  for (const payload of cachedForms) {
    const res = await fetch(`${base}/api/v1/btf`, { method: 'POST', body: payload.body, headers: { 'content-type': payload.contentType } });
    if (res.status !== 200) throw new Error(`warm-up: ${res.status} ${await res.text()}`);
  }
  const deployment = embedded
    ? 'embedded default (one process: filesystem store, SQLite, trims in process)'
    : `API + ${workerCount} workers (Redis, PostgreSQL, S3)`;
  console.log(
    `soak: ${deployment}${
      useDist
        ? `, compiled dist/ (${
            values.bare
              ? 'bare'
              : `image settings: ${[...imageNodeArgs(), ...Object.entries(imageProcessSettings()).map(([k, v]) => `${k}=${v}`)].join(' ')}`
          })`
        : ', TypeScript sources'
    } up in ${((performance.now() - started) / 1000).toFixed(1)} s; ${seconds} s of load, ${connections} connections`,
  );

  const pids = { api: api.child.pid, ...Object.fromEntries(workers.map((w, i) => [`worker-${i + 1}`, w.child.pid])) };
  const samples: Record<string, number>[] = [];
  const sample = async () => {
    const row: Record<string, number> = { t: Math.round((performance.now() - loadStarted) / 1000) };
    for (const [name, pid] of Object.entries(pids)) row[name] = rssMb(pid);
    samples.push(row);
    // Where the API's RSS goes: its main thread's V8 heap and the memory outside it (Buffers).
    const heap = await apiHeap(base);
    console.log(
      `  t=${String(row.t).padStart(4)} s  ${Object.entries(row)
        .filter(([k]) => k !== 't')
        .map(([k, v]) => `${k} ${v.toFixed(0)} MB`)
        .join('  ')}${heap}`,
    );
  };

  const kinds = { cached: 0, trim: 0, bad: 0 };
  const badForms = [
    () => form(FIELDS, new TextEncoder().encode('not an ELF file at all')),
    () => form({ distro: 'ubuntu', arch: 'x86_64', kernel_version: '5.15.0-91-generic' }, small),
    () => form({ ...FIELDS, kernel_version: '9.9.9-not-here' }, small),
  ];
  const next = (): { body: Buffer; contentType: string } => {
    const roll = Math.random();
    if (roll < 0.6) {
      kinds.cached++;
      return cachedForms[Math.random() < 0.5 ? 0 : 1]!;
    }
    if (roll < 0.85) {
      kinds.trim++;
      return form(FIELDS, withTrailer(Math.random() < 0.5 ? small : tools));
    }
    kinds.bad++;
    return badForms[Math.floor(Math.random() * badForms.length)]!();
  };

  const loadStarted = performance.now();
  await sample();
  const sampler = setInterval(() => void sample(), sampleSeconds * 1000);
  const first = next();
  const run = autocannon({
    url: `${base}/api/v1/btf`,
    connections,
    duration: seconds,
    timeout: 60,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': first.contentType },
        body: first.body,
        setupRequest: (req: AutocannonRequest) => {
          const payload = next();
          return { ...req, body: payload.body, headers: { ...req.headers, 'content-type': payload.contentType } };
        },
      },
    ],
  });
  const watchInterrupt = setInterval(() => {
    if (interrupted) run.stop();
  }, 200);
  const result = await run;
  clearInterval(watchInterrupt);
  clearInterval(sampler);
  await sample();

  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]));
  const fiveXx = Object.entries(statuses)
    .filter(([code]) => code.startsWith('5'))
    .reduce((n, [, count]) => n + count, 0);
  console.log(
    `soak: ${result.duration} s, ${result.requests.total} requests (${result.requests.average.toFixed(0)}/s; mix sent: ${kinds.cached} cached, ${kinds.trim} new trims, ${kinds.bad} bad), ` +
      `latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
  );
  console.log(`soak: answers by status ${JSON.stringify(statuses)}; 5xx ${fiveXx}; errors ${result.errors}; timeouts ${result.timeouts}`);

  const failures: string[] = [];
  if (fiveXx > 0) failures.push(`${fiveXx} answers were 5xx`);
  if (result.errors > 0 || result.timeouts > 0) failures.push(`${result.errors} request errors, ${result.timeouts} timeouts`);
  for (const name of Object.keys(pids)) {
    const series = samples.map((s) => s[name]!).filter((v) => Number.isFinite(v));
    const start = series[0] ?? Number.NaN;
    const end = series.at(-1) ?? Number.NaN;
    // After warm-up: from the second sample to a third of the way; the end: the last three.
    const warm = series.slice(1, Math.max(2, Math.ceil(series.length / 3)));
    const tail = series.slice(-3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const half = series.slice(Math.floor(series.length / 2));
    const rising = half.length >= 3 && half.every((v, i) => i === 0 || v >= half[i - 1]! - 1);
    const growth = mean(tail) / mean(warm) - 1;
    console.log(
      `soak: ${name} RSS start ${start.toFixed(0)} MB, end ${end.toFixed(0)} MB, after warm-up ${mean(warm).toFixed(0)} MB -> ${mean(tail).toFixed(0)} MB (${(growth * 100).toFixed(0)} %)`,
    );
    if (growth > 0.5 && rising) failures.push(`${name} RSS keeps growing (${(growth * 100).toFixed(0)} % over the run, still rising)`);
    // The second half of the run: warm-up (JIT, caches, the kernel decode) is long over by then.
    const lateGrowth = mean(tail) / mean(half.slice(0, 3)) - 1;
    const peak = Math.max(...series);
    console.log(
      `soak: ${name} RSS over the second half ${mean(half.slice(0, 3)).toFixed(0)} MB -> ${mean(tail).toFixed(0)} MB (${(lateGrowth * 100).toFixed(1)} %), peak ${peak.toFixed(0)} MB`,
    );
    if (seconds >= 120 && lateGrowth > maxLateGrowth)
      failures.push(
        `${name} RSS grew ${(lateGrowth * 100).toFixed(1)} % over the second half (more than ${(maxLateGrowth * 100).toFixed(0)} %)`,
      );
  }
  stopping = true;
  console.log(failures.length === 0 ? 'soak: PASS' : `soak: FAIL: ${failures.join('; ')}`);
  return failures.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  stopping = true;
  await cleanup();
}
process.exit(code);
