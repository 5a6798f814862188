import t from 'tap';
import {
  Btf,
  CodecError,
  parseBpfObject,
  relocationSteps,
  resolveObjectRelocations,
  resolveRelocations,
  trimBtf,
  workCounters,
  CoreReloKind as K,
} from '../../src/btf/index.js';
import { Budget, calcReloInsn, CoreFailure, findCandidates, parseAccessString } from '../../src/btf/core.js';
import { essentialName, essentialNameHash, essentialHashAt } from '../../src/btf/names.js';
import {
  TARGET,
  object,
  r,
  lSkFlat,
  lMissing,
  lSkMissingField,
  lE,
  lAnon,
  lE64,
  lPr,
  lPz,
  lSkRcuP,
  lAmb,
  lDup,
  lBf,
} from '../helpers/crafted.js';

t.test('access strings are parsed like libbpf sscanf("%d") loops', async (t) => {
  t.same(parseAccessString('0'), [0]);
  t.same(parseAccessString('0:1:2:3'), [0, 1, 2, 3]);
  t.same(parseAccessString('10:1'), [10, 1]);
  t.same(parseAccessString('0: 7'), [0, 7], 'sscanf skips leading white space');
  t.same(parseAccessString('0:+7'), [0, 7], 'and accepts a plus sign');
  t.same(parseAccessString(Array(64).fill('1').join(':')).length, 64, '64 elements are allowed');
  for (const bad of ['', ':0', '0:', '0::1', 'a', '0:x', '0:-1', '0:99999999999', Array(65).fill('1').join(':')]) {
    t.throws(() => parseAccessString(bad), Error, `"${bad.length > 20 ? `${bad.slice(0, 20)}...` : bad}" is refused`);
  }
});

t.test('essential names and their hash agree, read from a string table or from a string', async (t) => {
  for (const name of ['task_struct', 'task_struct___old', 'a___b___c', 'foo____bar', '___x', 'abc___', 'a_b', 'x___y_z', 'ab']) {
    const bytes = new Uint8Array([...name].map((c) => c.charCodeAt(0)).concat([0]));
    t.equal(essentialHashAt(bytes, 0), essentialNameHash(name), `${name} -> ${essentialName(name)}`);
  }
  t.equal(essentialName('task_struct___old'), 'task_struct');
  t.equal(essentialName('a___b___c'), 'a___b');
  t.equal(essentialName('foo____bar'), 'foo____bar');
  t.equal(essentialName('___x'), '___x');
  t.equal(essentialName('abc___'), 'abc___');
});

t.test('relocation outcomes say what resolved and why others did not', async (t) => {
  const target = Btf.parse(TARGET);
  const obj = parseBpfObject(
    object([
      r(lSkFlat, '0:1', K.FieldByteOffset),
      r(lMissing, '0:0', K.FieldExists, 1),
      r(lMissing, '0', K.TypeExists, 2),
      r(lSkMissingField, '0:0', K.FieldByteOffset, 3),
      r(lE, '1', K.EnumvalValue, 4),
      r(lE64, '0', K.EnumvalValue, 5),
      r(lSkFlat, '0', K.TypeIdLocal, 6),
    ]),
    'x.bpf.o',
  );
  const outcomes = resolveRelocations(target, [obj]);
  t.equal(outcomes.length, 7);
  t.match(outcomes[0], {
    object: 'x.bpf.o',
    section: 'kprobe/test',
    insnOff: 0,
    kindName: 'byte_off',
    localTypeName: 'sk',
    access: '0:1',
    value: 0,
  });
  t.notOk(outcomes[0]!.reason);
  t.match(outcomes[1], { kindName: 'field_exists', value: 0, reason: 'no matching target type' });
  t.match(outcomes[2], { kindName: 'type_exists', value: 0, reason: 'no matching target type' });
  t.match(outcomes[3], { kindName: 'byte_off', value: null, reason: 'field not found in target' });
  t.match(outcomes[4], { kindName: 'enumval_value', value: null, reason: 'enumerator not found in target' });
  t.match(outcomes[5], { kindName: 'enumval_value', value: 2 ** 40 });
  t.match(outcomes[6], { kindName: 'local_type_id', value: lSkFlat });
});

