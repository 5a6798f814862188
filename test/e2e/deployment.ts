/**
 * A deployment of btfhub as child processes on this machine, for the end-to-end tests and
 * scripts/hostile-table.ts:
 *
 *   - `embedded`: one `btfhub serve` (fs store, SQLite catalog, in-process queue; the
 *     kernel in an archive directory it registers at start);
 *   - `scale-out`: `btfhub serve` (API only) and `workers` `btfhub worker` processes (or a
 *     test's own worker entry) on the machine's Redis (a BullMQ prefix of their own), a
 *     PostgreSQL schema of their own and an S3 bucket on an s3rver started here, the kernel
 *     registered in S3 before they start.
 *
 * `startScaleOutServices` is the service half alone (schema, prefix, bucket and the settings
 * that point at them), for tests that run the API and the consumer in their own process.
 *
 * From the sources through our TypeScript loader (scripts/ts-register.mjs), or from `dist/`
 * (`npm run build`) with `dist: true`. `close()` stops the processes and removes the schema,
 * the Redis keys, the bucket and the directories, each step run even when an earlier one
 * fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBtfTarXz } from '../../src/archive/kernel-btf.js';
import { openCatalog } from '../../src/catalog/index.js';
import type { KernelRef } from '../../src/catalog/catalog.js';
import { loadConfig } from '../../src/config/schema.js';
import { registerKernelsFromStore } from '../../src/kernels/registry.js';
import { createObjectStore, kernelKey } from '../../src/storage/index.js';
import { freePort } from '../helpers/net.js';
import { createTestSchema, schemaDatabaseUrl } from '../helpers/postgres.js';
import { s3ServiceEnv, startS3Server } from '../helpers/s3.js';
import { deleteRedisKeys, REDIS_URL } from '../jobs/setup.js';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

type LogLine = Record<string, unknown>;

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Its JSON log lines (stdout). */
  lines: LogLine[];
  /** The tail of its output (stdout and stderr), for messages. */
  output(): string;
  /** Whether it is still running (never exited, and the pid answers signal 0). */
  alive(): boolean;
  /** Peak resident set size so far (VmHWM of /proc/<pid>/status), MiB. */
  peakRssMiB(): Promise<number>;
  /** The first log line matching, logged already or later; rejects when it exits first or on timeout. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
}

/** A step of a teardown that failed; the steps after it ran anyway. */
export type CleanupErrorHandler = (error: unknown) => void;

export interface ScaleOutServices {
  /** The settings that point a process at them (DATABASE_URL selects the schema by search_path). */
  env: Record<string, string>;
  /** The PostgreSQL schema, for a catalog a test opens itself. */
  database: { url: string; schema: string };
  /** Removes the bucket (and its s3rver), the Redis keys and the schema. */
  close(onError?: CleanupErrorHandler): Promise<void>;
}

/** Runs the cleanups last acquired first, each one even when an earlier one failed. */
async function runCleanups(cleanups: (() => Promise<unknown>)[], onError: CleanupErrorHandler = () => {}): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(onError);
}

