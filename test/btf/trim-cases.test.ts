/**
 * Differential tests on crafted inputs: a hand-made target "kernel" and hand-made BPF
 * objects that reach the CO-RE and btfgen edge cases no compiler emits on demand
 * (docs/CODEC.md §7, §8). Each case runs our trimmer and `bpftool gen min_core_btf` on the
 * same bytes: the outputs must be identical, or both must refuse the input.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, BtfKind, CodecError, parseBpfObject, trimBtf, CoreReloKind as K } from '../../src/btf/index.js';
import { type RelocSpec } from '../helpers/btf-ext-builder.js';
import { runBpftoolMinCore } from '../helpers/fixtures.js';
import {
  tProto,
  tOps,
  TARGET,
  lSkFlat,
  lDupNested,
  lBf,
  lLegacy,
  lDup,
  lAmb,
  lPr,
  lAnon,
  lTagged,
  lSkRcuP,
  lPid,
  lSkT,
  lArr,
  lE,
  lE64,
  lEe,
  lOps,
  lOpsP,
  lOpaqueP,
  lMissing,
  lSkMissingField,
  lChars,
  r,
  object,
} from '../helpers/crafted.js';
import { toolWorks } from '../fixtures/tools.js';

interface Case {
  name: string;
  objects: Uint8Array[];
  /** Our error must match this when bpftool refuses the input too. */
  error?: RegExp;
}

