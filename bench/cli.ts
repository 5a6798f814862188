/**
 * CLI benchmark: the whole `btfhub` process (the package's bin, `node dist/src/cli/btfhub.cjs`)
 * against Debian's bpftool 7.1.0 as a process, measured in the same run on the same files,
 * runs interleaved so both see the same machine load. Prints a table; asserts nothing.
 *
 *   help              `btfhub --help`: the cost of starting at all (node itself shown apart)
 *   one object        `trim` of tools_like.bpf.o (libbpf-tools sized)  goal <= 3x bpftool
 *   fixtures          `trim` of every fixture bpftool accepts, in one call  goal <= 1.0x
 *   corpus            `trim` of a generated corpus of 120 objects (bench/cli-corpus.ts),
 *                     in one call                                     goal <= 1.0x
 *   peak RSS          of the two many-object calls                    goal <= 100 MiB
 *   fetch, kernel     `btfhub fetch` answered by layer 2 (/sys/kernel/btf/vmlinux) goal < 100 ms;
 *                     reference: `bpftool btf dump file /sys/kernel/btf/vmlinux format raw`
 *
 * Start-up variables: Node 20 reads NODE_EXTRA_CA_CERTS, and builds its whole root certificate
 * store with it, before running any script (~50 ms of CPU on a 200-certificate bundle); later
 * Node versions load it when TLS first needs it. A sandbox or a corporate proxy may set it for
 * every process; an agent host usually does not. So the rows run without it, as bpftool's do,
 * and when it is set here one more row shows `node -e 0` with it, so its cost is in the table
 * (BENCH_CLI_KEEP_ENV=1 runs every row with the environment as it is).
 *
 * Each output is compared with bpftool's byte for byte and the table says so. Peak RSS is
 * `/usr/bin/time -f %M` when installed (apt-get install time), else VmHWM polled from /proc.
 * The CLI is built first (`npm run build`) when dist/ is missing or older than src/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KERNEL_BTF_PATH } from '../src/fetch/kernel.js';
import { loadFixtures, type FixtureSet } from '../test/helpers/fixtures.js';
import { DIST_CLI, ensureBuilt } from './build.js';
import { CORPUS_OBJECTS, corpusObjects, ensureCorpus } from './cli-corpus.js';

const CLI = DIST_CLI;
/** Read by Node 20 at start-up, before any script (see the top of this file). */
const STARTUP_VARIABLES = ['NODE_EXTRA_CA_CERTS'] as const;
const KEEP_ENV = process.env.BENCH_CLI_KEEP_ENV === '1';
/** The environment of every measured process: this one's, less the start-up variables unless kept. */
const CHILD_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => KEEP_ENV || !(STARTUP_VARIABLES as readonly string[]).includes(name)),
);
const TIME = '/usr/bin/time';

interface Sample {
  ms: number;
  /** Peak resident set, KiB; undefined when it could not be measured. */
  rssKiB: number | undefined;
  /** User + system CPU time, ms (with /usr/bin/time): steadier than wall time on a busy machine. */
  cpuMs: number | undefined;
  status: number;
  stderr: string;
}

/** Runs a command to its end: wall time, peak RSS, exit status. */
async function measure(command: string, args: readonly string[], env: NodeJS.ProcessEnv = CHILD_ENV): Promise<Sample> {
  const useTime = existsSync(TIME);
  const scratch = useTime ? mkdtempSync(join(tmpdir(), 'btfhub-cli-bench-')) : undefined;
  const rssFile = scratch && join(scratch, 'rss');
  const [file, argv] = useTime ? [TIME, ['-f', '%M %U %S', '-o', rssFile!, command, ...args]] : [command, [...args]];
  const started = performance.now();
  const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let polled = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) polled = Math.max(polled, Number(m[1]));
        } catch {
          // exited between two polls
        }
      }, 2);
  const status = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const ms = performance.now() - started;
  if (poll) clearInterval(poll);
  let rssKiB: number | undefined = polled || undefined;
  let cpuMs: number | undefined;
  if (rssFile) {
    const text = readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '';
    const m = /^(\d+) ([\d.]+) ([\d.]+)$/.exec(text);
    rssKiB = m ? Number(m[1]) : undefined;
    cpuMs = m ? (Number(m[2]) + Number(m[3])) * 1000 : undefined;
    rmSync(scratch, { recursive: true, force: true });
  }
  return { ms, rssKiB, cpuMs, status, stderr };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const maxOf = (xs: (number | undefined)[]) =>
  xs.reduce<number | undefined>((m, x) => (x === undefined ? m : Math.max(m ?? 0, x)), undefined);

