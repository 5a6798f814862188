/**
 * Generation on a large kernel-shaped input: CUS compilation units, each with one header of
 * TYPES structs in its DWARF (`gcc -g -fno-eliminate-unused-debug-types`), so every unit
 * repeats every type as a real vmlinux's thousands of units do (pahole then deduplicates
 * them). The vmlinux is packaged as a .deb (xz data, as Debian's)
 * and generated through the library; the report gives sizes, times and peak memory of our
 * process and of pahole, with pahole alone on the bare vmlinux for comparison.
 *
 *   node --import ./scripts/ts-register.mjs bench/generate-large.ts [--cus 400] [--types 2000]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { generateKernelBtf } from '../src/generate/index.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { cus: { type: 'string', default: '400' }, types: { type: 'string', default: '2000' }, keep: { type: 'boolean' } },
});
const CUS = Number(values.cus);
const TYPES = Number(values.types);
const mini = await readFile(new URL('../test/fixtures/generate/mini-kernel.c', import.meta.url), 'utf8');

const dir = await mkdtemp(join(tmpdir(), 'btfhub-generate-bench-'));
try {
  const header: string[] = ['#pragma once'];
  for (let i = 0; i < TYPES; i++) {
    const members = Array.from({ length: 16 }, (_, m) => {
      const kind = (i + m) % 5;
      if (kind === 0) return `\tunsigned long f${m};`;
      if (kind === 1) return `\tstruct bench_${(i + m) % TYPES} *p${m};`;
      if (kind === 2) return `\tunsigned int b${m}:${1 + (m % 7)};`;
      if (kind === 3) return `\tenum bench_e${i % 50} e${m};`;
      return `\tchar a${m}[${m + 1}];`;
    });
    if (i < 50) header.push(`enum bench_e${i} { BENCH_E${i}_A, BENCH_E${i}_B = ${i} };`);
    header.push(`struct bench_${i};`);
    header.push(`struct bench_${i} {\n\tunsigned long id;\n${members.join('\n')}\n};`);
    header.push(`typedef struct bench_${i} bench_${i}_t;`);
  }
  await writeFile(join(dir, 'bench.h'), header.join('\n'));
  // One unit is compiled; the others are copies of its object with their symbols renamed
  // (objcopy --prefix-symbols): a real build compiles thousands of units that share headers,
  // and what pahole sees is the same, the types repeated in every unit's DWARF.
  const unit = join(dir, 'unit.c');
  await writeFile(unit, `#include "bench.h"\nint unit_fn(struct bench_0 *p) { return p ? (int)p->id : 0; }\n`);
  const kernel = join(dir, 'kernel.c');
  await writeFile(kernel, mini);
  const started = performance.now();
  const flags = ['-g', '-O0', '-fno-eliminate-unused-debug-types', '-fno-stack-protector', '-c'];
  await run('gcc', [...flags, '-o', join(dir, 'unit.o'), unit]);
  await run('gcc', [...flags, '-o', join(dir, 'kernel.o'), kernel]);
  const objects = [join(dir, 'kernel.o')];
  for (let cu = 0; cu < CUS; cu++) {
    const copy = join(dir, `cu${cu}.o`);
    await run('objcopy', [`--prefix-symbols=cu${cu}_`, join(dir, 'unit.o'), copy]);
    objects.push(copy);
  }
  const release = '6.1.0-999-amd64';
  const root = join(dir, 'pkg');
  const vmlinux = join(root, 'usr/lib/debug/boot', `vmlinux-${release}`);
  await mkdir(join(root, 'usr/lib/debug/boot'), { recursive: true });
  await mkdir(join(root, 'DEBIAN'));
  await run('gcc', ['-nostdlib', '-static', '-no-pie', '-Wl,-e,start_kernel', '-o', vmlinux, ...objects], { maxBuffer: 1 << 26 });
  const buildMs = performance.now() - started;
  await writeFile(
    join(root, 'DEBIAN/control'),
    `Package: linux-image-${release}-dbg\nVersion: 1\nArchitecture: amd64\nMaintainer: bench <b@example.invalid>\nDescription: bench\n`,
  );
  const deb = join(dir, `linux-image-${release}-dbg_1_amd64.deb`);
  const packStart = performance.now();
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', root, deb]);
  const packMs = performance.now() - packStart;
  const vmlinuxBytes = (await stat(vmlinux)).size;
  const debBytes = (await stat(deb)).size;

  // pahole alone, through GNU time for its peak memory.
  const detached = join(dir, 'direct.btf');
  const direct = await run('/usr/bin/time', [
    '-v',
    'pahole',
    '--btf_gen_floats',
    '--skip_encoding_btf_type_tag',
    '--skip_encoding_btf_decl_tag',
    '--skip_encoding_btf_enum64',
    `--btf_encode_detached=${detached}`,
    vmlinux,
  ]).catch((e: { stderr: string }) => ({ stderr: e.stderr }));
  const wall = /Elapsed \(wall clock\) time.*: (.*)/.exec(direct.stderr)?.[1];
  const maxKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(direct.stderr)?.[1];

  const rssBefore = process.memoryUsage().rss;
  const genStart = performance.now();
  const result = await generateKernelBtf({ file: deb }, { tmpDir: dir });
  const genMs = performance.now() - genStart;
  const same = Buffer.compare(Buffer.from(result.btf), await readFile(detached)) === 0;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(
    [
      `inputs: ${CUS} units x ${TYPES} structs; vmlinux ${mib(vmlinuxBytes)} (built in ${(buildMs / 1000).toFixed(1)} s), .deb (xz -1) ${mib(debBytes)} (packed in ${(packMs / 1000).toFixed(1)} s)`,
      `pahole alone: ${wall} wall, peak RSS ${maxKb ? mib(Number(maxKb) * 1024) : '?'}`,
      `generateKernelBtf(.deb): ${(genMs / 1000).toFixed(1)} s total; extract ${(result.extractMs / 1000).toFixed(1)} s; pahole ${(result.pahole.durationMs / 1000).toFixed(1)} s, pahole peak RSS ${result.pahole.peakRssBytes ? mib(result.pahole.peakRssBytes) : '?'}`,
      `our process: peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} (RSS before the call ${mib(rssBefore)})`,
      `BTF ${mib(result.btf.length)}, ${result.typeCount} types; same bytes as pahole alone: ${same}`,
    ].join('\n'),
  );
} finally {
  if (!values.keep) await rm(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
