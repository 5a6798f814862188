/**
 * Checks the CO-RE fixture set itself (not the codec): every object is there and is a
 * BPF ELF with .BTF and .BTF.ext, every oracle output is BTF, the TYPE_MATCHES objects
 * really carry kind-12 records, the expected bpftool failures are recorded, and the
 * committed prebuilt set is intact and loads.
 *
 * BTFHUB_FIXTURES_WRITE_PREBUILT=1 also rewrites test/fixtures/prebuilt/ from the set
 * built here (commit the result).
 */
import { access } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { findSection, parseElf } from '../src/btf/elf.js';
import { BTF_MAGIC } from './fixtures/core-relos.js';
import { checkPrebuiltFiles, readManifest, writePrebuiltSet } from './fixtures/prebuilt.js';
import {
  builtObjectNames,
  countByKind,
  type FixtureSet,
  loadFixtures,
  PREBUILT_OBJECTS,
  patchTypeMatches,
  readCoreRelos,
  runBpftoolMinCore,
  TYPE_EXISTS,
  TYPE_MATCHES,
  TYPE_MATCHES_FIXTURES,
} from './helpers/fixtures.js';

const EM_BPF = 247;

function startsWithBtfMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 24 && new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(0, true) === BTF_MAGIC;
}

async function expectedObjects(set: FixtureSet): Promise<string[]> {
  return set.source === 'built' ? builtObjectNames() : [...PREBUILT_OBJECTS].sort();
}