const cases: Case[] = [
  {
    name: 'field in a nested anonymous union/struct of the target, flat locally',
    objects: [object([r(lSkFlat, '0:0', K.FieldByteOffset)])],
  },
  { name: 'field nested anonymously locally, flat in the target', objects: [object([r(lDupNested, '0:0:0', K.FieldByteOffset)])] },
  {
    name: 'bitfields: lshift/rshift/signed/byte size keep kind_flag',
    objects: [
      object([
        r(lBf, '0:0', K.FieldLshiftU64),
        r(lBf, '0:1', K.FieldRshiftU64, 1),
        r(lBf, '0:0', K.FieldSigned, 2),
        r(lBf, '0:1', K.FieldByteSize, 3),
        r(lBf, '0:1', K.FieldByteOffset, 4),
      ]),
    ],
  },
  {
    name: 'kind_flag struct keeping only a plain member is written with kind_flag 0',
    objects: [object([r(lBf, '0:2', K.FieldByteOffset)])],
  },
  {
    name: 'legacy kind_flag=0 bitfield member cannot be written',
    objects: [object([r(lLegacy, '0:0', K.FieldByteOffset)])],
    error: /bitfield without a size/,
  },
  { name: 'two candidates with equal offsets: the first is kept', objects: [object([r(lDup, '0:0', K.FieldByteOffset)])] },
  {
    name: 'two candidates with different offsets: field offset ambiguity',
    objects: [object([r(lAmb, '0:0', K.FieldByteOffset)])],
    error: /field offset ambiguity/,
  },
  {
    name: 'TYPE_ID_TARGET with two compatible candidates is ambiguous',
    objects: [object([r(lDup, '0', K.TypeIdTarget)])],
    error: /relocation decision ambiguity/,
  },
  {
    name: 'candidate pruning by an earlier relocation avoids a later ambiguity',
    objects: [object([r(lPr, '0:0', K.FieldByteOffset), r(lPr, '0:1', K.FieldByteOffset, 1)])],
  },
  {
    name: 'repeats of a type relocation: before the pruning both candidates are kept, after it one',
    objects: [
      object([
        r(lPr, '0', K.TypeExists),
        r(lPr, '0', K.TypeExists, 1),
        r(lPr, '0:0', K.FieldByteOffset, 2),
        r(lPr, '0', K.TypeExists, 3),
        r(lPr, '0', K.TypeIdTarget, 4),
        r(lPr, '0', K.TypeIdTarget, 5),
      ]),
    ],
  },
  {
    name: 'without the pruning relocation first, the same access is ambiguous',
    objects: [object([r(lPr, '0:1', K.FieldByteOffset), r(lPr, '0:0', K.FieldByteOffset, 1)])],
    error: /field offset ambiguity/,
  },
  { name: 'a relocation on an anonymous root type fails', objects: [object([r(lAnon, '0:0', K.FieldExists)])], error: /anonymous types/ },
  { name: 'TYPE_ID_LOCAL only: empty output', objects: [object([r(lSkFlat, '0', K.TypeIdLocal)])] },
  {
    name: 'field of pointer type: the pointer is kept, its TYPE_TAG pointee becomes void',
    objects: [object([r(lTagged, '0:1', K.FieldByteOffset)])],
  },
  {
    name: 'type relocation following a pointer into a TYPE_TAG fails',
    objects: [object([r(lSkRcuP, '0', K.TypeExists)])],
    error: /unsupported kind: TYPE_TAG/,
  },
  {
    name: 'TYPE_MATCHES reaching a TYPE_TAG behind a pointer fails',
    objects: [object([r(lTagged, '0', K.TypeMatches)])],
    error: /unsupported kind: TYPE_TAG/,
  },
  { name: 'TYPE_MATCHES keeps the member closure, function prototypes included', objects: [object([r(lOps, '0', K.TypeMatches)])] },
  { name: 'relocations rooted at typedefs', objects: [object([r(lPid, '0', K.TypeSize), r(lSkT, '0:0', K.FieldByteOffset, 1)])] },
  {
    name: 'ENUMVAL on a 32-bit local enum against a target ENUM64; a missing enumerator marks nothing',
    objects: [object([r(lE64, '0', K.EnumvalValue), r(lE, '1', K.EnumvalExists, 1), r(lE, '0', K.EnumvalValue, 2)])],
  },
  { name: 'ENUM -1 and ENUM64 all-ones agree after sign extension', objects: [object([r(lEe, '0', K.EnumvalValue)])] },
  {
    name: 'arrays: 2-D element, array of structs, flexible array past its bound, char array size',
    objects: [
      object([
        r(lArr, '0:0:1:2', K.FieldByteOffset),
        r(lArr, '0:1:1:0', K.FieldByteOffset, 1),
        r(lArr, '0:2:5', K.FieldExists, 2),
        r(lChars, '0:0:3', K.FieldByteSize, 3),
        r(lChars, '0:0', K.FieldByteSize, 4),
      ]),
    ],
  },
  { name: 'FIELD_SIGNED on an array element fails', objects: [object([r(lArr, '0:0:1', K.FieldSigned)])], error: /array element access/ },
  {
    name: 'function pointer member stays a pointer to void; TYPE_EXISTS on a typedef to a pointer keeps the struct empty',
    objects: [object([r(lOps, '0:0', K.FieldByteOffset), r(lOpsP, '0', K.TypeExists, 1)])],
  },
  {
    name: 'type relocation following a pointer into a FWD fails',
    objects: [object([r(lOpaqueP, '0', K.TypeSize)])],
    error: /unsupported kind: FWD/,
  },
  { name: 'unknown relocation kind fails', objects: [object([r(lSkFlat, '0:0', 13)])], error: /unknown relocation kind 13/ },
  {
    name: 'missing type and missing field mark nothing',
    objects: [
      object([r(lMissing, '0:0', K.FieldExists), r(lMissing, '0', K.TypeExists, 1), r(lSkMissingField, '0:0', K.FieldByteOffset, 2)]),
    ],
  },
  { name: 'bad access strings fail', objects: [object([r(lSkFlat, '0:9', K.FieldByteOffset)])], error: /out of range/ },
  {
    name: 'type relocation with an access string other than "0" fails',
    objects: [object([r(lSkFlat, '1', K.TypeExists)])],
    error: /needs access string "0"/,
  },
  { name: 'relocation type id out of range fails', objects: [object([r(999, '0:0', K.FieldByteOffset)])], error: /out of range/ },
  {
    name: 'two objects share a struct: the union of members, once',
    objects: [
      object([r(lSkFlat, '0:1', K.FieldByteOffset)]),
      object([r(lSkFlat, '0:0', K.FieldByteOffset), r(lSkFlat, '0', K.TypeSize, 1)], 'tp/other'),
    ],
  },
];

