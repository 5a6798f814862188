/**
 * Cold-kernel benchmark (issue 12, goal 5): the service's own trim and bundle jobs over kernels
 * imported the way `btfhub import DIR` imports them, on executors that hold no decoded kernel.
 * Prints figures; asserts nothing.
 *
 *   import            `importKernels` of the 200 bench kernels (bench/bundle.ts) into a fresh
 *                     data directory (filesystem store, SQLite), each file checked on the
 *                     codec threads; how many unpacked copies it left
 *   cold trim         the trim job (`createTrimProcessor`) of tools_like.bpf.o on a kernel the
 *                     codec threads have never decoded, one kernel after the other; server-side
 *                     time is the job's own `durationMs` (catalog lookup, kernel read, unpack or
 *                     copy read, decode, trim, verify, result write, catalog row), split into the
 *                     executor's load (read + decode) and trim (+ verify) as the job logs them.
 *                     Two sets: kernels whose unpacked copy exists (goal <= 30 ms), and kernels
 *                     whose copy was removed first (xz on the way: a kernel imported before
 *                     copies were made at import, or a copy lost)
 *   bundle            the bundle job (`createBundleProcessor`) of tools_like over all 200
 *                     imported kernels on new codec threads (started before it, as the service
 *                     starts them; their start is shown apart), against BTFHub's btfgen
 *                     loop (`tar -xJf` + `bpftool gen min_core_btf` per kernel) measured in the
 *                     same run (goal >= 10x faster)
 *
 * Before each set the executor is new (threads started, then warmed by one trim of kernels
 * outside the set, so JIT and the object's parse are not counted), as after a restart. CPU
 * figures are the whole process's (every thread) and its children's (xz), steadier than wall
 * time on a busy machine. The jobs run with the image's glibc settings (malloc thresholds,
 * huge pages: docs/CONFIGURATION.md, "Process memory"), in a child process when this one was
 * started without them; BENCH_BARE=1 runs them as started.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { imageProcessSettings } from '../scripts/image-env.js';
import { readKernelBtfFile } from '../src/archive/index.js';
import { parseBpfObject } from '../src/btf/index.js';
import type { CatalogBackend, KernelRecord } from '../src/catalog/index.js';
import { loadConfig, type Config } from '../src/config/schema.js';
import { archiveKernels } from '../src/coverage/kernel-source.js';
import { kernelCheckOn } from '../src/executor/kernel-check.js';
import type { WarmSharedBuffer } from '../src/executor/warm-shared-buffer.js';
import { WorkerCodecExecutor } from '../src/executor/worker-executor.js';
import { createBundleProcessor } from '../src/jobs/bundle.js';
import { createTrimProcessor } from '../src/jobs/trim.js';
import { importKernels } from '../src/kernels/import.js';
import { loadUnpacked } from '../src/kernels/unpacked-copy.js';
import { type BundleJobResult, objectsHashOf, type TrimJobStages } from '../src/queue/kinds.js';
import { createBackends } from '../src/service/backends.js';
import { derivedKernelKey, FsObjectStore, objectKey, type ObjectStore } from '../src/storage/index.js';
import { loadFixtures } from '../test/helpers/fixtures.js';
import { benchArchive, btfgenLoop } from './bundle.js';

/** Kernels in each cold-trim set. */
const SET = 20;
/** Kernels trimmed before a set, outside it: warms both codec threads (JIT), as a service that has been up a while. */
const WARM_UP = 10;

const silent = pino({ level: 'silent' });

/**
 * User + system CPU of the whole process (all threads) and of its finished children (xz runs
 * in one), ms. Children's time is in clock ticks (`getconf CLK_TCK`, 100 on Linux): 10 ms steps.
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  let children = 0;
  try {
    // /proc/self/stat: fields 16 and 17 (cutime, cstime), after the parenthesised command name.
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    children = (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    // not Linux: the process alone
  }
  return (user + system) / 1000 + children;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: readonly number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/**
 * A codec executor as the service makes one (backends.ts), every thread started and having
 * answered a task (the service starts its threads as it starts): how long that took, ms.
 */
