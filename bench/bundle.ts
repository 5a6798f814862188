/**
 * Bundle benchmark: one libbpf-tools-sized object (`tools_like`, 145 CO-RE relocations) over
 * 200 kernels in BTFHub layout (`.btf.tar.xz`), built by `buildBundle` against the loop
 * BTFHub's btfgen script runs (for each kernel: `tar -xJf`, then `bpftool gen min_core_btf`),
 * measured in the same run on the same files. Prints figures; asserts nothing.
 *
 *   btfgen loop       tar -xJf + bpftool gen min_core_btf per kernel, one after the other
 *   bundle, cold      buildBundle from the .btf.tar.xz files (xz for each), verification on
 *   first --cache     the same on worker threads, keeping each unpacked kernel in a cache
 *   cached            the unpacked kernels cached: what every later build of the same archive
 *                     costs (CI builds of an agent image), on worker threads and in process
 *
 * The 200 kernels are variants of the fixtures' kernel BTF (src/coverage/variants.ts): each
 * with a different unrelated struct renamed (so every file differs) and one of eight kernel
 * history edits (so the trimmed BTFs differ too). They are made once (about a minute: an
 * encode and `xz -0` per kernel) and kept under test/fixtures/build/.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildBundle, TrimPool, type BundleResult } from '../src/bundle/bundle.js';
import { Btf, parseBpfObject } from '../src/btf/index.js';
import { archiveKernels, type KernelInput } from '../src/coverage/kernel-source.js';
import { HISTORY_VARIANTS, KernelEditor, unrelatedVariant, writeKernelFile, type KernelEdit } from '../src/coverage/variants.js';
import { FsObjectStore } from '../src/storage/index.js';
import { readTarEntries } from '../src/archive/tar.js';
import { gunzipSync } from 'node:zlib';
import { ensureBuiltDir, pruneBuildRoot } from '../test/fixtures/build-cache.js';
import { loadFixtures } from '../test/helpers/fixtures.js';

const run = promisify(execFile);

const KERNELS = 200;
const RELEASES = [
  'ubuntu/18.04',
  'ubuntu/20.04',
  'ubuntu/22.04',
  'debian/10',
  'debian/11',
  'debian/12',
  'centos/7',
  'centos/8',
  'amzn/2',
  'fedora/38',
];
const HISTORY: readonly (readonly KernelEdit[])[] = [
  HISTORY_VARIANTS.base.edits,
  HISTORY_VARIANTS.oldState.edits,
  HISTORY_VARIANTS.rqDisk.edits,
  HISTORY_VARIANTS.noCtimeSec.edits,
  [...HISTORY_VARIANTS.oldState.edits, ...HISTORY_VARIANTS.rqDisk.edits, ...HISTORY_VARIANTS.noCtimeSec.edits],
  HISTORY_VARIANTS.noGendisk.edits,
  HISTORY_VARIANTS.renamedNsproxy.edits,
  HISTORY_VARIANTS.renamedEnumerator.edits,
];

/** `<distro>/<release>/<arch>/<kernel>` of bench kernel i. */
function kernelPath(i: number): string {
  const arch = i % 2 === 0 ? 'x86_64' : 'arm64';
  return `${RELEASES[Math.floor(i / 2) % RELEASES.length]}/${arch}/5.${(i % 19) + 1}.0-${100 + i}-bench`;
}

/** The directory of the 200 bench kernels (BTFHub layout, `.btf.tar.xz`), made once. */
export async function benchArchive(vmlinux: Uint8Array): Promise<string> {
  const source = await readFile(fileURLToPath(new URL('../src/coverage/variants.ts', import.meta.url)));
  const key = createHash('sha256').update(vmlinux).update(source).update(`${KERNELS} ${RELEASES.join()} v1`).digest('hex').slice(0, 16);
  const name = `bench-archive-${key}`;
  // Older bench archives (about 300 MB each) go once unused.
  await pruneBuildRoot((other) => other.startsWith('bench-archive-') && other !== name);
  return ensureBuiltDir(name, async (dir) => {
    console.log(`bundle: generating ${KERNELS} kernel variants as .btf.tar.xz (once; kept in ${dirname(dir)})`);
    const editor = new KernelEditor(Btf.parse(vmlinux));
    const lanes = Math.max(1, availableParallelism());
    const pending = new Set<Promise<unknown>>();
    for (let i = 0; i < KERNELS; i++) {
      const btf = editor.variant([...HISTORY[i % HISTORY.length]!, ...unrelatedVariant(i).edits]);
      const write = writeKernelFile(dir, kernelPath(i), btf, 'btf.tar.xz').finally(() => pending.delete(write));
      pending.add(write);
      if (pending.size >= lanes) await Promise.race(pending);
    }
    await Promise.all(pending);
  });
}

/**
 * BTFHub's btfgen loop over `kernels` of the archive `dir`: `tar -xJf`, then `bpftool gen
 * min_core_btf` for `objectPath`, one kernel after the other. Its wall time, ms; each
 * output, by archive path, in `outputs` when given.
 */
