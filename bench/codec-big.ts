/**
 * The big-object bench: a tracee-sized CO-RE object (>= 30,000 relocations over >= 500 kernel
 * types) generated for this machine's kernel and compiled with clang
 * (test/fixtures/big-object.ts), trimmed in process phase by phase, against bpftool's whole
 * `gen min_core_btf` process on the same files, measured in the same run. Prints a table and
 * whether our output equals bpftool's byte for byte; asserts nothing. Skipped (with a line
 * saying why) where clang, bpftool or /sys/kernel/btf/vmlinux is missing.
 *
 *   parse    parseBpfObject: ELF, .BTF index, .BTF.ext records
 *   resolve  every relocation against the decoded kernel (CO-RE only, nothing marked)
 *   trim     parse + resolve + mark + build + encode: what a request costs with the kernel
 *            decoded; the goal is <= 0.5x bpftool's whole process
 *   encode   the encoder alone, on the trimmed type list
 *   verify   every relocation again against the full and the trimmed BTF, compared
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Btf,
  encodeBtf,
  parseBpfObject,
  readWorkCounters,
  RelocationResolver,
  resetWorkCounters,
  trimBtf,
  trimBtfTypes,
  verifyTrim,
} from '../src/btf/index.js';
import { ensureBigObject, TRACEE_SIZE } from '../test/fixtures/big-object.js';
import { KERNEL_BTF } from '../test/fixtures/build-fixtures.js';
import { whyFixturesCannotBeBuilt } from '../test/helpers/fixtures.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeRuns(runs: number, f: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function runBigObjectBench(options: { runs?: number; bpftoolRuns?: number } = {}): Promise<string[]> {
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  const cannot = await whyFixturesCannotBeBuilt();
  if (cannot) {
    say(`codec, big object: skipped (${cannot})`);
    return lines;
  }
  const buildStart = performance.now();
  const big = await ensureBigObject(TRACEE_SIZE, KERNEL_BTF);
  const buildSeconds = (performance.now() - buildStart) / 1000;
  const bytes = new Uint8Array(readFileSync(big.objectPath));
  const raw = new Uint8Array(readFileSync(big.vmlinuxPath));
  const kernel = Btf.parse(raw);
  say(
    `codec, big object: ${(bytes.length / 1e6).toFixed(2)} MB, ${big.relocations} CO-RE relocations over ${big.types} types (generated for this kernel${buildSeconds > 1 ? `, built in ${buildSeconds.toFixed(0)} s` : ', cached'})`,
  );

  const runs = options.runs ?? 15;
  // Warm up every path once.
  const object = parseBpfObject(bytes, 'big.bpf.o');
  const ours = trimBtf(kernel, [object]);
  const types = trimBtfTypes(kernel, [object]);

  const dir = mkdtempSync(join(tmpdir(), 'btfhub-bench-big-'));
  let bpftoolMs: number;
  let identical: boolean;
  try {
    const out = join(dir, 'out.btf');
    const run = () => execFileSync('bpftool', ['gen', 'min_core_btf', big.vmlinuxPath, out, big.objectPath]);
    run();
    identical = Buffer.from(ours).equals(readFileSync(out));
    bpftoolMs = timeRuns(options.bpftoolRuns ?? 10, run);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const parseMs = timeRuns(runs, () => parseBpfObject(bytes, 'big.bpf.o'));
  const resolveMs = timeRuns(runs, () => {
    // As the trimmer resolves: repeats get outcomes only.
    const resolver = new RelocationResolver(kernel, object, { keep: 'outcome' });
    for (let step = resolver.next(); step !== null; step = resolver.next()) if (step.error) throw step.error;
  });
  const trimMs = timeRuns(runs, () => trimBtf(kernel, [parseBpfObject(bytes, 'big.bpf.o')]));
  const encodeMs = timeRuns(runs, () => encodeBtf(types));
  const trimmed = Btf.parse(ours);
  const verifyMs = timeRuns(runs, () => verifyTrim(kernel, trimmed, [object]));
  const coldMs = timeRuns(Math.max(3, Math.floor(runs / 3)), () => trimBtf(Btf.parse(raw), [parseBpfObject(bytes, 'big.bpf.o')]));
  resetWorkCounters();
  trimBtf(kernel, [object]);
  const steps = readWorkCounters().coreSteps;

  const row = (what: string, ms: string, vs: string) => say(`| ${what.padEnd(52)} | ${ms.padStart(11)} | ${vs.padStart(28)} |`);
  say(`| ${'big object, phase (median of runs)'.padEnd(52)} | ${'ours'.padStart(11)} | ${'vs bpftool whole process'.padStart(28)} |`);
  say(`|${'-'.repeat(54)}|${'-'.repeat(13)}|${'-'.repeat(30)}|`);
  const ratio = (ms: number) => `${(ms / bpftoolMs).toFixed(2)}x`;
  row('parse object', `${parseMs.toFixed(1)} ms`, ratio(parseMs));
  row('resolve every relocation (kernel decoded)', `${resolveMs.toFixed(1)} ms`, ratio(resolveMs));
  row('encode trimmed BTF', `${encodeMs.toFixed(2)} ms`, ratio(encodeMs));
  row('trim: parse + resolve + mark + build + encode', `${trimMs.toFixed(1)} ms`, `${ratio(trimMs)} (goal <= 0.50x)`);
  row('verify trim (resolve twice, compare)', `${verifyMs.toFixed(1)} ms`, ratio(verifyMs));
  row('cold trim (kernel decode included)', `${coldMs.toFixed(1)} ms`, ratio(coldMs));
  row('bpftool gen min_core_btf (whole process)', `${bpftoolMs.toFixed(1)} ms`, '1.00x');
  row('output byte-identical to bpftool', identical ? 'yes' : 'NO', `${ours.length} bytes`);
  row('CO-RE steps per input byte (limit maxCoreStepsPerByte)', (steps / (bytes.length + raw.length)).toFixed(4), `${steps} steps`);
  return lines;
}