async function freshCodec(config: Config, object: Uint8Array): Promise<{ codec: WorkerCodecExecutor; startMs: number }> {
  const started = performance.now();
  const codec = new WorkerCodecExecutor({
    threads: config.codecThreads,
    heapMb: config.codecThreadHeapMb,
    taskTimeoutMs: config.codecTaskTimeoutMs,
    kernelCacheBytes: config.kernelCacheBytes,
    limits: config.codecLimits,
  });
  codec.start();
  // Checks go to the least busy thread: as many at once as threads reach each of them.
  await Promise.all(Array.from({ length: codec.threads }, () => codec.checkObjects([{ name: 'warm-up.bpf.o', bytes: object }])));
  return { codec, startMs: performance.now() - started };
}

interface TrimSample {
  durationMs: number;
  loadMs: number;
  trimMs: number;
  cpuMs: number;
  /** The job's own split of its time (what the API's Server-Timing shows). */
  stages: TrimJobStages | undefined;
}

/** Trims `objectHash` on each kernel of `kernels`, one after the other, on a fresh executor. */
async function coldTrims(
  config: Config,
  deps: { store: ObjectStore; catalog: CatalogBackend },
  objectHash: string,
  warmUp: readonly KernelRecord[],
  kernels: readonly KernelRecord[],
  object: Uint8Array,
): Promise<TrimSample[] & { warmReads?: WarmSharedBuffer['counts'] }> {
  const { codec } = await freshCodec(config, object);
  const logged: { loadMs: number; trimMs: number }[] = [];
  // The job logs the executor's split of its time; this reads it back from the log line.
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void logged.push(JSON.parse(line) as { loadMs: number; trimMs: number }) },
  );
  const processor = createTrimProcessor({ store: deps.store, catalog: deps.catalog, codec, logger });
  const trim = (k: KernelRecord) =>
    processor(
      { objectHashes: [objectHash], objectsHash: objectsHashOf([objectHash]), kernel: k, kernelSha256: k.sha256 },
      { id: `cold-${k.kernel}`, progress: () => {} },
    );
  try {
    for (const k of warmUp) await trim(k);
    const samples: TrimSample[] = [];
    for (const k of kernels) {
      logged.length = 0;
      const cpu = cpuMs();
      const result = await trim(k);
      const used = cpuMs() - cpu;
      const line = logged.at(-1)!;
      samples.push({ durationMs: result.durationMs, loadMs: line.loadMs, trimMs: line.trimMs, cpuMs: used, stages: result.stages });
    }
    // The warm-up's reads included: its kernels are cold too.
    return Object.assign(samples, { warmReads: { ...codec.warmShared.counts } });
  } finally {
    await codec.close();
  }
}

async function hasCopy(catalog: CatalogBackend, k: KernelRecord): Promise<boolean> {
  const known = await catalog.getDerivedFile(k.sha256, 'btf');
  return known !== null && known.storageKey === derivedKernelKey(k.sha256, k.kernel, 'btf');
}

