/**
 * The closing-note table of issue 9: each hostile family (test/helpers/hostile-families.ts)
 * POSTed to a fresh deployment of the built service, embedded (`btfhub serve`: the codec on
 * its worker threads) and scale-out (`btfhub serve` as the API plus one `btfhub worker`, on
 * Redis, PostgreSQL and an s3rver; test/e2e/deployment.ts), with its input size, the answer,
 * the time it took, how long `/healthz` took meanwhile, and the peak RSS of the API and of the
 * worker process. VmHWM (/proc/<pid>/status) is a process's peak since it started and cannot
 * be reset, so every family gets processes of its own; the `idle` row is a deployment that
 * was started and asked nothing.
 *
 *   npm run build
 *   node --import ./scripts/ts-register.mjs scripts/hostile-table.ts [--sources] [--mode embedded|scale-out]
 *
 * `--sources` runs src/ through the TypeScript loader instead of dist/ (slower, larger RSS).
 */
import { loadFixtures } from '../test/helpers/fixtures.js';
import { type HostileCase, HOSTILE_API_ENV, HOSTILE_CASES, HOSTILE_ENV } from '../test/helpers/hostile-families.js';
import { withRepeatedRelocations } from '../test/helpers/hostile-inputs.js';
import { type Deployment, startDeployment } from '../test/e2e/deployment.js';

const dist = !process.argv.includes('--sources');
const modeArg = process.argv.indexOf('--mode');
const modes = (modeArg === -1 ? ['embedded', 'scale-out'] : [process.argv[modeArg + 1]]) as ('embedded' | 'scale-out')[];
const fixtures = await loadFixtures();
const real = fixtures.objects.get('tools_like')!.bytes;
const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const FIELDS = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' };

interface Row {
  input: string;
  answer: string;
  ms: string;
  healthz: string;
}

async function measure(deployment: Deployment, c: HostileCase): Promise<Row> {
  const bytes = c.make(real);
  const form = new FormData();
  for (const [k, v] of Object.entries(FIELDS)) form.append(k, v);
  form.append('object', new Blob([bytes]), 'hostile.bpf.o');
  const started = performance.now();
  const answer = fetch(`${deployment.base}/api/v1/btf`, { method: 'POST', body: form }).then(async (res) => ({
    status: res.status,
    body: await res.text(),
    ms: performance.now() - started,
  }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const h0 = performance.now();
  const health = await fetch(`${deployment.base}/healthz`);
  const healthMs = performance.now() - h0;
  const res = await answer;
  let error = '';
  if (res.status !== 200) {
    const body = JSON.parse(res.body) as { error: string; limit?: string };
    error = ` ${body.error}${body.limit ? ` (${body.limit})` : ''}`;
  }
  return {
    input: `${(bytes.length / 1e6).toFixed(2)} MB${c.inflated ? ` (${(c.inflated / 1e6).toFixed(0)} MB inflated)` : ''}`,
    answer: `${res.status}${error}`,
    ms: res.ms.toFixed(0),
    healthz: `${health.status} in ${healthMs.toFixed(0)} ms`,
  };
}

const idle: HostileCase = { family: 'idle (no request)', make: () => new Uint8Array() };
/** The issue's own million-relocation input (16 MB), beside the suite's sizes. */
const issueMillion: HostileCase = { family: "relocations x1M (the issue's input)", make: (r) => withRepeatedRelocations(r, 7000) };
for (const mode of modes) {
  console.log(`\n${mode} (${dist ? 'dist/' : 'sources through the TS loader'}; ${process.version})\n`);
  console.log('| family | input | answer | time | /healthz during | API peak RSS | worker peak RSS |');
  console.log('|---|---|---|---|---|---|---|');
  for (const c of [idle, ...HOSTILE_CASES, issueMillion]) {
    const deployment = await startDeployment({
      mode,
      kernel: { ref: KERNEL, btf: fixtures.vmlinux },
      workers: 1,
      env: { ...HOSTILE_ENV, LOG_LEVEL: 'info' },
      apiEnv: HOSTILE_API_ENV,
      dist,
    });
    try {
      const row = c === idle ? { input: '-', answer: '-', ms: '-', healthz: '-' } : await measure(deployment, c);
      const apiPeak = (await deployment.api.peakRssMiB()).toFixed(0);
      const workerPeak = deployment.workers.length === 0 ? 'in the API' : (await deployment.workers[0]!.peakRssMiB()).toFixed(0);
      const up = [deployment.api, ...deployment.workers].every((p) => p.alive()) ? '' : ' (a process died)';
      console.log(
        `| ${c.family}${up} | ${row.input} | ${row.answer} | ${row.ms} ms | ${row.healthz} | ${apiPeak} MiB | ${workerPeak}${deployment.workers.length ? ' MiB' : ''} |`,
      );
    } finally {
      await deployment.close();
    }
  }
}
