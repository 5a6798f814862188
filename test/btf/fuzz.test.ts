/**
 * Hostile input for the codec: thousands of mutated BTF blobs, ELF files, .BTF.ext sections
 * and whole objects (truncations, bit flips, extreme counts and ids, spliced records), plus
 * hand-made reference cycles. Each must end in a result or a CodecError, quickly.
 */
import t, { type Test } from 'tap';
import { Btf, BtfKind, CodecError, encodeBtf, parseBpfObject, trimBtf, CoreReloKind as K, type BtfType } from '../../src/btf/index.js';
import { buildBpfObject } from '../helpers/btf-ext-builder.js';
import { L, TARGET, object, r, lSkFlat, lBf, lArr, lOps, lE64, lPr, lSkT } from '../helpers/crafted.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { everyKind } from '../helpers/sample-types.js';
import { btf2026Seeds, codecTargets, hostileTargets, runFuzz } from '../fuzz/codec-fuzz.js';

const fixtures = await loadFixtures();
const kernel = Btf.parse(fixtures.vmlinux);
const realObjects = ['shared_a', 'tools_like', 'type_matches']
  .map((n) => fixtures.objects.get(n)?.bytes)
  .filter((b): b is Uint8Array => b !== undefined);
const craftedObjects = [
  object([r(lSkFlat, '0:0', K.FieldByteOffset), r(lBf, '0:1', K.FieldLshiftU64, 1), r(lArr, '0:0:1:2', K.FieldByteOffset, 2)]),
  object([r(lOps, '0', K.TypeMatches), r(lE64, '0', K.EnumvalValue, 1), r(lPr, '0:0', K.FieldExists, 2), r(lSkT, '0', K.TypeSize, 3)]),
];

t.test('mutated inputs end in a result or a CodecError, never a crash or a hang', async (t) => {
  const crafted = codecTargets({
    btfSeeds: [encodeBtf(everyKind()), encodeBtf(everyKind(), { littleEndian: false }), TARGET, ...btf2026Seeds()],
    objectSeeds: craftedObjects,
    target: Btf.parse(TARGET),
  });
  const real = codecTargets({
    btfSeeds: [
      trimBtf(
        kernel,
        realObjects.map((o, i) => parseBpfObject(o, `o${i}`)),
      ),
    ],
    objectSeeds: realObjects,
    target: kernel,
  })
    .filter((target) => target.name === 'object+trim' || target.name === 'btf.ext')
    .map((target) => ({ ...target, name: `${target.name} (kernel)` }));
  const report = runFuzz([...crafted, ...real], { seed: 20261127, iterations: 6000, slowMs: 2000 });
  for (const f of report.findings.slice(0, 5)) t.comment(`finding in ${f.target} at iteration ${f.iteration} (${f.mutation}): ${f.error}`);
  t.equal(report.findings.length, 0, `${report.iterations} iterations: no exception other than CodecError, none slower than 2 s`);
  t.equal(report.iterations, 6000);
  t.ok(Object.keys(report.rejected).length >= 4, `rejections by code: ${JSON.stringify(report.rejected)}`);
  t.ok(report.accepted > 100, `${report.accepted} mutated inputs were still valid`);
  t.ok(report.distinctErrors > 50, `${report.distinctErrors} distinct error messages`);
  t.comment(`slowest iteration: ${report.slowestMs.toFixed(1)} ms`);
});

t.test('a long fuzz run reports how far it is', async (t) => {
  const seen: number[] = [];
  const crafted = codecTargets({ btfSeeds: [TARGET], objectSeeds: craftedObjects, target: Btf.parse(TARGET) });
  const report = runFuzz(crafted.slice(0, 2), {
    seed: 7,
    iterations: 25,
    progressEveryMs: 0,
    onProgress: (so) => seen.push(so.iterations),
  });
  t.equal(report.iterations, 25);
  t.same(
    seen,
    Array.from({ length: 25 }, (_, i) => i),
    'called before each iteration with the iterations done so far',
  );
  const quiet: number[] = [];
  runFuzz(crafted.slice(0, 2), { seed: 7, iterations: 25, progressEveryMs: 60_000, onProgress: (so) => quiet.push(so.iterations) });
  t.same(quiet, [], 'not before its interval has passed');
});