export async function runColdBench(): Promise<string[]> {
  const rerun = await rerunWithImageSettings();
  if (rerun !== null) return rerun;
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  const fixtures = await loadFixtures();
  const fixture = fixtures.objects.get('tools_like');
  if (!fixture) throw new Error('fixture tools_like is missing');
  const relocations = parseBpfObject(fixture.bytes, 'tools_like').ext.coreRelos.reduce((n, s) => n + s.records.length, 0);
  const archiveDir = await benchArchive(fixtures.vmlinux);
  const dataDir = await mkdtemp(join(tmpdir(), 'btfhub-cold-bench-'));
  const config = loadConfig({ BTFHUB_DATA_DIR: dataDir, BTFHUB_REGISTER_HOST_KERNEL: 'false' });
  const backends = createBackends(config, { logger: silent });
  try {
    const { store, catalog } = await backends.prepare();
    say(
      `cold: tools_like.bpf.o (${relocations} CO-RE relocations), kernels of ${(fixtures.vmlinux.length / 1e6).toFixed(1)} MB of BTF, ` +
        `${config.codecThreads} codec threads, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)} at the start`,
    );
    say(
      `cold: process settings ${glibcSettings()
        .map(([name]) => `${name}=${process.env[name] ?? '(unset)'}`)
        .join(' ')}`,
    );

    // Import, as `btfhub import DIR` does: files copied into the store, each checked on the codec threads.
    let started = performance.now();
    const { codec: importCodec } = await freshCodec(config, fixture.bytes);
    const summary = await importKernels(new FsObjectStore(archiveDir), { store: backends.serviceStore, archive: null }, catalog, {
      checkKernel: kernelCheckOn(importCodec),
    }).finally(() => importCodec.close());
    const importMs = performance.now() - started;
    const kernels = (await catalog.listKernels({}, { limit: 1000, offset: 0 })).items;
    let copies = 0;
    for (const k of kernels) if (await hasCopy(catalog, k)) copies++;
    say(
      `cold: import of ${kernels.length} kernels (${summary.added} added) in ${(importMs / 1000).toFixed(2)} s ` +
        `(${(importMs / kernels.length).toFixed(1)} ms a kernel); unpacked copies made: ${copies}/${kernels.length}`,
    );

    const objectHash = createHash('sha256').update(fixture.bytes).digest('hex');
    await store.put(objectKey(objectHash), fixture.bytes);

    // Set A: copies exist (made here, untimed, when the import made none); set B: copies removed.
    const withCopy = kernels.slice(0, SET);
    const withoutCopy = kernels.slice(SET, 2 * SET);
    const warmUp = kernels.slice(2 * SET, 2 * SET + WARM_UP);
    let madeHere = 0;
    for (const k of withCopy) {
      if (await hasCopy(catalog, k)) continue;
      await loadUnpacked(catalog, store, k, async () => readKernelBtfFile((await store.get(k.storageKey))!, k.storageKey));
      madeHere++;
    }
    for (const k of withoutCopy) {
      await catalog.deleteDerivedFile(k.sha256, 'btf');
      await store.delete(derivedKernelKey(k.sha256, k.kernel, 'btf'));
    }
    const a = await coldTrims(config, { store, catalog }, objectHash, warmUp, withCopy, fixture.bytes);
    const b = await coldTrims(config, { store, catalog }, objectHash, warmUp, withoutCopy, fixture.bytes);

    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const trimRow = (what: string, s: readonly TrimSample[], goal: string) =>
      say(
        `| ${what.padEnd(46)} | ${ms(median(s.map((x) => x.durationMs))).padStart(9)} | ${ms(
          percentile(
            s.map((x) => x.durationMs),
            0.9,
          ),
        ).padStart(9)} | ` +
          `${ms(median(s.map((x) => x.loadMs))).padStart(9)} | ${ms(median(s.map((x) => x.trimMs))).padStart(9)} | ` +
          `${ms(median(s.map((x) => x.cpuMs))).padStart(9)} | ${goal.padEnd(8)} |`,
      );
    const header = ['median', 'p90', 'load', 'trim', 'CPU'].map((h) => h.padStart(9)).join(' | ');
    say(`| ${`cold trim, ${SET} kernels one after the other`.padEnd(46)} | ${header} | goal     |`);
    say(`|${'-'.repeat(48)}|${'-'.repeat(11)}|${'-'.repeat(11)}|${'-'.repeat(11)}|${'-'.repeat(11)}|${'-'.repeat(11)}|${'-'.repeat(10)}|`);
    trimRow(`unpacked copy exists${madeHere > 0 ? ` (${madeHere} made by the bench)` : ' (made at import)'}`, a, '<= 30 ms');
    trimRow('no copy yet: xz, then the copy is written', b, '');
    if (a.warmReads !== undefined)
      say(
        `cold: copy exists, kernel copies read into shared memory faulted in ahead (warm-shared-buffer.ts): ${a.warmReads.warm}, into fresh memory: ${a.warmReads.fresh} (warm-up included)`,
      );
    for (const [what, set] of [
      ['copy exists', a],
      ['no copy', b],
    ] as const) {
      const stages = set.flatMap((x) => (x.stages === undefined ? [] : [x.stages]));
      if (stages.length === 0) continue;
      const names = Object.keys(stages[0]!) as (keyof TrimJobStages)[];
      say(
        `cold: ${what}, the job's stages (median ms): ${names.map((n) => `${n} ${median(stages.map((st) => st[n])).toFixed(1)}`).join(', ')}`,
      );
    }

    // The bundle job over every imported kernel, on threads started for it (a clean start).
    let reference: number | undefined;
    let referenceCpu = 0;
    const scratch = await mkdtemp(join(tmpdir(), 'btfhub-cold-bench-btfgen-'));
    try {
      if (fixtures.hasBpftool) {
        const { kernels: archived } = await archiveKernels(new FsObjectStore(archiveDir));
        const cpu = cpuMs();
        reference = await btfgenLoop(archiveDir, archived, fixture.path, scratch);
        referenceCpu = cpuMs() - cpu;
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    let copiesNow = 0;
    for (const k of kernels) if (await hasCopy(catalog, k)) copiesNow++;
    // Threads started first, as the service starts them; shown apart (seconds under the TypeScript loader).
    const { codec, startMs } = await freshCodec(config, fixture.bytes);
    started = performance.now();
    const cpu = cpuMs();
    const loop = performance.eventLoopUtilization();
    let bundle: BundleJobResult;
    try {
      const processor = createBundleProcessor({ store, catalog, codec, logger: silent });
      bundle = await processor(
        {
          kind: 'bundle',
          objects: [{ sha256: objectHash, name: 'tools_like.bpf.o' }],
          objectsHash: objectsHashOf([objectHash]),
          filter: {},
        },
        { id: 'cold-bundle', progress: () => {} },
      );
    } catch (error) {
      await codec.close();
      throw error;
    }
    const bundleMs = performance.now() - started;
    const bundleCpu = cpuMs() - cpu;
    const mainBusy = performance.eventLoopUtilization(loop).utilization;
    const spares = codec.spares.stats();
    const objectBytesSent = codec.objectBytesSent;
    await codec.close();
    const vs = (x: number) => (reference === undefined ? 'n/a' : `${(reference / x).toFixed(1)}x faster`);
    say(`| ${`bundle, 1 object x ${kernels.length} imported kernels`.padEnd(60)} | total | /kernel | vs btfgen | CPU | CPU vs btfgen |`);
    say(`|${'-'.repeat(62)}|-------|---------|-----------|-----|---------------|`);
    const s = (x: number) => `${(x / 1000).toFixed(2)} s`;
    if (reference !== undefined)
      say(
        `| ${'btfgen loop: tar -xJf + bpftool gen min_core_btf'.padEnd(60)} | ${s(reference)} | ${ms(reference / kernels.length)} | reference | ${s(referenceCpu)} | reference |`,
      );
    say(
      `| ${`bundle job, fresh codec threads (${copiesNow}/${kernels.length} unpacked copies)`.padEnd(60)} | ${s(bundleMs)} | ` +
        `${ms(bundleMs / kernels.length)} | ${vs(bundleMs)} | ${s(bundleCpu)} | ` +
        `${reference === undefined ? 'n/a' : `${(referenceCpu / bundleCpu).toFixed(1)}x less`} |`,
    );
    say(
      `cold: bundle ${bundle.kernels} kernels, ${bundle.failed} failed, ${bundle.distinct} distinct; job's own durationMs ${bundle.durationMs} ms; ` +
        `${codec.threads} codec threads started in ${s(startMs)} before it; CPU = this process's threads + children (xz, tar, bpftool); ` +
        `load average ${loadavg()[0]!.toFixed(2)} at the end`,
    );
    say(
      `cold: bundle's kernel reads: ${spares.reused} into buffers the codec threads gave back, ${spares.fresh} into new ones; ` +
        `object bytes copied to the threads ${(objectBytesSent / 1024).toFixed(0)} KiB (warm-up included); ` +
        `this thread (reads, hashes, archive) busy ${(mainBusy * 100).toFixed(0)} % of the job`,
    );
  } finally {
    await backends.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return lines;
}

/** The image's process settings for glibc (scripts/image-env.ts: malloc's thresholds, huge pages); NODE_OPTIONS stays the bench's own (its loader). */
function glibcSettings(): [string, string][] {
  return Object.entries(imageProcessSettings()).filter(([name]) => name !== 'NODE_OPTIONS');
}

/**
 * The jobs run in this process, so it needs the image's glibc settings, which glibc reads
 * once, at start: without them this process runs the bench again in a child that has them,
 * and prints what the child printed. BENCH_BARE=1 runs as started.
 */
async function rerunWithImageSettings(): Promise<string[] | null> {
  const settings = glibcSettings();
  if (process.env.BENCH_BARE === '1' || settings.every(([name, value]) => process.env[name] === value)) return null;
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...Object.fromEntries(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    process.stdout.write(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`bench cold: the run with the image's settings exited with ${code}`);
  return output.split('\n').filter((line) => line !== '');
}

if (import.meta.url === `file://${process.argv[1]}`) await runColdBench();
