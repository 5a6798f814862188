/**
 * Kernel variants (src/coverage/variants.ts): each edit does what it says at the type level,
 * ids stay valid, unchanged types keep their bytes, and the rules derived from the edits
 * name the relocations they are about.
 */
import t from 'tap';
import { Btf, BtfKind, type BtfType, type CompositeType } from '../../src/btf/index.js';
import {
  expectedClasses, expectedOutcomeRules, HISTORY_VARIANTS, KernelEditor, ruleMatches, unrelatedVariant, VariantError,
} from '../../src/coverage/variants.js';
import type { RelocationInfo } from '../../src/coverage/compat.js';
import { encodeBtf } from '../../src/btf/encode.js';
import { loadFixtures } from '../helpers/fixtures.js';

const fx = await loadFixtures();
const kernel = Btf.parse(fx.vmlinux);
const editor = new KernelEditor(kernel);

function firstNamed(btf: Btf, name: string, kind: number): BtfType | undefined {
  const id = btf.idsByEssentialName(name).find((i) => btf.kind(i) === kind && btf.name(i) === name);
  return id === undefined ? undefined : btf.type(id);
}

t.test('no edits: the same bytes', async (t) => {
  t.ok(Buffer.from(editor.variant([])).equals(Buffer.from(fx.vmlinux)));
});

t.test('member and type renames keep every id', async (t) => {
  const v = Btf.parse(editor.variant([...HISTORY_VARIANTS.oldState.edits, ...HISTORY_VARIANTS.renamedNsproxy.edits]));
  t.equal(v.typeCount, kernel.typeCount);
  const task = firstNamed(v, 'task_struct', BtfKind.Struct) as CompositeType;
  t.ok(task.members.some((m) => m.name === 'state'));
  t.notOk(task.members.some((m) => m.name === '__state'));
  t.equal(firstNamed(v, 'nsproxy', BtfKind.Struct), undefined);
  t.ok(firstNamed(v, 'nsproxy_v2', BtfKind.Struct));
});

t.test('dropping a type renumbers the rest and turns references into void', async (t) => {
  const v = Btf.parse(editor.variant(HISTORY_VARIANTS.noGendisk.edits));
  const dropped = kernel.idsByEssentialName('gendisk').filter((id) => kernel.kind(id) === BtfKind.Struct).length;
  t.equal(v.typeCount, kernel.typeCount - dropped - declTagsOn(kernel, 'gendisk'));
  t.equal(firstNamed(v, 'gendisk', BtfKind.Struct), undefined);
  // Every reference still names a valid type: inflating all of them checks every id.
  let count = 0;
  for (const _ of v.types()) count++;
  t.equal(count, v.typeCount - 1);
  // request_queue.disk pointed at struct gendisk: now a pointer to void.
  const rq = firstNamed(v, 'request_queue', BtfKind.Struct) as CompositeType;
  const disk = rq.members.find((m) => m.name === 'disk')!;
  const ptr = v.type(disk.type);
  t.equal(ptr.kind, BtfKind.Pointer);
  t.equal(ptr.kind === BtfKind.Pointer && ptr.type, 0);
  // Types before the dropped one keep their bytes.
  const firstDropped = kernel.idsByEssentialName('gendisk').find((id) => kernel.kind(id) === BtfKind.Struct)!;
  t.same(v.type(firstDropped - 1), kernel.type(firstDropped - 1));
});

function declTagsOn(btf: Btf, name: string): number {
  const ids = new Set(btf.idsByEssentialName(name).filter((id) => btf.kind(id) === BtfKind.Struct));
  let n = 0;
  for (let id = 1; id < btf.typeCount; id++) if (btf.kind(id) === BtfKind.DeclTag && ids.has(btf.sizeOrType(id))) n++;
  return n;
}

t.test('a type embedded by value is not dropped', async (t) => {
  t.throws(() => editor.variant([{ op: 'dropType', name: 'list_head' }]), VariantError);
  t.throws(() => editor.variant([{ op: 'renameMember', struct: 'task_struct', member: 'no_such_member', to: 'x' }]), /no direct member/);
  t.throws(() => editor.variant([{ op: 'renameType', name: 'no_such_type_anywhere', to: 'x' }]), /no type named/);
  t.throws(() => editor.variant([{ op: 'renameEnumerator', enum: 'oom_constraint', value: 'NOPE', to: 'x' }]), /no such enumerator/);
});

