/**
 * The CO-RE fixture set every codec test uses: BPF objects, the kernel BTF, and what
 * bpftool 7.1.0 (`gen min_core_btf`) makes of them, the oracle the TypeScript trimmer is
 * compared against.
 *
 * Where it comes from (env BTFHUB_FIXTURES):
 *   unset / "auto"  built here when clang, bpftool and /sys/kernel/btf/vmlinux are all
 *                   available (cached in test/fixtures/build/<key>/), else the committed
 *                   prebuilt set (test/fixtures/prebuilt/)
 *   "built"         built here; an error when it cannot be
 *   "prebuilt"      the committed prebuilt set, even where building would work
 * A build that fails is an error, not a silent fallback: the message shows the tool's
 * stderr, and BTFHUB_FIXTURES=prebuilt gets past it.
 *
 *   const fx = await loadFixtures();
 *   const obj = fx.objects.get('tools_like');          // { path, bytes } or undefined (prebuilt has a subset)
 *   const want = fx.oracle.single.get('tools_like');   // bpftool's bytes
 *   const res = await runBpftoolMinCore(fx.vmlinuxPath, [obj.path]);  // on a variant input
 */
import { access, constants } from 'node:fs/promises';
import { ensureFixturesBuilt, KERNEL_BTF } from '../fixtures/build-fixtures.js';
import { type FixtureSet, readFixtureDir } from '../fixtures/fixture-dir.js';
import { ensurePrebuiltExtracted } from '../fixtures/prebuilt.js';
import { toolWorks } from '../fixtures/tools.js';

export type { FixtureObject, FixtureOracle, FixtureSet } from '../fixtures/fixture-dir.js';
/** File names inside `FixtureSet.dir`: objectFile('x') = 'x.bpf.o', oracleFile('x') = 'x.min.btf'. */
export { objectFile, oracleFile } from '../fixtures/fixture-dir.js';
export { bpftoolRawDump, runBpftoolMinCore, type MinCoreResult } from '../fixtures/tools.js';
export { CORE_RELO_KIND_NAMES, countByKind, readCoreRelos, type CoreReloRecord } from '../fixtures/core-relos.js';
export { patchTypeMatches, TYPE_EXISTS, TYPE_MATCHES, TYPE_MATCHES_FIXTURES } from '../fixtures/patch-type-matches.js';
export { PREBUILT_OBJECTS } from '../fixtures/prebuilt.js';
export { builtObjectNames, sourceNames } from '../fixtures/build-fixtures.js';

export type FixtureMode = 'auto' | 'built' | 'prebuilt';

export const FIXTURE_MODE_ENV = 'BTFHUB_FIXTURES';

export function fixtureMode(): FixtureMode {
  const value = process.env[FIXTURE_MODE_ENV] ?? 'auto';
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'built' || value === 'prebuilt') return value;
  throw new Error(`${FIXTURE_MODE_ENV}=${value}: expected "auto", "built" or "prebuilt"`);
}

/** Why the fixtures cannot be built on this machine, or undefined when they can. */
export async function whyFixturesCannotBeBuilt(): Promise<string | undefined> {
  if (!(await toolWorks('clang', ['--version']))) return 'clang is not installed';
  if (!(await toolWorks('bpftool', ['version']))) return 'bpftool is not installed';
  try {
    await access(KERNEL_BTF, constants.R_OK);
  } catch {
    return `${KERNEL_BTF} is not readable`;
  }
  return undefined;
}

async function load(mode: FixtureMode): Promise<FixtureSet> {
  const hasBpftool = await toolWorks('bpftool', ['version']);
  if (mode === 'prebuilt') return readFixtureDir(await ensurePrebuiltExtracted(), 'prebuilt', hasBpftool);
  const reason = await whyFixturesCannotBeBuilt();
  if (reason !== undefined) {
    if (mode === 'built') throw new Error(`${FIXTURE_MODE_ENV}=built, but the fixtures cannot be built here: ${reason}`);
    return readFixtureDir(await ensurePrebuiltExtracted(), 'prebuilt', hasBpftool);
  }
  let dir: string;
  try {
    dir = await ensureFixturesBuilt();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (mode === 'auto') {
      // Some fixtures name types of the kernel they were written on; another kernel may lack them.
      // The committed set still tests the codec; say loudly that the build did not work here.
      process.stderr.write(`warning: building the CO-RE fixtures failed, using the committed prebuilt set:\n${message}\n`);
      return readFixtureDir(await ensurePrebuiltExtracted(), 'prebuilt', hasBpftool);
    }
    throw new Error(`building the CO-RE fixtures failed (set ${FIXTURE_MODE_ENV}=prebuilt to use the committed set):\n${message}`, {
      cause: error,
    });
  }
  return readFixtureDir(dir, 'built', hasBpftool);
}

const loaded = new Map<FixtureMode, Promise<FixtureSet>>();

/**
 * The fixture set (built or prebuilt, see above); loaded once per process and mode.
 * `mode` defaults to BTFHUB_FIXTURES.
 */
export function loadFixtures(mode: FixtureMode = fixtureMode()): Promise<FixtureSet> {
  let set = loaded.get(mode);
  if (!set) {
    set = load(mode);
    // A failure is not cached: a later call retries.
    set.catch(() => loaded.delete(mode));
    loaded.set(mode, set);
  }
  return set;
}
