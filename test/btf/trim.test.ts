/**
 * The trimmer against bpftool on real compiled CO-RE objects (test/fixtures/core-progs):
 * every fixture alone, all of them in one run, the two objects that share types, and the
 * TYPE_MATCHES object. Each output must equal bpftool's byte for byte, and every relocation
 * must resolve to the same outcome against the trimmed BTF as against the full one.
 */
import t, { type Test } from 'tap';
import { Btf, CodecError, parseBpfObject, trimBtf, type BpfObject } from '../../src/btf/index.js';
import { dumpRaw } from '../../src/btf/dump.js';
import { verifyTrim, describeMismatches } from '../../src/btf/verify.js';
import { loadFixtures } from '../helpers/fixtures.js';

const fixtures = await loadFixtures();
const target = Btf.parse(fixtures.vmlinux);
const parsed = new Map<string, BpfObject>();
for (const [name, o] of fixtures.objects) parsed.set(name, parseBpfObject(o.bytes, `${name}.bpf.o`));
const objectsNamed = (names: Iterable<string>) => [...names].map((n) => parsed.get(n)!);

function expectSameAsBpftool(t: Test, label: string, objects: BpfObject[], oracle: Uint8Array) {
  const ours = trimBtf(target, objects);
  const same = Buffer.from(ours).equals(Buffer.from(oracle));
  t.ok(same, `${label}: byte-identical to bpftool (${ours.length} bytes)`);
  if (!same) {
    // Show the first differing line of the two listings, which says far more than a byte offset.
    const a = dumpRaw(Btf.parse(ours)).split('\n');
    const b = dumpRaw(Btf.parse(oracle)).split('\n');
    const i = a.findIndex((line, k) => line !== b[k]);
    t.comment(`first difference at listing line ${i}:\n  ours:    ${a[i]}\n  bpftool: ${b[i]}`);
  }
  const check = verifyTrim(target, Btf.parse(ours), objects);
  t.equal(
    check.mismatchCount,
    0,
    `${label}: ${check.relocations} relocations resolve the same against the trimmed BTF${check.mismatchCount ? `: ${describeMismatches(check)}` : ''}`,
  );
  return check.relocations;
}

t.comment(`fixtures: ${fixtures.source}, ${fixtures.objects.size} objects, ${fixtures.toolVersions.replace(/\n/g, '; ')}`);

t.test('each fixture alone equals bpftool', async (t) => {
  let relocations = 0;
  for (const [name, oracle] of fixtures.oracle.single) relocations += expectSameAsBpftool(t, name, objectsNamed([name]), oracle);
  t.ok(
    fixtures.oracle.single.size >= (fixtures.source === 'built' ? 15 : 4),
    `${fixtures.oracle.single.size} fixtures compared, ${relocations} relocations checked`,
  );
});

t.test('all fixtures in one run equal bpftool', async (t) => {
  const names = [...fixtures.oracle.single.keys()].filter((n) => n !== 'type_matches' && n !== 'type_matches_cases');
  expectSameAsBpftool(t, `ALL (${names.length} objects)`, objectsNamed(names), fixtures.oracle.all);
});

t.test('two objects sharing types equal bpftool', async (t) => {
  expectSameAsBpftool(t, 'shared_a + shared_b', objectsNamed(['shared_a', 'shared_b']), fixtures.oracle.sharedPair);
});

t.test('TYPE_MATCHES (records patched from TYPE_EXISTS) equals bpftool', async (t) => {
  expectSameAsBpftool(t, 'type_matches', objectsNamed(['type_matches']), fixtures.oracle.typeMatches);
});

t.test('objects bpftool refuses are refused, with object, section, instruction and type', async (t) => {
  t.ok(fixtures.oracle.failures.size >= 1, `${fixtures.oracle.failures.size} failing fixtures`);
  for (const [name, stderr] of fixtures.oracle.failures) {
    let error: unknown;
    try {
      trimBtf(target, objectsNamed([name]));
    } catch (err) {
      error = err;
    }
    t.type(error, CodecError, `${name}: refused like bpftool (${stderr.trim().split('\n').pop()})`);
    t.match(
      (error as Error).message,
      new RegExp(`${name}\\.bpf\\.o: section \\S+, insn #\\d+ \\(offset \\d+\\), relo #\\d+ .* of (struct|union|typedef|enum|ptr|int|fwd)`),
      `${name}: message locates the relocation`,
    );
  }
});

t.test('an object without CO-RE relocations gives what bpftool gives', async (t) => {
  const oracle = fixtures.oracle.single.get('no_relos');
  if (!oracle) {
    t.comment('no_relos is not in this fixture set');
    return;
  }
  t.equal(oracle.length, 25, 'bpftool writes an empty BTF');
  expectSameAsBpftool(t, 'no_relos', objectsNamed(['no_relos']), oracle);
});
