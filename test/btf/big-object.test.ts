/**
 * The big-object path against bpftool: an object generated for this machine's kernel
 * (test/fixtures/big-object.ts, the generator bench/codec.ts uses at tracee's size, here at
 * a size that builds in seconds: thousands of relocations over a hundred kernel structs and
 * enums) is trimmed byte for byte like `bpftool gen min_core_btf`, and the trim verifies.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Btf, CoreReloKind, parseBpfObject, trimBtf, verifyTrim } from '../../src/btf/index.js';
import { ensureBigObject, SUITE_SIZE } from '../fixtures/big-object.js';
import { KERNEL_BTF } from '../fixtures/build-fixtures.js';
import { runBpftoolMinCore, whyFixturesCannotBeBuilt } from '../helpers/fixtures.js';

const cannot = await whyFixturesCannotBeBuilt();

t.test('a generated object of thousands of relocations is trimmed exactly as bpftool trims it', { skip: cannot ?? false }, async (t) => {
  const big = await ensureBigObject(SUITE_SIZE, KERNEL_BTF);
  t.ok(
    big.relocations >= SUITE_SIZE.relocations && big.types >= SUITE_SIZE.minTypes,
    `${big.relocations} relocations over ${big.types} types`,
  );
  const kernel = Btf.parse(new Uint8Array(await readFile(big.vmlinuxPath)));
  const object = parseBpfObject(new Uint8Array(await readFile(big.objectPath)), 'big.bpf.o');
  const records = object.ext.coreRelos.flatMap((b) => b.records);
  t.equal(records.length, big.relocations, 'every generated relocation is in the object');
  const kinds = new Set(records.map((r) => r.kind));
  for (const kind of [
    CoreReloKind.FieldByteOffset,
    CoreReloKind.FieldExists,
    CoreReloKind.FieldByteSize,
    CoreReloKind.TypeExists,
    CoreReloKind.TypeSize,
    CoreReloKind.TypeIdTarget,
    CoreReloKind.EnumvalExists,
    CoreReloKind.EnumvalValue,
  ]) {
    t.ok(kinds.has(kind), `has relocations of kind ${kind}`);
  }
  const ours = trimBtf(kernel, [object]);
  const oracle = await runBpftoolMinCore(big.vmlinuxPath, [big.objectPath]);
  t.ok(oracle.ok, 'bpftool accepts it');
  if (oracle.ok) t.ok(Buffer.from(ours).equals(Buffer.from(oracle.btf)), `byte-identical to bpftool (${ours.length} bytes)`);
  const check = verifyTrim(kernel, Btf.parse(ours), [object]);
  t.equal(check.relocations, big.relocations);
  t.equal(check.mismatchCount, 0, 'every relocation resolves the same against the trimmed BTF');
});
