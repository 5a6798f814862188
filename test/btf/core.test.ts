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
  BtfKind,
  encodeBtf,
  CoreReloKind as K,
} from '../../src/btf/index.js';
import { Budget, calcReloInsn, CoreFailure, type CoreSpec, findCandidates, parseAccessString } from '../../src/btf/core.js';
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
  lDupNested,
  lLegacy,
  lPid,
  lSkT,
  lArr,
  lEe,
  lOpsP,
  lChars,
} from '../helpers/crafted.js';
import { buildBpfObject } from '../helpers/btf-ext-builder.js';
import { TypeList } from '../helpers/type-builder.js';

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
  // pruned in place, no sharing. An outcome: the value and the target spec, or the error.
  type Outcome = { value: unknown; spec: unknown } | { error: string };
  const outcomeOf = (res: { value: unknown; targetSpec: CoreSpec | null }): Outcome => ({
    value: res.value,
    spec:
      res.targetSpec === null
        ? null
        : {
            root: res.targetSpec.rootTypeId,
            kind: res.targetSpec.kind,
            bitOffset: res.targetSpec.bitOffset,
            raw: Array.from({ length: res.targetSpec.rawLength }, (_, i) => res.targetSpec!.rawAt(i)),
            accessors: Array.from({ length: res.targetSpec.accessorCount }, (_, k) => [
              res.targetSpec!.accessorType(k),
              res.targetSpec!.accessorIndex(k),
              res.targetSpec!.accessorName(k),
            ]),
          },
  });
  const errorOf = (failure: string, expected: string): Outcome => ({ error: failure.endsWith(`: ${expected}`) ? expected : failure });
  const reference = (o: typeof obj, against = target): Outcome[] => {
    const lists = new Map<number, number[]>();
    const out: Outcome[] = [];
    for (const relo of o.ext.coreRelos[0]!.records) {
      let list = lists.get(relo.typeId);
      if (list === undefined) lists.set(relo.typeId, (list = findCandidates(o.btf, relo.typeId, against)));
      try {
        out.push(outcomeOf(calcReloInsn(against, o.btf, relo, relo.kind === K.TypeIdLocal ? null : list, new Budget())));
      } catch (error) {
        if (!(error instanceof CoreFailure || error instanceof CodecError)) throw error;
        out.push({ error: error instanceof CoreFailure ? `${error.message} (-${error.errno})` : error.message });
      }
    }
    return out;
  };
  const expected = reference(obj);
  const failures: string[] = [];
  const shared = resolveObjectRelocations(target, obj, { onError: (e) => failures.push(e.message) });
  const got = expected.map((want) => ('error' in want ? errorOf(failures.shift()!, want.error) : outcomeOf(shared.shift()!)));
  t.same(got, expected, 'every relocation as calcReloInsn alone gives it, errors included');
  t.same(
    expected.map((o) =>
      'error' in o ? 'error' : (o.value as { poison: boolean }).poison ? 'poison' : Number((o.value as { newVal: bigint }).newVal),
    ),
    [1, 4, 4, 'error', 'error', 1, 'error', 'error', 1, 0, 0, 4, 0, 4, 56, 59, 1, 0, 'poison'],
    'the cases are what they claim: ambiguities fail, pz.g is gone after the pruning',
  );
  t.match((expected[3] as { error: string }).error, /field offset ambiguity/);
  t.match((expected[6] as { error: string }).error, /relocation decision ambiguity/);
  t.equal(target.name((expected[9] as { spec: { root: number } }).spec.root), 'pz', 'decided on the pruned list');

  // And on random objects: roots, access strings and kinds drawn from small sets (so keys
  // repeat, share, prune and fail in every order), against the same reference.
  const roots = [lSkFlat, lDupNested, lBf, lLegacy, lDup, lAmb, lPr, lPz, lAnon, lSkRcuP, lPid, lSkT, lArr, lE, lEe, lOpsP, lChars];
  const accesses = ['0', '0:0', '0:1', '0:2', '1', '0:0:0', '0:1:1', '0:0:2'];
  let seed = 7;
  const pick = <T>(list: readonly T[]): T => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return list[(seed >>> 8) % list.length]!;
  };
  let compared = 0;
  let sharedKeys = 0;
  for (let n = 0; n < 300; n++) {
    const few = [pick(roots), pick(roots), pick(roots)];
    const records = Array.from({ length: 16 }, (_, i) => r(pick(few), pick(accesses), pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), i));
    const random = parseBpfObject(object(records), `random${n}.bpf.o`);
    const kinds = new Map<string, Set<number>>();
    for (const relo of records) {
      const cls =
        relo.kind <= 5 ? 'field' : relo.kind >= 7 && relo.kind <= 9 ? 'type' : relo.kind === 10 || relo.kind === 11 ? 'enum' : relo.kind;
      const key = `${relo.typeId}/${relo.access}/${cls}`;
      kinds.set(key, (kinds.get(key) ?? new Set()).add(relo.kind));
    }
    sharedKeys += [...kinds.values()].filter((set) => set.size > 1).length;
    const want = reference(random);
    const errors: string[] = [];
    const resolved = resolveObjectRelocations(target, random, { onError: (e) => errors.push(e.message) });
    const got = want.map((o) => ('error' in o ? errorOf(errors.shift()!, o.error) : outcomeOf(resolved.shift()!)));
    if (!t.same(got, want, `random object ${n}`)) break;
    compared += want.length;
  }
  t.equal(compared, 300 * 16, 'every random relocation compared');
  t.ok(sharedKeys > 300, `keys shared by several kinds came up (${sharedKeys})`);

  // A candidate whose matching fails (a cyclic typedef chain behind cy.x) after one that
  // matches: every kind raises the failure, after that candidate's values, as calcReloInsn does.
  const T = new TypeList();
  const tInt = T.int('int');
  T.struct('cy', 4, [['x', tInt, 0]]);
  // Ids are given in order: cy___2 is the next, t1 and t2 the two after it.
  const t1 = T.types.length + 2;
  T.struct('cy___2', 4, [['x', t1, 0]]);
  T.add({ kind: BtfKind.Typedef, name: 't1', type: t1 + 1 });
  T.add({ kind: BtfKind.Typedef, name: 't2', type: t1 });
  const cyclic = Btf.parse(encodeBtf(T.types));
  const L = new TypeList();
  const lCy = L.struct('cy', 4, [['x', L.int('int'), 0]]);
  const cyObj = parseBpfObject(
    buildBpfObject(L.types, {
      coreRelos: [{ section: 'kprobe/cy', records: [r(lCy, '0:0', K.FieldExists), r(lCy, '0:0', K.FieldByteOffset, 1)] }],
    }),
    'cy.bpf.o',
  );
  const cyErrors: string[] = [];
  t.equal(resolveObjectRelocations(cyclic, cyObj, { onError: (e) => cyErrors.push(e.message) }).length, 0);
  t.same(
    cyErrors.map((m) => /cyclic/.test(m)),
    [true, true],
    'both kinds fail on the second candidate',
  );
  t.same(
    cyErrors.map((m, i) => errorOf(m, (reference(cyObj, cyclic)[i] as { error: string }).error)),
    reference(cyObj, cyclic),
    'as calcReloInsn fails them',
  );

  // CO-RE steps the resolution of `records` takes.
  const steps = (records: typeof relos) => {
    const before = workCounters.coreSteps;
    resolveObjectRelocations(target, parseBpfObject(object(records), 'steps.bpf.o'));
    return workCounters.coreSteps - before;
  };

  // An object that opens more keys than a resolver holds matchings for (100 FIELD_EXISTS on
  // sk[i].a, then 100 FIELD_BYTE_OFFSET on the same): the first 64 keys share their matching,
  // the rest are matched again, unshared, and every outcome is the reference's.
  const opened = Array.from({ length: 100 }, (_, i) => r(lSkFlat, `${i}:1`, K.FieldExists, i));
  const closed = Array.from({ length: 100 }, (_, i) => r(lSkFlat, `${i}:1`, K.FieldByteOffset, 100 + i));
  const wide = parseBpfObject(object([...opened, ...closed]), 'wide.bpf.o');
  t.same(resolveObjectRelocations(target, wide).map(outcomeOf), reference(wide), 'past the held matchings, as calcReloInsn gives them');
  const openedSteps = steps(opened);
  t.equal(steps([...opened, ...closed]), openedSteps + (openedSteps / 100) * 36, 'the 36 keys past the 64 held are matched twice');

  // Matching once: four more field kinds on bf.y cost no more CO-RE steps than one.
  t.equal(steps(relos.slice(12, 17)), steps(relos.slice(12, 13)), 'five bitfield kinds, one matching');
  t.ok(steps(relos.slice(12, 13)) > 0);
});