t.test('member drop, enumerator rename and a disagreeing duplicate', async (t) => {
  const v = Btf.parse(editor.variant([
    ...HISTORY_VARIANTS.noCtimeSec.edits, ...HISTORY_VARIANTS.renamedEnumerator.edits, ...HISTORY_VARIANTS.ambiguousCfsRq.edits,
  ]));
  const inode = firstNamed(v, 'inode', BtfKind.Struct) as CompositeType;
  const original = firstNamed(kernel, 'inode', BtfKind.Struct) as CompositeType;
  t.equal(inode.members.length, original.members.length - 1);
  t.equal(inode.size, original.size, 'the struct keeps its size');
  const oom = firstNamed(v, 'oom_constraint', BtfKind.Enum);
  t.ok(oom?.kind === BtfKind.Enum && oom.values.some((e) => e.name === 'CONSTRAINT_MEMCG_V2'));
  t.equal(v.typeCount, kernel.typeCount + 1, 'the duplicate is appended');
  const dup = v.type(v.typeCount - 1) as CompositeType;
  const cfs = firstNamed(v, 'cfs_rq', BtfKind.Struct) as CompositeType;
  t.equal(dup.name, 'cfs_rq___dup');
  t.equal(dup.members[1]!.bitOffset, cfs.members[1]!.bitOffset + 64);
});

t.test('a big-endian kernel stays big-endian', async (t) => {
  const be = Btf.parse(encodeBtf([{ kind: BtfKind.Int, name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
    { kind: BtfKind.Struct, name: 's', size: 4, kindFlag: false, members: [{ name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 }] }],
  { littleEndian: false }));
  const v = Btf.parse(new KernelEditor(be).variant([{ op: 'renameMember', struct: 's', member: 'a', to: 'b' }]));
  t.equal(v.littleEndian, false);
  t.equal((v.type(2) as CompositeType).members[0]!.name, 'b');
});

t.test('rules derived from edits, and how they match relocations', async (t) => {
  const rules = expectedOutcomeRules([
    ...HISTORY_VARIANTS.oldState.edits, ...HISTORY_VARIANTS.noGendisk.edits, ...HISTORY_VARIANTS.renamedEnumerator.edits,
    ...HISTORY_VARIANTS.ambiguousCfsRq.edits,
  ]);
  const info = (over: Partial<RelocationInfo>): RelocationInfo => ({
    object: 'o', section: 's', index: 0, insnOff: 0, kind: 'byte_off', root: 'x', access: '0:0', path: 'x', steps: [], ...over,
  });
  const state = info({ root: 'task_struct___x', steps: [{ struct: 'task_struct', member: '__state' }] });
  const old = info({ root: 'task_struct___o', steps: [{ struct: 'task_struct', member: 'state' }] });
  const disk = info({ root: 'gendisk', steps: [{ struct: 'gendisk', member: 'major' }] });
  const memcg = info({ kind: 'enumval_value', root: 'oom_constraint', enumerator: ['oom_constraint', 'CONSTRAINT_MEMCG'] });
  const queued = info({ root: 'cfs_rq', steps: [{ struct: 'cfs_rq', member: 'nr_queued' }] });
  const other = info({ root: 'cfs_rq', steps: [{ struct: 'cfs_rq', member: 'load' }] });
  t.same(
    expectedClasses([state, old, disk, memcg, queued, other], ['resolved', 'field_missing', 'resolved', 'resolved', 'resolved', 'resolved'], rules),
    ['field_missing', 'resolved', 'type_missing', 'enum_missing', 'ambiguous', 'resolved'],
  );
  t.notOk(ruleMatches(rules[0]!, other));
  t.same(expectedOutcomeRules(unrelatedVariant(3).edits).map((r) => r.outcome), ['type_missing', 'resolved']);
  t.not(unrelatedVariant(1).edits[0], unrelatedVariant(19).edits[0]);
});
