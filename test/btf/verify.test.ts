/**
 * The trim check (src/btf/verify.ts, docs/CODEC.md §9) on hand-made "trimmed" BTF that gets
 * relocations wrong on purpose: a moved field, a missing field, a type renumbered (fine for
 * TYPE_ID_TARGET, compared by kind and name), and a candidate list that turns ambiguous,
 * which loses that relocation and every later one of the object.
 */
import t from 'tap';
import {
  Btf,
  CoreReloKind as K,
  describeMismatches,
  encodeBtf,
  parseBpfObject,
  RelocationOutcomes,
  trimBtf,
  verifyTrim,
} from '../../src/btf/index.js';
import { buildBpfObject } from '../helpers/btf-ext-builder.js';
import { TypeList } from '../helpers/type-builder.js';

/** A target with `struct sk { int a; int b@bOffset; }` (b left out when bOffset is undefined), plus extra types first. */
function target(bOffset: number | undefined, options: { padTypes?: number; ambiguous?: boolean } = {}): Btf {
  const list = new TypeList();
  const int = list.int('int');
  for (let i = 0; i < (options.padTypes ?? 0); i++) list.int(`pad${i}`);
  const members: [string, number, number][] = [['a', int, 0]];
  if (bOffset !== undefined) members.push(['b', int, bOffset]);
  list.struct('sk', 16, members);
  if (options.ambiguous)
    list.struct('sk___2', 16, [
      ['a', int, 32],
      ['b', int, 64],
    ]);
  list.struct('other', 4, [['x', int, 0]]);
  return Btf.parse(encodeBtf(list.types));
}

const local = new TypeList();
const lInt = local.int('int');
const lSk = local.struct('sk', 8, [
  ['a', lInt, 0],
  ['b', lInt, 32],
]);
const lOther = local.struct('other', 4, [['x', lInt, 0]]);
const object = parseBpfObject(
  buildBpfObject(local.types, {
    coreRelos: [
      {
        section: 'kprobe/v',
        records: [
          { insnOff: 0, typeId: lSk, access: '0:1', kind: K.FieldByteOffset },
          { insnOff: 8, typeId: lSk, access: '0', kind: K.TypeIdTarget },
          { insnOff: 16, typeId: lOther, access: '0:0', kind: K.FieldByteOffset },
          { insnOff: 24, typeId: lSk, access: '0:0', kind: K.FieldByteOffset },
        ],
      },
    ],
  }),
  'v.bpf.o',
);

const full = target(32);

t.test('a faithful trim, even with every type renumbered, has no mismatch', async (t) => {
  const check = verifyTrim(full, target(32, { padTypes: 3 }), [object]);
  t.same(check, { relocations: 4, mismatches: [], mismatchCount: 0 });
});

t.test('a moved or a missing field is a mismatch that says both outcomes', async (t) => {
  const moved = verifyTrim(full, target(64), [object]);
  t.equal(moved.mismatchCount, 1);
  t.match(moved.mismatches[0], {
    object: 'v.bpf.o',
    section: 'kprobe/v',
    index: 0,
    insnOff: 0,
    kindName: 'byte_off',
    access: '0:1',
    full: 'value 4',
    trimmed: 'value 8',
  });
  const missing = verifyTrim(full, target(undefined), [object]);
  t.match(missing.mismatches[0], { full: 'value 4', trimmed: 'poisoned' });
  t.match(
    describeMismatches(missing),
    /v\.bpf\.o: section kprobe\/v, relo #0 byte_off "0:1" \(insn offset 0\): full BTF gives value 4, trimmed BTF gives poisoned/,
  );
});

t.test('a relocation that fails against the trimmed BTF loses it and every later one', async (t) => {
  const check = verifyTrim(full, target(32, { ambiguous: true }), [object], { maxMismatches: 2 });
  t.equal(check.relocations, 4);
  t.equal(check.mismatchCount, 4, 'the first already fails (field offset ambiguity), so all four are lost');
  t.equal(check.mismatches.length, 2, 'only maxMismatches are described');
  t.match(check.mismatches[1], { index: 1, full: 'target STRUCT sk', trimmed: /^resolution failed: v\.bpf\.o: .*ambiguity/ });
  t.match(describeMismatches(check), /; \.\.\. and 2 more$/);
});

t.test('an error against the full BTF is not a mismatch: it propagates', async (t) => {
  t.throws(() => verifyTrim(target(32, { ambiguous: true }), full, [object]), /field offset ambiguity/);
});

t.test("the trim's recorded outcomes give the verdicts the two-sided resolution gives", async (t) => {
  const recorded = new RelocationOutcomes();
  trimBtf(full, [object], { outcomes: recorded });
  t.equal(recorded.count, 4, 'one outcome per relocation');
  t.ok(recorded.usable);
  for (const trimmed of [target(32, { padTypes: 3 }), target(64), target(undefined), target(32, { ambiguous: true })]) {
    t.same(verifyTrim(full, trimmed, [object], { expected: recorded }), verifyTrim(full, trimmed, [object]));
  }
  // The full BTF is not resolved again when every outcome matches: this one would throw if it were.
  t.same(verifyTrim(target(32, { ambiguous: true }), target(32, { padTypes: 3 }), [object], { expected: recorded }), {
    relocations: 4,
    mismatches: [],
    mismatchCount: 0,
  });
  // Outcomes recorded against another kernel differ: resolved on both sides, the true verdict.
  const elsewhere = new RelocationOutcomes();
  trimBtf(target(64), [object], { outcomes: elsewhere });
  t.same(verifyTrim(full, target(32, { padTypes: 3 }), [object], { expected: elsewhere }), {
    relocations: 4,
    mismatches: [],
    mismatchCount: 0,
  });
  // A trim that skipped a failing relocation recorded no outcome for it: not used.
  const skipped = new RelocationOutcomes();
  trimBtf(target(32, { ambiguous: true }), [object], { outcomes: skipped, onSkippedRelocation: () => undefined });
  t.notOk(skipped.usable);
});
