/**
 * A deployment of btfhub as child processes on this machine, for the hostile-input tests and
 * scripts/hostile-table.ts:
 *
 *   - `embedded`: one `btfhub serve` (fs store, SQLite catalog, in-process queue; the
 *     kernel in an archive directory it registers at start);
 *   - `scale-out`: `btfhub serve` (API only) and `workers` `btfhub worker` processes on the
 *     machine's Redis (a BullMQ prefix of their own), a PostgreSQL schema of their own and
 *     an S3 bucket on an s3rver started here, the kernel registered in S3 before they start.
 *
 * From the sources through tap's TypeScript loader, or from `dist/` (`npm run build`) with
 * `dist: true`. `close()` stops the processes and removes the schema, the Redis keys, the
 * bucket and the directories, each step run even when an earlier one fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCatalog } from '../../src/catalog/index.js';
import type { KernelRef } from '../../src/catalog/catalog.js';
import { loadConfig } from '../../src/config/schema.js';
import { registerKernelsFromStore } from '../../src/kernels/registry.js';
import { createObjectStore, kernelKey } from '../../src/storage/index.js';
import { createTestSchema } from '../helpers/postgres.js';
import { startS3Server } from '../helpers/s3.js';
import { deleteRedisKeys, REDIS_URL } from '../jobs/setup.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Its JSON log lines (stdout). */
  lines: Record<string, unknown>[];
  /** The tail of its output (stdout and stderr), for messages. */
  output(): string;
  /** Whether it is still running (never exited, and the pid answers signal 0). */
  alive(): boolean;
  /** Peak resident set size so far (VmHWM of /proc/<pid>/status), MiB. */
  peakRssMiB(): Promise<number>;
}

export interface DeploymentOptions {
  mode: 'embedded' | 'scale-out';
  /** The kernel registered, raw BTF, under `ref`. */
  kernel: { ref: KernelRef; btf: Uint8Array };
  /** `btfhub worker` processes (scale-out; default 1). */
  workers?: number;
  /** Settings of every process. */
  env?: Record<string, string>;
  /** Settings of the API process only, and of the workers only (on top of `env`). */
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Run dist/src/cli/main.js instead of the sources. */
  dist?: boolean;
  startTimeoutMs?: number;
}

export interface Deployment {
  base: string;
  api: Proc;
  workers: Proc[];
  close(): Promise<void>;
}

export async function startDeployment(options: DeploymentOptions): Promise<Deployment> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const procs: Proc[] = [];
  const close = async () => {
    await Promise.allSettled(procs.map((p) => stop(p.child)));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  const killAll = () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  cleanups.push(async () => process.off('exit', killAll));
  try {
    const dir = await mkdtemp(join(tmpdir(), 'btfhub-deployment-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const common: Record<string, string> = {
      BTFHUB_DATA_DIR: join(dir, 'data'),
      BTFHUB_REGISTER_HOST_KERNEL: 'false',
      BTFHUB_RATE_LIMIT_MAX: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    };
    const { ref, btf } = options.kernel;
    const path = `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.btf`;
    const serve = ['serve', '--port', String(port), '--host', '127.0.0.1'];
    if (options.mode === 'embedded') {
      await mkdir(join(dir, 'archive', path, '..'), { recursive: true });
      await writeFile(join(dir, 'archive', path), btf);
      procs.push(launch('api', [...serve, '--archive', join(dir, 'archive')], { ...common, ...options.apiEnv }, options.dist));
    } else {
      const schema = await createTestSchema();
      cleanups.push(() => schema.drop());
      const prefix = `btfhub-hostile-${process.pid}-${randomBytes(4).toString('hex')}`;
      cleanups.push(() => deleteRedisKeys(REDIS_URL, prefix));
      const s3 = await startS3Server();
      cleanups.push(() => s3.stop());
      Object.assign(common, {
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        REDIS_URL,
        BTFHUB_QUEUE_PREFIX: prefix,
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      });
      const store = createObjectStore(loadConfig(common));
      const catalog = await openCatalog({ kind: 'postgres', url: schema.url, schema: schema.schema });
      try {
        await catalog.migrate();
        await store.put(kernelKey(ref, 'btf'), btf);
        const registered = await registerKernelsFromStore(store, catalog);
        if (registered.added !== 1) throw new Error(`the kernel in S3 was not registered: ${JSON.stringify(registered)}`);
      } finally {
        await catalog.close();
        await store.close();
      }
      procs.push(launch('api', serve, { ...common, ...options.apiEnv }, options.dist));
      for (let i = 1; i <= (options.workers ?? 1); i++)
        procs.push(launch(`worker-${i}`, ['worker'], { ...common, ...options.workerEnv }, options.dist));
    }
    const timeout = options.startTimeoutMs ?? 120_000;
    await Promise.all(procs.map((p) => waitForLog(p, p.name === 'api' ? 'btfhub serve listening' : 'btfhub worker ready', timeout)));
    return { base: `http://127.0.0.1:${port}`, api: procs[0]!, workers: procs.slice(1), close };
  } catch (error) {
    await close();
    throw error;
  }
}

function launch(name: string, args: string[], env: Record<string, string>, dist = false): Proc {
  const entry = dist
    ? [join(REPO_ROOT, 'dist/src/cli/main.js')]
    : ['--import', '@tapjs/typescript/import', join(REPO_ROOT, 'src/cli/main.ts')];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw = (raw + chunk).slice(-20_000);
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (raw = (raw + chunk).slice(-20_000)));
  const pid = child.pid!;
  return {
    name,
    child,
    pid,
    lines,
    output: () => raw.slice(-4000),
    alive() {
      if (child.exitCode !== null || child.signalCode !== null) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    async peakRssMiB() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    },
  };
}

async function waitForLog(proc: Proc, msg: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.lines.some((l) => l.msg === msg)) {
    if (!proc.alive()) throw new Error(`${proc.name} exited before "${msg}":\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name}: "${msg}" not logged within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** SIGTERM, then SIGKILL if it lingers. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
