/**
 * Every codec pass is linear in its input, in time and in memory (docs/CODEC.md §11).
 * Proved without timing anything: each hostile family (test/helpers/hostile-inputs.ts) runs
 * at three sizes, doubling, through the whole pipeline a service request takes (parse the
 * object and the target, trim, verify the trim), and the codec's work counters must stay
 * under a small constant per input byte, and must not grow faster than the input does.
 */
import t, { type Test } from 'tap';
import {
  Btf,
  CodecError,
  DEFAULT_CODEC_LIMITS,
  parseBpfObject,
  parseElf,
  readWorkCounters,
  resetWorkCounters,
  trimBtf,
  verifyTrim,
  type WorkCounts,
} from '../../src/btf/index.js';
import { TARGET } from '../helpers/crafted.js';
import { loadFixtures } from '../helpers/fixtures.js';
import {
  btfWithSharedNames,
  deepTypedefChains,
  elfWithSharedSectionNames,
  longMemberLists,
  manyExtSections,
  manyTypes,
  objectOnManyTypes,
  sharedLongAccessString,
  withRepeatedRelocations,
} from '../helpers/hostile-inputs.js';
import { encodeBtf } from '../../src/btf/index.js';

const COUNTERS = ['bytesScanned', 'charsDecoded', 'recordsRead', 'objectsBuilt', 'coreSteps'] as const;
/** Work per input byte no family may exceed, per counter. Real inputs are far below. */
const PER_BYTE = 8;

interface Sample {
  size: number;
  bytes: number;
  work: WorkCounts;
}

/** Runs `run(size)` at each size; `run` returns the input bytes it was given. */
function measure(sizes: number[], run: (size: number) => number): Sample[] {
  return sizes.map((size) => {
    resetWorkCounters();
    const bytes = run(size);
    return { size, bytes, work: readWorkCounters() };
  });
}

/**
 * Each counter stays under PER_BYTE per input byte at every size, and the work added by the
 * last doubling is at most 1.5x (plus slack) the work added by the first, per byte added:
 * quadratic work would make it about twice.
 */
function expectLinear(t: Test, family: string, samples: Sample[]): void {
  const [a, b, c] = samples as [Sample, Sample, Sample];
  for (const counter of COUNTERS) {
    const perByte = samples.map((s) => s.work[counter] / s.bytes);
    t.ok(
      perByte.every((x) => x <= PER_BYTE),
      `${family}: ${counter} per input byte ${perByte.map((x) => x.toFixed(3)).join(', ')} (sizes ${samples.map((s) => s.size).join(', ')}; ${samples.map((s) => s.bytes).join(', ')} bytes)`,
    );
    const first = (b.work[counter] - a.work[counter]) / (b.bytes - a.bytes);
    const last = (c.work[counter] - b.work[counter]) / (c.bytes - b.bytes);
    t.ok(last <= 1.5 * first + 0.05, `${family}: ${counter} per added byte does not grow (${first.toFixed(3)} then ${last.toFixed(3)})`);
  }
}

const fixtures = await loadFixtures();
const kernel = fixtures.vmlinux;
const crafted = Btf.parse(TARGET);

/** The service pipeline: parse the object and the target, trim, verify. Returns input bytes. */
function pipeline(object: Uint8Array, target: Uint8Array): number {
  const full = Btf.parse(target);
  const objects = [parseBpfObject(object, 'hostile.bpf.o')];
  const trimmed = trimBtf(full, objects);
  const check = verifyTrim(full, Btf.parse(trimmed), objects);
  if (check.mismatchCount !== 0) throw new Error(`verification found ${check.mismatchCount} mismatches`);
  return object.length + target.length;
}

t.test('ELF: thousands of section names sharing one long name', async (t) => {
  for (const distinct of [false, true]) {
    const samples = measure([1000, 2000, 4000], (n) => {
      const elf = elfWithSharedSectionNames(n, n * 50, distinct);
      const parsed = parseElf(elf);
      t.equal(parsed.sections.length, n + 2);
      return elf.length;
    });
    expectLinear(t, `ELF section names, ${distinct ? 'each at its own offset in' : 'all at the start of'} one name`, samples);
  }
});

t.test('BTF: thousands of types sharing one megabyte-long name, decoded and searched', async (t) => {
  for (const distinct of [false, true]) {
    const samples = measure([2500, 5000, 10000], (n) => {
      const bytes = btfWithSharedNames(n, n * 100, distinct);
      const btf = Btf.parse(bytes);
      const name = btf.name(2);
      t.ok(btf.idsByEssentialName(name).length >= 1);
      for (let id = 2; id < btf.typeCount; id += 97) btf.type(id);
      return bytes.length;
    });
    expectLinear(t, `BTF names, ${distinct ? 'each at its own offset in' : 'all at the start of'} one name`, samples);
  }
});

t.test('BTF: many types, one relocation each, trimmed and verified', async (t) => {
  const samples = measure([2000, 4000, 8000], (n) => pipeline(objectOnManyTypes(n), encodeBtf(manyTypes(n))));
  expectLinear(t, 'many types', samples);
});

t.test('a real object whose relocations are repeated thousands of times, against the kernel', async (t) => {
  const base = fixtures.objects.get('tools_like') ?? fixtures.objects.get('shared_a');
  if (!base) {
    t.comment('no real object in this fixture set');
    return;
  }
  const perCopy = parseBpfObject(base.bytes, 'base').ext.coreRelos.reduce((n, b) => n + b.records.length, 0);
  const samples = measure([100, 200, 400], (k) => pipeline(withRepeatedRelocations(base.bytes, k), kernel));
  t.comment(`${perCopy} relocations per copy: ${perCopy * 400} at the largest size`);
  expectLinear(t, 'repeated relocations', samples);
});