t.test('a relocation libbpf rejects ends the object with an error outcome', async (t) => {
  const outcomes = resolveRelocations(Btf.parse(TARGET), [
    parseBpfObject(
      object([r(lSkFlat, '0:0', K.FieldByteOffset), r(lAnon, '0:0', K.FieldExists, 1), r(lSkFlat, '0:0', K.FieldByteOffset, 2)]),
      'y.bpf.o',
    ),
  ]);
  t.equal(outcomes.length, 2, 'the one before, then the error; nothing after');
  t.match(outcomes[1], { kindName: 'error', value: null, reason: /anonymous types/ });
});

t.test('a repeated relocation is resolved once while its candidates stay the same, and reports like the first', async (t) => {
  const target = Btf.parse(TARGET);
  // TYPE_EXISTS on pr matches pr and pr___2 (kept both); f then matches pr___2 only and prunes
  // pr away, so the repeat of the first sees one candidate: resolved again, root pr___2.
  const obj = parseBpfObject(
    object([
      r(lPr, '0', K.TypeExists),
      r(lPr, '0:0', K.FieldByteOffset, 1),
      r(lPr, '0', K.TypeExists, 2),
      r(lPr, '0', K.TypeExists, 3),
      r(lPr, '0:0', K.FieldByteOffset, 4),
    ]),
    'rep.bpf.o',
  );
  const resolved = resolveObjectRelocations(target, obj);
  const root = (i: number) => target.name(resolved[i]!.targetSpec!.rootTypeId);
  t.same([0, 1, 2, 3, 4].map(root), ['pr', 'pr___2', 'pr___2', 'pr___2', 'pr___2'], 'target roots as libbpf finds them, pruning included');
  t.not(resolved[2]!.targetSpec, resolved[0]!.targetSpec, 'after the pruning, the repeat is resolved again');
  t.equal(resolved[3]!.targetSpec, resolved[2]!.targetSpec, 'the next repeat shares the outcome');
  t.equal(resolved[4]!.targetSpec, resolved[1]!.targetSpec, 'a repeat after a relocation that did not prune shares it too');
  t.same([...relocationSteps(target, obj, { keep: 'outcome' })].length, 5);

  // The other way round: pz matches f, pz___2 (after it) does not, so the list keeps pz
  // alone, and g, which only pz___2 has, is then not found, as in libbpf. Alone (another
  // object, so another candidate list), g is found in pz___2.
  const pruneTail = resolveRelocations(target, [
    parseBpfObject(object([r(lPz, '0:1', K.FieldByteOffset)]), 'g.bpf.o'),
    parseBpfObject(
      object([r(lPz, '0:0', K.FieldByteOffset), r(lPz, '0:1', K.FieldByteOffset, 1), r(lPz, '0:0', K.FieldExists, 2)]),
      'fg.bpf.o',
    ),
  ]);
  t.same(
    pruneTail.map((o) => [o.object, o.value, o.targetTypeId === undefined ? null : target.name(o.targetTypeId)]),
    [
      ['g.bpf.o', 0, 'pz___2'],
      ['fg.bpf.o', 0, 'pz'],
      ['fg.bpf.o', null, null],
      ['fg.bpf.o', 1, 'pz'],
    ],
    'g resolves in pz___2 while both are candidates; after f pruned pz___2 away, it is not found, and f still is',
  );

  // Failing repeats are reported one by one when the trim goes on past them.
  const failing = parseBpfObject(
    object([
      r(lSkRcuP, '0', K.TypeExists),
      r(lSkRcuP, '0', K.TypeExists, 1),
      r(lAnon, '0:0', K.FieldExists, 2),
      r(lAnon, '0:0', K.FieldExists, 3),
    ]),
    'fail.bpf.o',
  );
  const skipped: CodecError[] = [];
  trimBtf(target, [failing], { onSkippedRelocation: (e) => skipped.push(e) });
  t.same(
    skipped.map((e) => e.code),
    ['TRIM', 'TRIM', 'CORE', 'CORE'],
  );
  t.match(skipped[1]!.message, /insn #1 .*unsupported kind: TYPE_TAG/);
  t.match(skipped[3]!.message, /insn #3 .*anonymous types/);
});

t.test('kinds of one class on one access string share their candidate matching and decide as each would alone', async (t) => {
  const target = Btf.parse(TARGET);
  // Every case has several candidates: dup and dup___2 match alike; amb and amb___2 have f at
  // different offsets (every field kind fails on the offset); pr and pr___2 both exist but
  // differ in size (TYPE_EXISTS resolves, TYPE_SIZE is ambiguous); pz___2 lacks f, so the
  // first kind on pz.f prunes it and the later kinds decide on the pruned list; bf's
  // bitfield kinds share one matching of a single candidate; e's E_MISSING is in no target.
  const relos = [
    r(lDup, '0:0', K.FieldExists),
    r(lDup, '0:0', K.FieldByteOffset, 1),
    r(lDup, '0:0', K.FieldByteSize, 2),
    r(lAmb, '0:0', K.FieldExists, 3),
    r(lAmb, '0:0', K.FieldByteOffset, 4),
    r(lPr, '0', K.TypeExists, 5),
    r(lPr, '0', K.TypeSize, 6),
    r(lPr, '0', K.TypeIdTarget, 7),
    r(lPz, '0:0', K.FieldExists, 8),
    r(lPz, '0:0', K.FieldByteOffset, 9),
    r(lPz, '0:1', K.FieldExists, 10),
    r(lPz, '0:0', K.FieldByteSize, 11),
    r(lBf, '0:1', K.FieldByteOffset, 12),
    r(lBf, '0:1', K.FieldByteSize, 13),
    r(lBf, '0:1', K.FieldLshiftU64, 14),
    r(lBf, '0:1', K.FieldRshiftU64, 15),
    r(lBf, '0:1', K.FieldSigned, 16),
    r(lE, '1', K.EnumvalExists, 17),
    r(lE, '1', K.EnumvalValue, 18),
  ];
  const obj = parseBpfObject(object(relos), 'kinds.bpf.o');

  // The reference: calcReloInsn relocation by relocation, one candidate list per root,
  // pruned in place, no sharing.
  const lists = new Map<number, number[]>();
  const reference = obj.ext.coreRelos[0]!.records.map((relo) => {
    let list = lists.get(relo.typeId);
    if (list === undefined) lists.set(relo.typeId, (list = findCandidates(obj.btf, relo.typeId, target)));
    try {
      const res = calcReloInsn(target, obj.btf, relo, list, new Budget());
      return { value: res.value, root: res.targetSpec?.rootTypeId ?? null, bitOffset: res.targetSpec?.bitOffset ?? null };
    } catch (error) {
      if (!(error instanceof CoreFailure)) throw error;
      return { error: `${error.message} (-${error.errno})` };
    }
  });
  const failures: string[] = [];
  const shared = resolveObjectRelocations(target, obj, { onError: (e) => failures.push(e.message) });
  const got = reference.map((want) => {
    if ('error' in want) {
      const failure = failures.shift()!;
      return { error: failure.endsWith(`: ${want.error}`) ? want.error : failure };
    }
    const res = shared.shift()!;
    return { value: res.value, root: res.targetSpec?.rootTypeId ?? null, bitOffset: res.targetSpec?.bitOffset ?? null };
  });
  t.same(got, reference, 'every relocation as calcReloInsn alone gives it, errors included');
  t.same(
    reference.map((o) => ('error' in o ? 'error' : o.value.poison ? 'poison' : Number(o.value.newVal))),
    [1, 4, 4, 'error', 'error', 1, 'error', 'error', 1, 0, 0, 4, 0, 4, 56, 59, 1, 0, 'poison'],
    'the cases are what they claim: ambiguities fail, pz.g is gone after the pruning',
  );
  t.match((reference[3] as { error: string }).error, /field offset ambiguity/);
  t.match((reference[6] as { error: string }).error, /relocation decision ambiguity/);
  t.equal(target.name(reference[9]!.root as number), 'pz', 'decided on the pruned list');

  // Matching once: four more field kinds on bf.y cost no more CO-RE steps than one.
  const steps = (records: typeof relos) => {
    const before = workCounters.coreSteps;
    resolveObjectRelocations(target, parseBpfObject(object(records), 'steps.bpf.o'));
    return workCounters.coreSteps - before;
  };
  t.equal(steps(relos.slice(12, 17)), steps(relos.slice(12, 13)), 'five bitfield kinds, one matching');
  t.ok(steps(relos.slice(12, 13)) > 0);
});