t.test('crafted CO-RE cases: our trimmer equals bpftool', async (t) => {
  const haveBpftool = await toolWorks('bpftool', ['version']);
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-cases-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const targetPath = join(dir, 'target.btf');
  await writeFile(targetPath, TARGET);
  const target = Btf.parse(TARGET);
  let compared = 0;
  for (const [i, c] of cases.entries()) {
    const paths: string[] = [];
    for (const [j, o] of c.objects.entries()) {
      const p = join(dir, `case${i}-${j}.bpf.o`);
      await writeFile(p, o);
      paths.push(p);
    }
    let ours: Uint8Array | CodecError;
    try {
      ours = trimBtf(
        target,
        c.objects.map((o, j) => parseBpfObject(o, `case${i}-${j}.bpf.o`)),
      );
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      ours = err;
    }
    if (c.error) {
      t.type(ours, CodecError, `${c.name}: refused`);
      if (ours instanceof CodecError) {
        t.match(ours.message, c.error, `${c.name}: message`);
        t.match(
          ours.message,
          /case\d+-\d+\.bpf\.o: section kprobe\/test, insn #\d+ \(offset \d+\), relo #\d+/,
          `${c.name}: names object, section, instruction`,
        );
      }
    } else {
      t.notOk(ours instanceof CodecError, `${c.name}: accepted${ours instanceof CodecError ? ` (${ours.message})` : ''}`);
    }
    if (!haveBpftool) continue;
    const oracle = await runBpftoolMinCore(targetPath, paths);
    if (c.error) {
      t.notOk(oracle.ok, `${c.name}: bpftool refuses it too`);
    } else if (oracle.ok && !(ours instanceof CodecError)) {
      t.ok(Buffer.from(ours).equals(Buffer.from(oracle.btf)), `${c.name}: byte-identical to bpftool (${ours.length} bytes)`);
      compared++;
    } else {
      t.fail(`${c.name}: bpftool ${oracle.ok ? 'accepted' : `refused: ${oracle.stderr}`}`);
    }
  }
  if (!haveBpftool) t.comment('bpftool not available: differential half skipped');
  else t.ok(compared >= 15, `${compared} accepted cases compared byte for byte`);
});

t.test('the trimmed output of the crafted cases has the expected shape', async (t) => {
  const target = Btf.parse(TARGET);
  const trim = (relos: RelocSpec[]) => Btf.parse(trimBtf(target, [parseBpfObject(object(relos), 'x.o')]));
  const nested = trim([r(lSkFlat, '0:0', K.FieldByteOffset)]);
  const sk = [...nested.types()].find(([, ty]) => ty.name === 'sk')![1];
  t.match(
    sk,
    { kind: BtfKind.Struct, size: 12, members: [{ name: '', bitOffset: 32 }] },
    'sk keeps only the anonymous union on the path, at its offset',
  );
  t.equal(trim([r(lSkFlat, '0', K.TypeIdLocal)]).typeCount, 1, 'TYPE_ID_LOCAL keeps nothing');
  const bfPlain = trim([r(lBf, '0:2', K.FieldByteOffset)]);
  const bf = [...bfPlain.types()].find(([, ty]) => ty.name === 'bf')![1];
  t.match(bf, { kindFlag: false, members: [{ name: 'z', bitOffset: 32, bitfieldSize: 0 }] });
  const tagged = trim([r(lTagged, '0:1', K.FieldByteOffset)]);
  const ptr = [...tagged.types()].find(([, ty]) => ty.kind === BtfKind.Pointer)![1];
  t.match(ptr, { type: 0 }, 'the unmarked pointee became void');
  const fnptr = trim([r(lOps, '0:0', K.FieldByteOffset), r(lOpsP, '0', K.TypeExists, 1)]);
  const ops = [...fnptr.types()].find(([, ty]) => ty.name === 'ops')![1];
  t.match(ops, { members: [{ name: 'cb' }] });
  t.notOk(
    [...fnptr.types()].some(([, ty]) => ty.kind === BtfKind.FuncProto),
    'the function prototype behind the member pointer is not kept',
  );
  t.equal(tProto > 0 && tOps > 0, true);
});

t.test('with onSkippedRelocation, the cases bpftool aborts on are reported and left out', async (t) => {
  const target = Btf.parse(TARGET);
  for (const [i, c] of cases.entries()) {
    if (!c.error) continue;
    const skipped: CodecError[] = [];
    const objects = c.objects.map((o, j) => parseBpfObject(o, `case${i}-${j}.bpf.o`));
    const out = trimBtf(target, objects, { onSkippedRelocation: (e) => skipped.push(e) });
    t.ok(skipped.length >= 1, `${c.name}: reported`);
    t.match(skipped[0]!.message, c.error, `${c.name}: the same reason as the strict run`);
    t.ok(Btf.parse(out).typeCount >= 1, `${c.name}: the rest is trimmed (${out.length} bytes)`);
  }
});