/** A PostgreSQL schema, a BullMQ prefix on the machine's Redis and an s3rver bucket, all of this run. */
export async function startScaleOutServices(label = 'deployment'): Promise<ScaleOutServices> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = (onError?: CleanupErrorHandler) => runCleanups(cleanups, onError);
  try {
    const schema = await createTestSchema();
    cleanups.push(() => schema.drop());
    const prefix = `btfhub-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
    cleanups.push(() => deleteRedisKeys(REDIS_URL, prefix));
    const s3 = await startS3Server();
    cleanups.push(() => s3.stop());
    const env = {
      DATABASE_URL: schemaDatabaseUrl(schema),
      REDIS_URL,
      BTFHUB_QUEUE_PREFIX: prefix,
      ...s3ServiceEnv(s3),
    };
    return { env, database: { url: schema.url, schema: schema.schema }, close };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface DeploymentOptions {
  mode: 'embedded' | 'scale-out';
  /**
   * The kernel registered, raw BTF, under `ref`; in S3 as `format` (scale-out: `btf` by
   * default, or `btf.tar.xz`, the BTFHub layout, made from `btf` here).
   */
  kernel: { ref: KernelRef; btf: Uint8Array; format?: 'btf' | 'btf.tar.xz' };
  /** `btfhub worker` processes (scale-out; default 1). */
  workers?: number;
  /**
   * A script run (through the TypeScript loader) as each worker instead of `btfhub worker`:
   * a test's own entry around the real wiring, e.g. test/jobs/fixtures/worker-entry.ts.
   */
  workerEntry?: string;
  /** A prefix of the Redis keys' and temp directory's names, to tell runs apart. */
  label?: string;
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
  /** Scale-out: the PostgreSQL schema the processes use, for a catalog a test opens itself. */
  database?: { url: string; schema: string };
  close(onError?: CleanupErrorHandler): Promise<void>;
}

export async function startDeployment(options: DeploymentOptions): Promise<Deployment> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const procs: Proc[] = [];
  const close = async (onError?: CleanupErrorHandler) => {
    await Promise.allSettled(procs.map((p) => stop(p.child)));
    await runCleanups(cleanups, onError);
  };
  const killAll = () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  cleanups.push(async () => process.off('exit', killAll));
  const label = options.label ?? 'deployment';
  try {
    if (options.workerEntry !== undefined && options.dist === true) throw new Error('workerEntry runs from the sources only');
    const dir = await mkdtemp(join(tmpdir(), `btfhub-${label}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const common: Record<string, string> = {
      BTFHUB_DATA_DIR: join(dir, 'data'),
      BTFHUB_REGISTER_HOST_KERNEL: 'false',
      BTFHUB_RATE_LIMIT_MAX: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    };
    const { ref, btf, format = 'btf' } = options.kernel;
    const path = `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.btf`;
    const serve = ['serve', '--port', String(port), '--host', '127.0.0.1'];
    const cli = cliEntry(options.dist);
    let database: Deployment['database'];
    if (options.mode === 'embedded') {
      if (format !== 'btf') throw new Error(`an embedded deployment registers raw BTF, not ${format}`);
      await mkdir(join(dir, 'archive', path, '..'), { recursive: true });
      await writeFile(join(dir, 'archive', path), btf);
      procs.push(launch('api', [...cli, ...serve, '--archive', join(dir, 'archive')], { ...common, ...options.apiEnv }));
    } else {
      const services = await startScaleOutServices(label);
      cleanups.push(() => services.close());
      database = services.database;
      Object.assign(common, services.env);
      const store = createObjectStore(loadConfig(common));
      const catalog = await openCatalog({ kind: 'postgres', ...services.database });
      try {
        await catalog.migrate();
        await store.put(kernelKey(ref, format), format === 'btf' ? btf : await makeBtfTarXz(ref.kernel, btf));
        const registered = await registerKernelsFromStore(store, catalog);
        if (registered.added !== 1) throw new Error(`the kernel in S3 was not registered: ${JSON.stringify(registered)}`);
      } finally {
        await catalog.close();
        await store.close();
      }
      procs.push(launch('api', [...cli, ...serve], { ...common, ...options.apiEnv }));
      const worker = options.workerEntry === undefined ? [...cli, 'worker'] : throughLoader(options.workerEntry);
      for (let i = 1; i <= (options.workers ?? 1); i++) procs.push(launch(`worker-${i}`, worker, { ...common, ...options.workerEnv }));
    }
    const timeout = options.startTimeoutMs ?? 120_000;
    await Promise.all(
      procs.map((p) => {
        const ready = p.name === 'api' ? 'btfhub serve listening' : 'btfhub worker ready';
        return p.waitForLog((l) => l.msg === ready, timeout);
      }),
    );
    return { base: `http://127.0.0.1:${port}`, api: procs[0]!, workers: procs.slice(1), database, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Node's arguments that run the CLI: the built one, or the sources. */
function cliEntry(dist = false): string[] {
  return dist ? [join(REPO_ROOT, 'dist/src/cli/main.js')] : throughLoader(join(REPO_ROOT, 'src/cli/main.ts'));
}

/** Node's arguments that run a TypeScript script through our loader: nothing to compile first. */
function throughLoader(script: string): string[] {
  return [...tsLoaderArgs(), script];
}

/**
 * The FormData of POST /api/v1/btf over fetch: the objects (`<name>.bpf.o`), then the
 * kernel fields, so the API is seen to take fields that come after the file.
 */
export function btfFormData(objects: readonly { name: string; bytes: Uint8Array }[], fields: Record<string, string>): FormData {
  const form = new FormData();
  for (const o of objects) form.append('object', new Blob([o.bytes]), `${o.name}.bpf.o`);
  for (const [field, value] of Object.entries(fields)) form.append(field, value);
  return form;
}

/** Spawns `node <args>`; its output is kept (a tail) and its JSON log lines parsed as they come. */
function launch(name: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let raw = '';
  let partial = '';
  // Pending waitForLog checks, run on every chunk of stdout and on exit (no polling).
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const check of waiters) check();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw = (raw + chunk).slice(-20_000);
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ msg: line });
      }
    }
    wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (raw = (raw + chunk).slice(-20_000)));
  child.once('exit', wake);
  const pid = child.pid!;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    child,
    pid,
    lines,
    output: () => raw.slice(-4000),
    alive() {
      if (exited()) return false;
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
    waitForLog(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(predicate);
          if (found !== undefined) {
            finish();
            resolve(found);
          } else if (exited()) {
            finish();
            reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before the expected log line:\n${raw.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${name}: expected log line not seen within ${timeoutMs} ms:\n${raw.slice(-4000)}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
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