t.test('long member lists: one relocation per member of a struct of thousands', async (t) => {
  const samples = measure([1000, 2000, 4000], (n) => {
    const { target, object } = longMemberLists(n);
    return pipeline(object, target);
  });
  expectLinear(t, 'long member lists', samples);
});

t.test('deep typedef chains: a relocation rooted at every typedef of a chain', async (t) => {
  const samples = measure([250, 500, 1000], (n) => {
    const { target, object } = deepTypedefChains(n);
    return pipeline(object, target);
  });
  expectLinear(t, 'deep typedef chains', samples);
});

t.test('many .BTF.ext section blocks, with distinct names and with one shared long name', async (t) => {
  expectLinear(
    t,
    'many .BTF.ext blocks',
    measure([1000, 2000, 4000], (n) => pipeline(manyExtSections(n), TARGET)),
  );
  expectLinear(
    t,
    'many .BTF.ext blocks sharing a long name',
    measure([500, 1000, 2000], (n) => pipeline(manyExtSections(n, n * 20), TARGET)),
  );
});

t.test('one long access string shared by thousands of relocations on distinct roots', async (t) => {
  expectLinear(
    t,
    'shared long access string',
    measure([500, 1000, 2000], (n) => pipeline(sharedLongAccessString(n, n * 20), TARGET)),
  );
});

t.test('limits: over a bound is CodecError LIMIT naming the bound and its value', async (t) => {
  const expectLimit = (what: string, f: () => unknown, name: string, value: number) => {
    let thrown: unknown;
    try {
      f();
    } catch (err) {
      thrown = err;
    }
    t.ok(thrown instanceof CodecError && thrown.code === 'LIMIT', `${what}: CodecError LIMIT`);
    const error = thrown as CodecError;
    t.same(error.limit && { name: error.limit.name, value: error.limit.value }, { name, value }, `${what}: names ${name} = ${value}`);
    t.match(error.message, new RegExp(`${name} = ${value}`), `${what}: the message says so (${error.message})`);
  };
  expectLimit('sections', () => parseElf(elfWithSharedSectionNames(100, 10, false), { limits: { maxSections: 50 } }), 'maxSections', 50);
  expectLimit('types', () => Btf.parse(btfWithSharedNames(100, 10, false), { limits: { maxTypes: 99 } }), 'maxTypes', 99);
  expectLimit(
    'strings',
    () => Btf.parse(btfWithSharedNames(10, 5000, false), { limits: { maxStringBytes: 4096 } }),
    'maxStringBytes',
    4096,
  );
  expectLimit(
    'relocations',
    () => parseBpfObject(objectOnManyTypes(300), 'x.o', { limits: { maxRelocations: 299 } }),
    'maxRelocations',
    299,
  );
  expectLimit('.BTF.ext blocks', () => parseBpfObject(manyExtSections(30), 'x.o', { limits: { maxExtBlocks: 20 } }), 'maxExtBlocks', 20);
  expectLimit(
    'CO-RE work',
    () => {
      const { target, object } = longMemberLists(200);
      trimBtf(Btf.parse(target), [parseBpfObject(object, 'x.o')], { limits: { maxCoreStepsPerByte: 1e-6 } });
    },
    'maxCoreStepsPerByte',
    1e-6,
  );
  // A relocation skipped for another reason is reported; a LIMIT is never skipped.
  let skipped = 0;
  t.throws(() => {
    const { target, object } = longMemberLists(200);
    trimBtf(Btf.parse(target), [parseBpfObject(object, 'x.o')], {
      limits: { maxCoreStepsPerByte: 1e-6 },
      onSkippedRelocation: () => skipped++,
    });
  }, /maxCoreStepsPerByte/);
  t.equal(skipped, 0, 'onSkippedRelocation never sees a LIMIT');
  // The error names the relocation it stopped at and keeps the bound through re-wrapping.
  t.throws(
    () => trimBtf(crafted, [parseBpfObject(sharedLongAccessString(10, 10), 'y.o')], { limits: { maxCoreStepsPerByte: 1e-9 } }),
    /y\.o: section kprobe\/access, insn #0/,
  );
  t.ok(DEFAULT_CODEC_LIMITS.maxRelocations >= 4 * 34_753, 'the default relocation bound leaves 4x headroom over the largest real object');
  t.throws(() => Btf.parse(TARGET, { limits: { maxTypes: -1 } }), /positive number/);
  t.throws(() => Btf.parse(TARGET, { limits: { nope: 1 } as never }), /unknown codec limit/);
});

t.test('real inputs are far inside the limits and the step budget', async (t) => {
  const names = [...fixtures.objects.keys()].filter((n) => fixtures.oracle.single.has(n));
  const objects = names.map((n) => parseBpfObject(fixtures.objects.get(n)!.bytes, n));
  const full = Btf.parse(kernel);
  resetWorkCounters();
  trimBtf(full, objects);
  const steps = readWorkCounters().coreSteps;
  const bytes = objects.reduce((n, o) => n + o.btf.bytes.length, 0) + kernel.length * objects.length;
  t.ok(
    steps / bytes < DEFAULT_CODEC_LIMITS.maxCoreStepsPerByte / 100,
    `${steps} CO-RE steps for ${objects.length} objects: ${(steps / bytes).toFixed(5)} per byte`,
  );
});