export async function btfgenLoop(
  dir: string,
  kernels: readonly KernelInput[],
  objectPath: string,
  scratch: string,
  outputs?: Map<string, Uint8Array>,
): Promise<number> {
  const started = performance.now();
  for (const k of kernels) {
    const work = join(scratch, 'extract');
    await mkdir(work, { recursive: true });
    await run('tar', ['-xJf', join(dir, k.source), '-C', work]);
    const out = join(scratch, 'btfgen', `${k.ref.distro}/${k.ref.distroVersion}/${k.ref.arch}/${k.ref.kernel}.btf`);
    await mkdir(dirname(out), { recursive: true });
    await run('bpftool', ['gen', 'min_core_btf', join(work, `${k.ref.kernel}.btf`), out, objectPath]);
    await rm(work, { recursive: true, force: true });
  }
  const ms = performance.now() - started;
  if (outputs) {
    for (const k of kernels) {
      const path = `${k.ref.distro}/${k.ref.distroVersion}/${k.ref.arch}/${k.ref.kernel}.btf`;
      outputs.set(path, new Uint8Array(await readFile(join(scratch, 'btfgen', path))));
    }
  }
  return ms;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function runBundleBench(): Promise<string[]> {
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  const fixtures = await loadFixtures();
  const fixture = fixtures.objects.get('tools_like');
  if (!fixture) throw new Error('fixture tools_like is missing');
  const object = parseBpfObject(fixture.bytes, 'tools_like');
  const dir = await benchArchive(fixtures.vmlinux);
  const store = new FsObjectStore(dir);
  const { kernels } = await archiveKernels(store);
  say(
    `bundle: tools_like.bpf.o (145 CO-RE relocations) over ${kernels.length} kernels (.btf.tar.xz, ${(fixtures.vmlinux.length / 1e6).toFixed(1)} MB of BTF each), ${availableParallelism()} cores`,
  );

  const scratch = await mkdtemp(join(tmpdir(), 'btfhub-bundle-bench-'));
  try {
    // The reference: BTFHub's btfgen loop, one kernel after the other.
    let reference: number | undefined;
    const bpftoolOut = new Map<string, Uint8Array>();
    if (fixtures.hasBpftool) {
      reference = await btfgenLoop(dir, kernels, fixture.path, scratch, bpftoolOut);
    }

    // Worker threads are started once, as a service keeps them; their start-up is shown apart
    // (about 0.25 s for two threads from the compiled JavaScript, seconds under the TypeScript loader).
    const poolStarted = performance.now();
    const pool = await TrimPool.start([object], { threads: availableParallelism() });
    const poolStartMs = performance.now() - poolStarted;
    const cache = new FsObjectStore(join(scratch, 'cache'));
    const listed = async (rawCache?: FsObjectStore) => (await archiveKernels(store, {}, rawCache ? { rawCache } : {})).kernels;
    let cold: BundleResult, fill: BundleResult, cached: BundleResult, cachedInProcess: BundleResult;
    try {
      cold = await buildBundle(await listed(), [object]);
      fill = await buildBundle(await listed(cache), [object], { trimmer: pool });
      cached = await buildBundle(await listed(cache), [object], { trimmer: pool });
      cachedInProcess = await buildBundle(await listed(cache), [object]);
    } finally {
      await pool.close();
    }
    let same = 0;
    for (const entry of readTarEntries(gunzipSync(cached.archive!))) {
      const want = bpftoolOut.get(entry.name);
      if (want && Buffer.from(want).equals(entry.data)) same++;
    }

    const row = (what: string, ms: number, ratio: string) =>
      say(
        `| ${what.padEnd(50)} | ${seconds(ms).padStart(9)} | ${`${(ms / kernels.length).toFixed(1)} ms`.padStart(9)} | ${ratio.padStart(13)} |`,
      );
    const vs = (ms: number) => (reference === undefined ? 'n/a' : `${(reference / ms).toFixed(1)}x faster`);
    say(`| ${'measure'.padEnd(50)} | ${'total'.padStart(9)} | ${'/kernel'.padStart(9)} | ${'vs btfgen'.padStart(13)} |`);
    say(`|${'-'.repeat(52)}|${'-'.repeat(11)}|${'-'.repeat(11)}|${'-'.repeat(15)}|`);
    if (reference !== undefined) row('btfgen loop: tar -xJf + bpftool gen min_core_btf', reference, 'reference');
    row('bundle, cold: unpack .btf.tar.xz, trim, verify', cold.durationMs, vs(cold.durationMs));
    row(`bundle, cold, filling --cache, ${pool.threads} threads`, fill.durationMs, vs(fill.durationMs));
    row(`bundle, --cache warm, ${pool.threads} threads`, cached.durationMs, vs(cached.durationMs));
    row('bundle, --cache warm, in process', cachedInProcess.durationMs, vs(cachedInProcess.durationMs));
    say(
      `bundle: ${pool.threads} trim threads started in ${seconds(poolStartMs)} before the runs (about 0.25 s from compiled ` +
        'JavaScript; longer under the TypeScript loader); xz takes about 70 ms of CPU per kernel on both sides, which bounds the cold runs',
    );
    say(
      `bundle: ${cached.entries.length} kernels, ${cached.failures.length} left out, ${cached.distinct} distinct BTFs, ` +
        `${cached.bytes.archive} bytes .tar.gz (${cached.bytes.trimmed} uncompressed)` +
        (reference === undefined ? '' : `; ${same}/${kernels.length} byte-identical to bpftool's`),
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) await runBundleBench();
