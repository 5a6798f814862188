/**
 * A small BTFHub-layout archive made from the fixtures' kernel BTF, for the import, compat
 * and bundle tests:
 *
 *   ubuntu/20.04/{x86_64,arm64}/5.4.0-*       "old" kernels (task_struct.state, request.rq_disk, no inode.i_ctime_sec)
 *   ubuntu/focal -> 20.04                     release alias (a symlinked directory)
 *   ubuntu/24.04/{x86_64,arm64}/6.11.0-*      the kernel as it is, an identical copy, an unrelated rename; a .failed marker
 *   debian/12/x86_64, debian/12/arm64         struct gendisk dropped; an enumerator renamed
 *   centos/8/x86_64                           struct nsproxy renamed
 *   fedora/40/x86_64                          a second cfs_rq making cfs_rq.nr_queued ambiguous; a .hasbtf marker
 *   amzn/2/x86_64/...btf.tar.xz               corrupt (a truncated xz stream)
 *   README.md                                 not part of the layout
 *
 * Every kernel records its edits and the outcome rules they imply (src/coverage/variants.ts),
 * so tests know which relocation outcomes each kernel must give. Two kernels are
 * `.btf.tar.xz` (xz -0), the rest plain `.btf`, to keep generation to a few seconds. The
 * directory is built once per fixture kernel and generator source, under
 * test/fixtures/build/ (shared by test processes, see build-cache.ts); tests only read it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf } from '../../src/btf/index.js';
import type { KernelRef } from '../../src/catalog/catalog.js';
import {
  expectedOutcomeRules,
  HISTORY_VARIANTS,
  KernelEditor,
  unrelatedVariant,
  writeAlias,
  writeKernelFile,
  type KernelEdit,
  type KernelFileFormat,
  type OutcomeRule,
} from '../../src/coverage/variants.js';
import { ensureBuiltDir, pruneBuildRoot } from '../fixtures/build-cache.js';
import { loadFixtures } from './fixtures.js';

export interface TestKernel {
  /** `<distro>/<distro_version>/<arch>/<kernel>` */
  path: string;
  /** Store key of its file (path + format). */
  key: string;
  ref: KernelRef;
  format: KernelFileFormat;
  /** Variant names, for messages. */
  variants: string[];
  edits: KernelEdit[];
  /** What the edits do to relocations, relative to the fixtures' kernel. */
  rules: OutcomeRule[];
}

export interface TestMarker {
  key: string;
  ref: KernelRef;
  marker: 'failed' | 'hasbtf';
}

export interface TestArchive {
  dir: string;
  /** The valid kernel files, in key order. */
  kernels: TestKernel[];
  markers: TestMarker[];
  /** The corrupt kernel file (a store key). */
  corruptKey: string;
  /** Alias directory -> target, relative to `dir`. */
  aliases: { path: string; target: string }[];
}

const OLD = [HISTORY_VARIANTS.oldState, HISTORY_VARIANTS.rqDisk, HISTORY_VARIANTS.noCtimeSec];

interface KernelSpec {
  path: string;
  format: KernelFileFormat;
  variants: { name: string; edits: readonly KernelEdit[] }[];
}

const KERNELS: readonly KernelSpec[] = [
  { path: 'ubuntu/20.04/x86_64/5.4.0-42-generic', format: 'btf.tar.xz', variants: OLD },
  { path: 'ubuntu/20.04/x86_64/5.4.0-100-generic', format: 'btf', variants: [...OLD, unrelatedVariant(0)] },
  { path: 'ubuntu/20.04/arm64/5.4.0-42-generic', format: 'btf', variants: OLD },
  { path: 'ubuntu/24.04/x86_64/6.11.0-8-generic', format: 'btf.tar.xz', variants: [HISTORY_VARIANTS.base] },
  { path: 'ubuntu/24.04/x86_64/6.11.0-9-generic', format: 'btf', variants: [unrelatedVariant(1)] },
  { path: 'ubuntu/24.04/arm64/6.11.0-8-generic', format: 'btf', variants: [HISTORY_VARIANTS.base] },
  { path: 'debian/12/x86_64/6.1.0-9-amd64', format: 'btf', variants: [HISTORY_VARIANTS.noGendisk] },
  { path: 'debian/12/arm64/6.1.0-9-arm64', format: 'btf', variants: [HISTORY_VARIANTS.renamedEnumerator] },
  { path: 'centos/8/x86_64/4.18.0-348.el8.x86_64', format: 'btf', variants: [HISTORY_VARIANTS.renamedNsproxy] },
  { path: 'fedora/40/x86_64/6.8.5-301.fc40.x86_64', format: 'btf', variants: [HISTORY_VARIANTS.ambiguousCfsRq] },
];