t.test(
  'mutated hostile families (shared long names, many sections, repeated relocations, long member lists, deep chains) end in a result or a CodecError, quickly',
  async (t) => {
    const targets = hostileTargets(realObjects[1] ?? realObjects[0], kernel);
    const report = runFuzz(targets, { seed: 20260501, iterations: 900, slowMs: 2000 });
    for (const f of report.findings.slice(0, 5))
      t.comment(`finding in ${f.target} at iteration ${f.iteration} (${f.mutation}): ${f.error}`);
    t.equal(
      report.findings.length,
      0,
      `${report.iterations} iterations over ${targets.length} targets: no exception other than CodecError, none slower than 2 s`,
    );
    t.ok(report.accepted > 50, `${report.accepted} mutated inputs were still valid`);
    t.comment(`rejections by code: ${JSON.stringify(report.rejected)}; slowest iteration: ${report.slowestMs.toFixed(1)} ms`);
  },
);

function expectCodecError(t: Test, what: string, f: () => unknown, message: RegExp) {
  let thrown: unknown;
  try {
    f();
  } catch (err) {
    thrown = err;
  }
  t.type(thrown, CodecError, `${what}: CodecError`);
  t.match((thrown as Error | undefined)?.message, message, what);
}

t.test('reference cycles and runaway nesting end in an error, not a hang', async (t) => {
  // Target: typedef a -> typedef b -> typedef a; a struct whose anonymous members are itself; a pointer cycle.
  const target: BtfType[] = [
    { kind: BtfKind.Typedef, name: 'loop_a', type: 2 },
    { kind: BtfKind.Typedef, name: 'loop_b', type: 1 },
    {
      kind: BtfKind.Struct,
      name: 'selfish',
      size: 8,
      kindFlag: false,
      members: [
        { name: '', type: 3, bitOffset: 0, bitfieldSize: 0 },
        { name: '', type: 3, bitOffset: 0, bitfieldSize: 0 },
      ],
    },
    { kind: BtfKind.Pointer, name: '', type: 5 },
    { kind: BtfKind.Pointer, name: '', type: 4 },
    { kind: BtfKind.Typedef, name: 'ptr_loop', type: 4 },
  ];
  const kernelBtf = Btf.parse(encodeBtf(target));
  const local = [...L.types];
  const int = 1;
  const la = local.push({ kind: BtfKind.Typedef, name: 'loop_a', type: int });
  const ls = local.push({
    kind: BtfKind.Struct,
    name: 'selfish',
    size: 4,
    kindFlag: false,
    members: [{ name: 'x', type: int, bitOffset: 0, bitfieldSize: 0 }],
  });
  const selfPtr = local.length + 1;
  local.push({ kind: BtfKind.Pointer, name: '', type: selfPtr });
  const lp = local.push({ kind: BtfKind.Typedef, name: 'ptr_loop', type: selfPtr });
  const obj = (typeId: number, access: string, kind: number) =>
    parseBpfObject(
      buildBpfObject(local, { coreRelos: [{ section: 'x', records: [{ insnOff: 0, typeId, access, kind }] }] }),
      'cyclic.bpf.o',
    );
  expectCodecError(t, 'typedef cycle', () => trimBtf(kernelBtf, [obj(la, '0', K.TypeExists)]), /cyclic/);
  expectCodecError(
    t,
    'self-nesting anonymous members',
    () => trimBtf(kernelBtf, [obj(ls, '0:0', K.FieldByteOffset)]),
    /deeper than 64|too much work|too much CO-RE work/,
  );
  expectCodecError(t, 'pointer cycle', () => trimBtf(kernelBtf, [obj(lp, '0', K.TypeExists)]), /nests too deep/);
});
