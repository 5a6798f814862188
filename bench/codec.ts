/**
 * Codec benchmark: our in-process trim against `bpftool gen min_core_btf`, measured in the
 * same run on the same inputs (the machine's kernel BTF, or the committed prebuilt one, and
 * the libbpf-tools-sized `tools_like` fixture). Prints a table; asserts nothing.
 *
 *   cold: full BTF bytes in memory, not decoded: decode index + parse object + trim + encode
 *   hot:  kernel already decoded: parse object + trim + encode
 *   memory: decoded kernel (raw bytes + offsets + name index) against the raw BTF size
 *
 * Then the big-object bench (bench/codec-big.ts): a tracee-sized object generated for this
 * kernel, phase by phase, against bpftool's whole process.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, parseBpfObject, trimBtf } from '../src/btf/index.js';
import { loadFixtures } from '../test/helpers/fixtures.js';
import { runBigObjectBench } from './codec-big.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

function time(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

export async function runCodecBench(options: { bpftoolRuns?: number; coldRuns?: number; hotRuns?: number } = {}): Promise<string[]> {
  const fixtures = await loadFixtures();
  const objectName = 'tools_like';
  const object = fixtures.objects.get(objectName);
  if (!object) throw new Error(`fixture ${objectName} is missing`);
  const raw = fixtures.vmlinux;
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  const relocs = parseBpfObject(object.bytes, objectName).ext.coreRelos.reduce((n, s) => n + s.records.length, 0);
  say(
    `codec: kernel BTF ${(raw.length / 1e6).toFixed(2)} MB (${fixtures.source}), object ${objectName}.bpf.o with ${relocs} CO-RE relocations`,
  );

  let bpftoolMs: number | undefined;
  if (fixtures.hasBpftool) {
    const dir = mkdtempSync(join(tmpdir(), 'btfhub-bench-'));
    try {
      const out = join(dir, 'out.btf');
      const runs: number[] = [];
      execFileSync('bpftool', ['gen', 'min_core_btf', fixtures.vmlinuxPath, out, object.path]);
      for (let i = 0; i < (options.bpftoolRuns ?? 20); i++) {
        runs.push(time(() => execFileSync('bpftool', ['gen', 'min_core_btf', fixtures.vmlinuxPath, out, object.path])));
      }
      bpftoolMs = median(runs);
      writeFileSync(join(dir, 'done'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const coldRuns: number[] = [];
  const firstCold = time(() => trimBtf(Btf.parse(raw), [parseBpfObject(object.bytes, objectName)]));
  for (let i = 0; i < (options.coldRuns ?? 30); i++)
    coldRuns.push(time(() => trimBtf(Btf.parse(raw), [parseBpfObject(object.bytes, objectName)])));

  const kernel = Btf.parse(raw);
  for (let i = 0; i < 200; i++) trimBtf(kernel, [parseBpfObject(object.bytes, objectName)]);
  const hotRuns: number[] = [];
  for (let i = 0; i < (options.hotRuns ?? 1000); i++) hotRuns.push(time(() => trimBtf(kernel, [parseBpfObject(object.bytes, objectName)])));

  const gc = (globalThis as { gc?: () => void }).gc;
  let heapDelta: number | undefined;
  if (gc) {
    // V8 frees a dead ArrayBuffer's memory after the collection, on a task of its own: without
    // the turns of the event loop in between, the runs above still counted in `before` (the
    // figure came out negative).
    const settled = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return process.memoryUsage();
    };
    const before = await settled();
    const held = Btf.parse(raw.slice());
    trimBtf(held, [parseBpfObject(object.bytes, objectName)]);
    const after = await settled();
    heapDelta = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
    void held.typeCount;
  }

  const row = (what: string, ours: string, ref: string, ratio: string) =>
    say(`| ${what.padEnd(44)} | ${ours.padStart(12)} | ${ref.padStart(14)} | ${ratio.padStart(22)} |`);
  say(`| ${'measure'.padEnd(44)} | ${'ours'.padStart(12)} | ${'bpftool'.padStart(14)} | ${'ratio'.padStart(22)} |`);
  say(`|${'-'.repeat(46)}|${'-'.repeat(14)}|${'-'.repeat(16)}|${'-'.repeat(24)}|`);
  const vs = (ms: number) => (bpftoolMs === undefined ? 'n/a' : `${(bpftoolMs / ms).toFixed(1)}x faster`);
  row(
    'cold trim, median of runs (decode+trim+encode)',
    `${median(coldRuns).toFixed(2)} ms`,
    bpftoolMs === undefined ? 'n/a' : `${bpftoolMs.toFixed(2)} ms`,
    vs(median(coldRuns)),
  );
  row(
    'cold trim, first run in the process',
    `${firstCold.toFixed(2)} ms`,
    bpftoolMs === undefined ? 'n/a' : `${bpftoolMs.toFixed(2)} ms`,
    vs(firstCold),
  );
  row(
    'hot trim, median (kernel decoded)',
    `${median(hotRuns).toFixed(3)} ms`,
    bpftoolMs === undefined ? 'n/a' : `${bpftoolMs.toFixed(2)} ms`,
    vs(median(hotRuns)),
  );
  row('hot trim, p99', `${p99(hotRuns).toFixed(3)} ms`, '', '');
  row(
    'decoded kernel held in memory / raw BTF',
    `${(kernel.memoryBytes / 1e6).toFixed(2)} MB`,
    `${(raw.length / 1e6).toFixed(2)} MB raw`,
    `${(kernel.memoryBytes / raw.length).toFixed(2)}x raw (goal < 2x)`,
  );
  if (heapDelta !== undefined)
    row(
      'measured heap + buffers for one decoded kernel',
      `${(heapDelta / 1e6).toFixed(2)} MB`,
      '',
      `${(heapDelta / raw.length).toFixed(2)}x raw`,
    );
  lines.push(...(await runBigObjectBench()));
  return lines;
}
