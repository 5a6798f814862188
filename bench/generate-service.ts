/**
 * One generation through the service, scale-out layout on this machine: `btfhub serve` (API
 * only, BullMQ producer) and `btfhub worker` (the generate lane) as two processes over the
 * machine's Redis, one filesystem store and one SQLite catalog under a temporary data
 * directory. The package (a .deb from `bench/generate-large.ts --keep`, or any debug package)
 * is POSTed to /api/v1/kernels/generate as a streamed multipart body; the job is followed to
 * its end. Reported: upload and job times, the API's and the worker's peak RSS (VmHWM), and
 * pahole's peak RSS as the job measured it.
 *
 *   node --import ./scripts/ts-register.mjs bench/generate-service.ts --package FILE.deb \
 *     --distro debian --distro-version 12 --arch x86_64 --kernel 6.1.0-999-amd64
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deleteRedisKeys } from '../test/jobs/setup.js';
import { freePort } from '../test/helpers/net.js';
import { tsLoaderArgs } from '../scripts/ts-loader.js';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    distro: { type: 'string', default: 'debian' },
    'distro-version': { type: 'string', default: '12' },
    arch: { type: 'string', default: 'x86_64' },
    kernel: { type: 'string', default: '6.1.0-999-amd64' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
if (values.package === undefined) throw new Error('--package FILE is required');
const packagePath = values.package;

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TOKEN = randomBytes(24).toString('hex');
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

const dataDir = await mkdtemp(join(tmpdir(), 'btfhub-generate-service-bench-'));
const port = await freePort();
const prefix = `btfhub-bench-${randomBytes(4).toString('hex')}`;
const env = {
  ...process.env,
  BTFHUB_DATA_DIR: dataDir,
  BTFHUB_PORT: String(port),
  REDIS_URL: values.redis,
  BTFHUB_QUEUE_PREFIX: prefix,
  BTFHUB_ADMIN_TOKEN: TOKEN,
  BTFHUB_REGISTER_HOST_KERNEL: 'false',
  BTFHUB_REQUEST_TIMEOUT_MS: '3600000',
  LOG_LEVEL: 'warn',
};
const children: ChildProcess[] = [];
const launch = (args: string[]) => {
  const child = spawn(process.execPath, [...tsLoaderArgs(), join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
};

try {
  const api = launch(['serve']);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 600) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const worker = launch(['worker']);
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const size = (await stat(packagePath)).size;
  const form = new FormData();
  form.append('distro', values.distro);
  form.append('distro_version', values['distro-version']);
  form.append('arch', values.arch);
  form.append('kernel_version', values.kernel);
  form.append('package', await openAsBlob(packagePath), basename(packagePath));
  const started = performance.now();
  const res = await fetch(`${base}/api/v1/kernels/generate`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } });
  const uploadMs = performance.now() - started;
  if (res.status !== 202) throw new Error(`POST /api/v1/kernels/generate: ${res.status} ${await res.text()}`);
  const location = res.headers.get('location')!;
  let job: {
    state: string;
    error?: { message: string };
    result?: {
      pahole: { duration_ms: number; peak_rss_bytes: number | null } | null;
      provenance?: { pahole: { duration_ms: number; peak_rss_bytes: number | null } } | null;
      kernel_size: number;
      type_count: number;
    };
  };
  for (;;) {
    job = (await (await fetch(`${base}${location}`)).json()) as typeof job;
    if (job.state === 'completed' || job.state === 'failed') break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const totalMs = performance.now() - started;
  if (job.state !== 'completed') throw new Error(`the job failed: ${job.error?.message}`);
  const pahole = job.result!.provenance!.pahole;
  console.log(
    [
      `package ${basename(packagePath)}: ${mib(size)}`,
      `upload (POST until 202): ${(uploadMs / 1000).toFixed(1)} s; POST to job completed: ${(totalMs / 1000).toFixed(1)} s`,
      `pahole ${(pahole.duration_ms / 1000).toFixed(1)} s, pahole peak RSS ${pahole.peak_rss_bytes === null ? '?' : mib(pahole.peak_rss_bytes)}`,
      `API peak RSS ${mib(await peakRss(api.pid!))}; worker peak RSS ${mib(await peakRss(worker.pid!))}`,
      `registered ${(job.result!.kernel_size / 1024).toFixed(0)} KiB .btf.tar.xz, ${job.result!.type_count} types`,
    ].join('\n'),
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
  await deleteRedisKeys(values.redis, prefix);
}