async function checkSet(t: Test, set: FixtureSet): Promise<void> {
  t.test('every expected object exists and is a BPF ELF with .BTF and .BTF.ext', async (t) => {
    t.same([...set.objects.keys()].sort(), await expectedObjects(set));
    for (const [name, object] of set.objects) {
      const elf = parseElf(object.bytes);
      t.equal(elf.machine, EM_BPF, `${name}: e_machine is EM_BPF`);
      t.ok(findSection(elf, '.BTF'), `${name} has .BTF`);
      t.ok(findSection(elf, '.BTF.ext'), `${name} has .BTF.ext`);
      await t.resolves(access(object.path), `${name}: ${object.path} exists`);
    }
  });

  t.test('every oracle output and the kernel BTF start with the BTF magic', async (t) => {
    t.ok(startsWithBtfMagic(set.vmlinux), 'vmlinux');
    await t.resolves(access(set.vmlinuxPath), 'vmlinuxPath is a real file');
    for (const [name, btf] of set.oracle.single) t.ok(startsWithBtfMagic(btf), `${name}.min.btf`);
    t.ok(startsWithBtfMagic(set.oracle.all), 'ALL.min.btf');
    t.ok(startsWithBtfMagic(set.oracle.sharedPair), 'shared_ab.min.btf');
    t.ok(startsWithBtfMagic(set.oracle.typeMatches), 'type_matches.min.btf');
    t.equal(set.oracle.typeMatches, set.oracle.single.get('type_matches'));
  });

  t.test('TYPE_MATCHES objects carry kind-12 records and no kind-8 ones', async (t) => {
    for (const name of TYPE_MATCHES_FIXTURES.keys()) {
      const object = set.objects.get(name);
      if (!object) continue; // the prebuilt set holds type_matches only
      const kinds = readCoreRelos(object.bytes, name).records.map((r) => r.kind);
      t.ok(kinds.includes(TYPE_MATCHES), `${name} has TYPE_MATCHES records`);
      t.notOk(kinds.includes(TYPE_EXISTS), `${name} has no TYPE_EXISTS records left`);
    }
    t.ok(set.objects.has('type_matches'));
  });

  t.test('objects named fail_* are exactly the ones bpftool rejected', async (t) => {
    const failing = [...set.objects.keys()].filter((n) => n.startsWith('fail_')).sort();
    t.same([...set.oracle.failures.keys()].sort(), failing);
    for (const [name, stderr] of set.oracle.failures) {
      t.match(stderr, /^Error: error recording relocations for \S+\.bpf\.o: /m, `${name}: bpftool's own error line`);
      t.ok((set.oracle.failureExitStatus.get(name) ?? 0) > 0, `${name}: non-zero exit status`);
    }
    t.match(set.oracle.failures.get('fail_anon_root'), /relocation doesn't support anonymous types/);
  });

  t.test('relocation counts', async (t) => {
    const counts = new Map([...set.objects].map(([name, o]) => [name, readCoreRelos(o.bytes, name).records.length]));
    for (const [name, count] of counts)
      t.comment(`${name}: ${count} CO-RE relocations ${JSON.stringify(countByKind(readCoreRelos(set.objects.get(name)!.bytes).records))}`);
    const toolsLike = counts.get('tools_like') ?? 0;
    t.ok(toolsLike >= 60 && toolsLike <= 150, `tools_like has 60-150 relocations (${toolsLike})`);
    if (counts.has('no_relos')) t.equal(counts.get('no_relos'), 0, 'no_relos has none');
  });

  t.test('objects that mark nothing give an empty BTF (25 bytes: header and one NUL)', async (t) => {
    for (const name of ['no_relos', 'type_id_local_only']) {
      const output = set.oracle.single.get(name);
      if (output) t.equal(output.length, 25, name);
    }
  });

  t.test('bpftool reproduces the recorded outputs', { skip: set.hasBpftool ? false : 'bpftool is not installed' }, async (t) => {
    const shared = await runBpftoolMinCore(set.vmlinuxPath, [set.objects.get('shared_a')!.path, set.objects.get('shared_b')!.path]);
    t.ok(shared.ok && Buffer.from(shared.btf).equals(set.oracle.sharedPair), 'shared_a + shared_b');
    const failing = await runBpftoolMinCore(set.vmlinuxPath, [set.objects.get('fail_anon_root')!.path]);
    t.notOk(failing.ok, 'fail_anon_root is rejected');
    if (!failing.ok) t.match(failing.stderr, /relocation doesn't support anonymous types/);
  });
}

t.test('the fixture set', async (t) => {
  const set = await loadFixtures();
  t.comment(`source: ${set.source}, dir: ${set.dir}, ${set.objects.size} objects; ${set.toolVersions.replace(/\n/g, '; ')}`);
  await checkSet(t, set);

  if (set.source === 'built') {
    t.test('patching type_relos.bpf.o gives exactly type_matches.bpf.o', async (t) => {
      const { bytes, patched } = patchTypeMatches(set.objects.get('type_relos')!.bytes);
      t.ok(patched > 0);
      t.ok(Buffer.from(bytes).equals(set.objects.get('type_matches')!.bytes));
    });
  }

  if (process.env.BTFHUB_FIXTURES_WRITE_PREBUILT === '1') {
    t.test('rewrite test/fixtures/prebuilt/', async (t) => {
      t.equal(set.source, 'built', 'needs a built set');
      const manifest = await writePrebuiltSet(set);
      const total = Object.values(manifest.files).reduce((sum, f) => sum + f.bytes, 0);
      t.comment(`prebuilt set: ${Object.keys(manifest.files).length} files, ${total} bytes`);
    });
  }
});

t.test('the committed prebuilt set', async (t) => {
  t.test('files match MANIFEST.json', async (t) => {
    t.same(await checkPrebuiltFiles(), []);
    const manifest = await readManifest();
    t.same([...manifest.objects].sort(), [...PREBUILT_OBJECTS].sort());
  });

  t.test('the prebuilt fallback loads (BTFHUB_FIXTURES=prebuilt)', async (t) => {
    const set = await loadFixtures('prebuilt');
    t.equal(set.source, 'prebuilt');
    await checkSet(t, set);
  });

  const prebuilt = await loadFixtures('prebuilt');
  const built = await loadFixtures();
  const comparable =
    built.source !== 'built'
      ? 'the fixtures cannot be built here'
      : !Buffer.from(built.vmlinux).equals(prebuilt.vmlinux) || built.toolVersions !== prebuilt.toolVersions
        ? 'the prebuilt set was made against another kernel BTF or other tool versions'
        : false;
  t.test('the prebuilt set is what the sources build to here', { skip: comparable }, async (t) => {
    // Objects are reproducible (build.sh maps paths out of the debug info), so a difference
    // means the sources changed since test/fixtures/prebuilt/ was written.
    const stale = `stale: regenerate with ${(await readManifest()).regenerate}`;
    for (const name of PREBUILT_OBJECTS) {
      t.ok(Buffer.from(built.objects.get(name)!.bytes).equals(prebuilt.objects.get(name)!.bytes), `${name}.bpf.o (${stale})`);
      t.same(prebuilt.oracle.single.get(name), built.oracle.single.get(name), `${name}.min.btf`);
      t.equal(prebuilt.oracle.failures.get(name), built.oracle.failures.get(name), `${name} bpftool error`);
    }
    t.same(prebuilt.oracle.sharedPair, built.oracle.sharedPair, 'shared_ab.min.btf');
  });
});