interface Case {
  name: string;
  ours: readonly string[];
  reference?: { command: string; args: readonly string[] };
  /** Our output and bpftool's, compared when both are given. */
  outputs?: [string, string];
  runs: number;
  goal?: string;
  /** The processes' environment, when not CHILD_ENV. */
  env?: NodeJS.ProcessEnv;
}

interface Figures {
  ms: number;
  rssKiB: number | undefined;
  cpuMs: number | undefined;
}

interface Result {
  ours: Figures;
  reference?: Figures;
  identical?: boolean;
}

/** Medians of wall and CPU time, the largest peak RSS. */
function figures(samples: readonly Sample[]): Figures {
  const cpu = samples.map((s) => s.cpuMs).filter((x): x is number => x !== undefined);
  return {
    ms: median(samples.map((s) => s.ms)),
    rssKiB: maxOf(samples.map((s) => s.rssKiB)),
    cpuMs: cpu.length > 0 ? median(cpu) : undefined,
  };
}

async function runCase(c: Case): Promise<Result> {
  const ours: Sample[] = [];
  const reference: Sample[] = [];
  // One warm-up of each (page cache, the compile cache when Node has one), then interleaved runs.
  const first = await measure(process.execPath, [CLI, ...c.ours]);
  if (first.status !== 0) throw new Error(`${c.name}: btfhub ${c.ours.join(' ')} exited ${first.status}: ${first.stderr}`);
  if (c.reference) {
    const ref = await measure(c.reference.command, c.reference.args);
    if (ref.status !== 0) throw new Error(`${c.name}: ${c.reference.command} exited ${ref.status}: ${ref.stderr}`);
  }
  for (let i = 0; i < c.runs; i++) {
    ours.push(await measure(process.execPath, [CLI, ...c.ours]));
    if (c.reference) reference.push(await measure(c.reference.command, c.reference.args));
  }
  const result: Result = { ours: figures(ours) };
  if (c.reference) result.reference = figures(reference);
  if (c.outputs) result.identical = Buffer.compare(readFileSync(c.outputs[0]), readFileSync(c.outputs[1])) === 0;
  return result;
}

function vmlinuxHeader(fx: FixtureSet): string {
  const built = join(fx.dir, 'vmlinux.h');
  if (existsSync(built)) return readFileSync(built, 'utf8');
  return execFileSync('bpftool', ['btf', 'dump', 'file', fx.vmlinuxPath, 'format', 'c'], { encoding: 'utf8', maxBuffer: 256 << 20 });
}

