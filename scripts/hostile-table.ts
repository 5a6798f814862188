/**
 * The closing-note table of issue 9: each hostile family POSTed to a real `btfhub serve`
 * (a child process, embedded default: the codec on worker threads), with its input size, the
 * answer, the time it took, and the API process's peak RSS during it (VmHWM of
 * /proc/<pid>/status, reset before each request through /proc/<pid>/clear_refs). `/healthz`
 * is timed while each request runs.
 *
 *   node --import @tapjs/typescript/import scripts/hostile-table.ts [--dist]
 *
 * `--dist` runs the built service (npm run build) instead of the sources through the loader.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildElf } from '../test/helpers/elf-builder.js';
import { loadFixtures } from '../test/helpers/fixtures.js';
import {
  btfWithSharedNames,
  deepTypedefChains,
  elfWithSharedSectionNames,
  longMemberLists,
  manyExtSections,
  objectOnManyTypes,
  withRepeatedRelocations,
} from '../test/helpers/hostile-inputs.js';
import { parseElf } from '../src/btf/index.js';

const dist = process.argv.includes('--dist');
const fixtures = await loadFixtures();
const real = fixtures.objects.get('tools_like')!.bytes;

function withBtf(btf: Uint8Array): Uint8Array {
  const ext = parseElf(real).sections.find((s) => s.name === '.BTF.ext')!;
  return buildElf({
    sections: [
      { name: '.BTF', data: btf },
      { name: '.BTF.ext', data: real.slice(ext.offset, ext.offset + ext.size) },
    ],
  });
}

const families: { family: string; make: () => Uint8Array; gzip?: boolean }[] = [
  { family: 'shared section names', make: () => elfWithSharedSectionNames(1000, 200_000, false) },
  { family: 'many sections', make: () => elfWithSharedSectionNames(60_000, 32, true) },
  { family: 'shared type names', make: () => withBtf(btfWithSharedNames(40_000, 2_000_000, false)) },
  { family: 'many types', make: () => objectOnManyTypes(30_000) },
  { family: 'relocations x1M (over the bound)', make: () => withRepeatedRelocations(real, 7000) },
  { family: 'relocations 250k (within)', make: () => withRepeatedRelocations(real, 1700) },
  { family: 'long member lists', make: () => longMemberLists(30_000).object },
  { family: 'deep type chains', make: () => deepTypedefChains(20_000).object },
  { family: 'many .BTF.ext sections', make: () => manyExtSections(60_000) },
  { family: 'gzip bomb (64 MiB)', make: () => new Uint8Array(64 * 1024 * 1024), gzip: true },
];

const dir = await mkdtemp(join(tmpdir(), 'btfhub-hostile-'));
const archive = join(dir, 'archive', 'ubuntu', '22.04', 'x86_64');
await mkdir(archive, { recursive: true });
await writeFile(join(archive, '5.15.0-91-generic.btf'), fixtures.vmlinux);
const port = 20_000 + (process.pid % 20_000);
const args = dist ? ['dist/src/cli/main.js'] : ['--import', '@tapjs/typescript/import', 'src/cli/main.ts'];
const child = spawn(
  process.execPath,
  [...args, 'serve', '--data', join(dir, 'data'), '--archive', join(dir, 'archive'), '--port', String(port)],
  {
    env: {
      ...process.env,
      BTFHUB_REGISTER_HOST_KERNEL: 'false',
      LOG_LEVEL: 'warn',
      BTFHUB_REQUEST_WAIT_MS: '120000',
      BTFHUB_RATE_LIMIT_MAX: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    if ((await fetch(`${base}/healthz`).catch(() => null))?.ok) break;
    if (i > 600) throw new Error('btfhub serve did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const peak = async () => Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  console.log('| family | input | answer | time | /healthz during | API peak RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const f of families) {
    const raw = f.make();
    const bytes = f.gzip ? gzipSync(raw) : raw;
    await writeFile(`/proc/${child.pid}/clear_refs`, '5');
    const form = new FormData();
    for (const [k, v] of Object.entries({ distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' }))
      form.append(k, v);
    form.append('object', new Blob([bytes]), 'hostile.bpf.o');
    const started = performance.now();
    const answer = fetch(`${base}/api/v1/btf`, { method: 'POST', body: form }).then(async (res) => ({
      status: res.status,
      body: await res.text(),
      ms: performance.now() - started,
    }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const h0 = performance.now();
    const health = await fetch(`${base}/healthz`);
    const healthMs = performance.now() - h0;
    const res = await answer;
    const error =
      res.status === 200
        ? ''
        : ` ${(JSON.parse(res.body) as { error: string; limit?: string }).error}${(JSON.parse(res.body) as { limit?: string }).limit ? ` (${(JSON.parse(res.body) as { limit?: string }).limit})` : ''}`;
    console.log(
      `| ${f.family} | ${(bytes.length / 1e6).toFixed(2)} MB${f.gzip ? ` (${(raw.length / 1e6).toFixed(0)} MB inflated)` : ''} | ${res.status}${error} | ${res.ms.toFixed(0)} ms | ${health.status} in ${healthMs.toFixed(0)} ms | ${(await peak()).toFixed(0)} MiB |`,
    );
  }
  console.log(`(API process: ${dist ? 'dist/' : 'sources through the TS loader'}; ${process.version})`);
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await rm(dir, { recursive: true, force: true });
}