const MARKERS: readonly { path: string; marker: 'failed' | 'hasbtf' }[] = [
  { path: 'ubuntu/24.04/arm64/6.11.0-9-generic', marker: 'failed' },
  { path: 'fedora/40/x86_64/6.9.0-1.fc40.x86_64', marker: 'hasbtf' },
];

const CORRUPT = 'amzn/2/x86_64/5.10.0-1.amzn2.x86_64.btf.tar.xz';
const ALIASES = [{ path: 'ubuntu/focal', target: '20.04' }];

function refOf(path: string): KernelRef {
  const [distro, distroVersion, arch, kernel] = path.split('/') as [string, string, string, string];
  return { distro, distroVersion, arch, kernel };
}

function describe(dir: string): TestArchive {
  return {
    dir,
    kernels: KERNELS.map((k) => {
      const edits = k.variants.flatMap((v) => v.edits);
      return {
        path: k.path,
        key: `${k.path}.${k.format}`,
        ref: refOf(k.path),
        format: k.format,
        variants: k.variants.map((v) => v.name),
        edits,
        rules: expectedOutcomeRules(edits),
      };
    }).sort((a, b) => (a.key < b.key ? -1 : 1)),
    markers: MARKERS.map((m) => ({ key: `${m.path}.${m.marker}`, ref: refOf(m.path), marker: m.marker })),
    corruptKey: CORRUPT,
    aliases: ALIASES,
  };
}

async function fill(dir: string, vmlinux: Uint8Array): Promise<void> {
  const editor = new KernelEditor(Btf.parse(vmlinux));
  const made = new Map<string, Uint8Array>();
  for (const k of KERNELS) {
    const edits = k.variants.flatMap((v) => v.edits);
    const id = JSON.stringify(edits);
    let btf = made.get(id);
    if (!btf) made.set(id, (btf = editor.variant(edits)));
    await writeKernelFile(dir, k.path, btf, k.format);
  }
  for (const m of MARKERS) await writeFile(join(dir, `${m.path}.${m.marker}`), '');
  // Corrupt: the first half of a real .btf.tar.xz, so xz fails part way ("unexpected end of input").
  const whole = await readFile(join(dir, `${KERNELS[0]!.path}.btf.tar.xz`));
  await mkdir(dirname(join(dir, CORRUPT)), { recursive: true });
  await writeFile(join(dir, CORRUPT), whole.subarray(0, Math.floor(whole.length / 2)));
  for (const a of ALIASES) await writeAlias(dir, a.path, a.target);
  await writeFile(join(dir, 'README.md'), 'A test archive in BTFHub layout (test/helpers/test-archive.ts).\n');
}

let pending: Promise<TestArchive> | undefined;

/** The test archive (built on first use, then reused by every test process). */
export function testArchive(): Promise<TestArchive> {
  pending ??= (async () => {
    const fixtures = await loadFixtures();
    const sources = await Promise.all(
      ['../../src/coverage/variants.ts', './test-archive.ts'].map((p) => readFile(fileURLToPath(new URL(p, import.meta.url)))),
    );
    const hash = createHash('sha256').update(fixtures.vmlinux);
    for (const s of sources) hash.update(s);
    const name = `test-archive-${hash.digest('hex').slice(0, 16)}`;
    const dir = await ensureBuiltDir(name, (d) => fill(d, fixtures.vmlinux));
    // Archives of older generator sources are 46 MB each: drop them once nobody uses them.
    await pruneBuildRoot((other) => other.startsWith('test-archive-') && other !== name);
    return describe(dir);
  })();
  return pending;
}