function hasClang(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function runCliBench(options: { runs?: number; corpusRuns?: number } = {}): Promise<string[]> {
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  ensureBuilt(say);
  const fx = await loadFixtures();
  const runs = options.runs ?? 11;
  const scratch = mkdtempSync(join(tmpdir(), 'btfhub-cli-bench-out-'));
  try {
    const ourOut = join(scratch, 'ours.btf');
    const refOut = join(scratch, 'bpftool.btf');
    const trimCase = (name: string, objects: string[], caseRuns: number, goal: string): Case => ({
      name,
      ours: ['trim', '--btf', fx.vmlinuxPath, '--out', ourOut, ...objects],
      ...(fx.hasBpftool && {
        reference: { command: 'bpftool', args: ['gen', 'min_core_btf', fx.vmlinuxPath, refOut, ...objects] },
        outputs: [ourOut, refOut] as [string, string],
      }),
      runs: caseRuns,
      goal,
    });
    const toolsLike = fx.objects.get('tools_like');
    if (!toolsLike) throw new Error('fixture tools_like is missing');
    const accepted = [...fx.oracle.single.keys()]
      .filter((n) => !n.startsWith('type_matches'))
      .sort()
      .map((n) => fx.objects.get(n)!.path);

    const setHere = STARTUP_VARIABLES.filter((name) => process.env[name] !== undefined);
    const cases: Case[] = [
      { name: 'node -e 0 (the floor: Node itself)', ours: [], runs, goal: '' },
      ...(setHere.length > 0 && !KEEP_ENV
        ? [{ name: `node -e 0, ${setHere.join(', ')} as set here`, ours: [], runs, goal: '', env: process.env }]
        : []),
      { name: 'btfhub --help', ours: ['--help'], runs, goal: '' },
      trimCase('trim, one object (tools_like)', [toolsLike.path], runs, '<= 3x'),
      trimCase(`trim, ${accepted.length} fixtures in one call`, accepted, runs, '<= 1.0x'),
    ];
    if (fx.hasBpftool && hasClang()) {
      const corpus = await corpusObjects(await ensureCorpus(fx.vmlinux, vmlinuxHeader(fx), say));
      cases.push(trimCase(`trim, corpus of ${corpus.length} objects in one call`, corpus, options.corpusRuns ?? 5, '<= 1.0x'));
    } else {
      say(`cli: no corpus of ${CORPUS_OBJECTS} objects (needs clang and bpftool)`);
    }
    let kernelNote = '';
    try {
      statSync(join('/', KERNEL_BTF_PATH));
      cases.push({
        name: 'fetch, answered by layer 2 (kernel BTF)',
        ours: ['fetch', '--offline', '--quiet', toolsLike.path],
        // The same-run reference: bpftool reading the same file whole (what libbpf does with it).
        ...(fx.hasBpftool && {
          reference: { command: 'bpftool', args: ['btf', 'dump', 'file', join('/', KERNEL_BTF_PATH), 'format', 'raw'] },
        }),
        runs,
        goal: '< 100 ms',
      });
    } catch {
      kernelNote = `cli: no fetch figure: /${KERNEL_BTF_PATH} is not readable here`;
    }

    say(`cli: the compiled CLI (${process.execPath} ${process.version}) against bpftool, processes, median of ${runs} interleaved runs`);
    if (setHere.length > 0)
      say(
        KEEP_ENV
          ? `cli: ${setHere.join(', ')} set here and kept for every row (BENCH_CLI_KEEP_ENV=1)`
          : `cli: ${setHere.join(', ')} set here: the rows run without it, as an agent host would (BENCH_CLI_KEEP_ENV=1 keeps it); the second row is its cost`,
      );
    const widths = [44, 10, 10, 8, 9, 10, 10, 9, 9, 9, 9];
    const row = (cells: string[]) =>
      say(`| ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`);
    row(['measure', 'ours', 'bpftool', 'ratio', 'goal', 'our CPU', 'bpftool', 'CPU ratio', 'our RSS', 'bpftool', 'identical']);
    say(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    const mib = (kib: number | undefined) => (kib === undefined ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`);
    for (const c of cases) {
      const r = c.ours.length === 0 ? await runFloor(runs, c.env ?? CHILD_ENV) : await runCase(c);
      const ms = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(1)} ms`);
      const cpuRatio =
        r.reference?.cpuMs !== undefined && r.ours.cpuMs !== undefined ? `${(r.ours.cpuMs / r.reference.cpuMs).toFixed(2)}x` : '';
      row([
        c.name,
        ms(r.ours.ms),
        r.reference ? ms(r.reference.ms) : '',
        r.reference ? `${(r.ours.ms / r.reference.ms).toFixed(2)}x` : '',
        c.goal ?? '',
        ms(r.ours.cpuMs),
        r.reference ? ms(r.reference.cpuMs) : '',
        cpuRatio,
        mib(r.ours.rssKiB),
        r.reference ? mib(r.reference.rssKiB) : '',
        r.identical === undefined ? '' : r.identical ? 'yes' : 'NO',
      ]);
    }
    if (kernelNote) say(kernelNote);
    say(
      'cli: goals: ratio = ours / bpftool wall time (CPU = user + system, steadier on a busy machine); peak RSS of the many-object calls <= 100 MiB',
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return lines;
}

/** `node -e 0`: what any Node program pays before its first line (in `env`). */
async function runFloor(runs: number, env: NodeJS.ProcessEnv): Promise<Result> {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(process.execPath, ['-e', '0'], env));
  return { ours: figures(samples) };
}
