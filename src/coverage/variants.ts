/**
 * Kernel BTF variants: a real kernel BTF with a few named fields, enumerators or types
 * renamed, dropped or duplicated, so that the same CO-RE object resolves differently on
 * each variant. The test archive (test/helpers/test-archive.ts) and the bundle benchmark
 * (bench/bundle.ts) are made of them.
 *
 * Edits work on the semantic model: the kernel is decoded once into `BtfType` values, each
 * variant copies only the types it changes and is re-encoded with the kernel's own string
 * table (new names are appended), so unchanged types keep their ids and their bytes. Dropping
 * a type renumbers every later id and turns references to it into void, as in a kernel that
 * never had it.
 *
 * Every edit also says what it does to relocations (`expectedOutcomeRules`): renaming
 * `task_struct.__state` to `state` makes relocations through `task_struct.__state` miss
 * their field and relocations through `task_struct.state` (a `___flavor` fallback) resolve.
 * Tests compare a compat report against exactly these rules.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeSingleFileTar } from '../archive/tar-write.js';
import { compressXz } from '../archive/xz.js';
import { type Btf, BtfKind, encodeBtf, remapTypeIds, StringTableBuilder, type BtfType, type CompositeType, type TypeId } from '../btf/index.js';
import { essentialName } from '../btf/names.js';
import type { RelocationClass, RelocationInfo } from './compat.js';

/** One change to a kernel BTF. Names are exact (not essential) kernel names. */
export type KernelEdit =
  /** Every STRUCT, UNION, ENUM, ENUM64, TYPEDEF or FWD named `name` is renamed `to`. */
  | { op: 'renameType'; name: string; to: string }
  /** Every STRUCT, UNION, ENUM or ENUM64 named `name` is removed; references become void. Refused when embedded by value. */
  | { op: 'dropType'; name: string }
  /** A direct member of struct/union `struct` is renamed (offset and type unchanged). */
  | { op: 'renameMember'; struct: string; member: string; to: string }
  /** A direct member of struct/union `struct` is removed (the struct keeps its size). */
  | { op: 'dropMember'; struct: string; member: string }
  | { op: 'renameEnumerator'; enum: string; value: string; to: string }
  /**
   * A copy of struct `name` is appended as `name___<flavor>` with member `member` moved by
   * `shiftBytes`: a second CO-RE candidate that disagrees on that member's offset, so
   * relocations of `name.member` become ambiguous (libbpf refuses them).
   */
  | { op: 'duplicateType'; name: string; flavor: string; member: string; shiftBytes: number };

/**
 * What an edit does to relocations: those matching `match` get `outcome`. A relocation's
 * path (see `relocationPath` in compat.ts) is matched by essential names, so a local
 * `task_struct___o.state` matches `member: ['task_struct', 'state']`.
 */
export interface OutcomeRule {
  match: {
    /** The relocation's root type (essential name). */
    root?: string;
    /** A (struct, member) step anywhere in the relocation's field path. */
    member?: readonly [string, string];
    /** The first field step of the path, for rules about one member of the root. */
    firstMember?: string;
    /** The enumerator of an ENUMVAL relocation: (enum, value). */
    enumerator?: readonly [string, string];
  };
  outcome: RelocationClass;
  /** The edit that makes it so, in words. */
  because: string;
}

/** A named set of edits with what it stands for. */
export interface KernelVariant {
  name: string;
  description: string;
  edits: readonly KernelEdit[];
}

/**
 * Variants modeled on real kernel history, over types libbpf-tools-style programs read (the
 * `tools_like` fixture reads all of them). They apply to a kernel of 6.11 or later (one with
 * `task_struct.__state` and `inode.i_ctime_sec`); on others `KernelEditor.variant` throws a
 * VariantError naming what is missing.
 */
export const HISTORY_VARIANTS = {
  base: { name: 'base', description: 'the kernel as it is', edits: [] },
  oldState: {
    name: 'old-state',
    description: 'before 5.14: task_struct.__state was called state',
    edits: [{ op: 'renameMember', struct: 'task_struct', member: '__state', to: 'state' }],
  },
  rqDisk: {
    name: 'rq-disk',
    description: 'before 5.17: struct request had rq_disk (here: biotail renamed)',
    edits: [{ op: 'renameMember', struct: 'request', member: 'biotail', to: 'rq_disk' }],
  },
  noCtimeSec: {
    name: 'no-ctime-sec',
    description: 'before 6.11: inode had no i_ctime_sec (dropped)',
    edits: [{ op: 'dropMember', struct: 'inode', member: 'i_ctime_sec' }],
  },
  noGendisk: {
    name: 'no-gendisk',
    description: 'struct gendisk dropped: relocations rooted at it find no type',
    edits: [{ op: 'dropType', name: 'gendisk' }],
  },
  renamedNsproxy: {
    name: 'renamed-nsproxy',
    description: 'struct nsproxy renamed nsproxy_v2: relocations rooted at it find no type',
    edits: [{ op: 'renameType', name: 'nsproxy', to: 'nsproxy_v2' }],
  },
  renamedEnumerator: {
    name: 'renamed-enumerator',
    description: 'oom_constraint::CONSTRAINT_MEMCG renamed CONSTRAINT_MEMCG_V2',
    edits: [{ op: 'renameEnumerator', enum: 'oom_constraint', value: 'CONSTRAINT_MEMCG', to: 'CONSTRAINT_MEMCG_V2' }],
  },
  ambiguousCfsRq: {
    name: 'ambiguous-cfs-rq',
    description: 'a second cfs_rq (cfs_rq___dup) with nr_queued 8 bytes further: cfs_rq.nr_queued is ambiguous',
    edits: [{ op: 'duplicateType', name: 'cfs_rq', flavor: 'dup', member: 'nr_queued', shiftBytes: 8 }],
  },
} as const satisfies Record<string, KernelVariant>;

/**
 * A variant that changes nothing any CO-RE fixture reads: a distinct kernel (other bytes,
 * other sha256) whose trimmed BTFs equal the base kernel's. `n` picks which type is renamed.
 */
export function unrelatedVariant(n: number): KernelVariant {
  return {
    name: `unrelated-${n}`,
    description: `a struct no fixture reads renamed (kernel differs, trimmed BTFs do not)`,
    edits: [{ op: 'renameType', name: UNRELATED_TYPES[n % UNRELATED_TYPES.length]!, to: `${UNRELATED_TYPES[n % UNRELATED_TYPES.length]}_v${Math.floor(n / UNRELATED_TYPES.length) + 2}` }],
  };
}

/** Structs in every recent kernel that neither the fixtures nor libbpf-tools read. */
const UNRELATED_TYPES = [
  'kobject', 'kset', 'ida', 'idr', 'klist', 'kref', 'xarray', 'rcu_work', 'llist_head', 'ratelimit_state',
  'seqcount', 'timer_list', 'hrtimer', 'wait_queue_head', 'completion', 'mutex', 'rw_semaphore', 'percpu_ref',
];

/** Raised when an edit does not apply to the kernel at hand (a member it names is absent...). */
export class VariantError extends Error {
  override readonly name = 'VariantError';
}

/** The rules an edit list implies, in edit order (the last matching rule wins). */
export function expectedOutcomeRules(edits: readonly KernelEdit[]): OutcomeRule[] {
  const rules: OutcomeRule[] = [];
  for (const edit of edits) {
    switch (edit.op) {
      case 'renameType':
        rules.push({ match: { root: edit.name }, outcome: 'type_missing', because: `type ${edit.name} renamed ${edit.to}` });
        rules.push({ match: { root: edit.to }, outcome: 'resolved', because: `type ${edit.name} renamed ${edit.to}` });
        break;
      case 'dropType':
        rules.push({ match: { root: edit.name }, outcome: 'type_missing', because: `type ${edit.name} dropped` });
        break;
      case 'renameMember':
        rules.push({
          match: { member: [edit.struct, edit.member] }, outcome: 'field_missing',
          because: `${edit.struct}.${edit.member} renamed ${edit.to}`,
        });
        rules.push({
          match: { member: [edit.struct, edit.to] }, outcome: 'resolved',
          because: `${edit.struct}.${edit.member} renamed ${edit.to}`,
        });
        break;
      case 'dropMember':
        rules.push({ match: { member: [edit.struct, edit.member] }, outcome: 'field_missing', because: `${edit.struct}.${edit.member} dropped` });
        break;
      case 'renameEnumerator':
        rules.push({
          match: { enumerator: [edit.enum, edit.value] }, outcome: 'enum_missing',
          because: `${edit.enum}::${edit.value} renamed ${edit.to}`,
        });
        rules.push({
          match: { enumerator: [edit.enum, edit.to] }, outcome: 'resolved',
          because: `${edit.enum}::${edit.value} renamed ${edit.to}`,
        });
        break;
      case 'duplicateType':
        rules.push({
          match: { root: edit.name, firstMember: edit.member }, outcome: 'ambiguous',
          because: `${edit.name}___${edit.flavor} added with ${edit.member} ${edit.shiftBytes} bytes further`,
        });
        break;
    }
  }
  return rules;
}

/** Whether `rule` is about relocation `info` (essential names throughout). */
export function ruleMatches(rule: OutcomeRule, info: RelocationInfo): boolean {
  const { root, member, firstMember, enumerator } = rule.match;
  if (root !== undefined && essentialName(info.root) !== root) return false;
  if (firstMember !== undefined && info.steps[0]?.member !== firstMember) return false;
  if (member !== undefined && !info.steps.some((s) => s.struct === member[0] && s.member === member[1])) return false;
  if (enumerator !== undefined && (info.enumerator?.[0] !== enumerator[0] || info.enumerator[1] !== enumerator[1])) return false;
  return true;
}

/**
 * The class each relocation should have on a kernel made with `rules` from the kernel that
 * gave `base`: the last matching rule's outcome, else the base class.
 */
export function expectedClasses(relocations: readonly RelocationInfo[], base: readonly RelocationClass[], rules: readonly OutcomeRule[]): RelocationClass[] {
  return relocations.map((info, i) => {
    let outcome = base[i]!;
    for (const rule of rules) if (ruleMatches(rule, info)) outcome = rule.outcome;
    return outcome;
  });
}

const NAMED_KINDS = new Set<number>([BtfKind.Struct, BtfKind.Union, BtfKind.Enum, BtfKind.Enum64, BtfKind.Typedef, BtfKind.Fwd]);
const DROPPABLE_KINDS = new Set<number>([BtfKind.Struct, BtfKind.Union, BtfKind.Enum, BtfKind.Enum64]);

/**
 * Makes variants of one kernel BTF. The kernel is decoded once (about 150 ms for 120k
 * types); each variant costs one encode (about 350 ms).
 */
export class KernelEditor {
  private readonly types: readonly BtfType[];
  private readonly byName = new Map<string, TypeId[]>();

  constructor(private readonly kernel: Btf) {
    const types: BtfType[] = [];
    for (const [id, t] of kernel.types()) {
      types.push(t);
      if (t.name !== '' && NAMED_KINDS.has(t.kind)) {
        let ids = this.byName.get(t.name);
        if (!ids) this.byName.set(t.name, (ids = []));
        ids.push(id);
      }
    }
    this.types = types;
  }

  /** The raw BTF of the kernel with `edits` applied, little-endian like the input's producers. */
  variant(edits: readonly KernelEdit[]): Uint8Array {
    const types = [...this.types];
    const drops = new Set<TypeId>();
    for (const edit of edits) this.apply(types, edit, drops);
    const final = drops.size > 0 ? dropTypes(types, drops) : types;
    return encodeBtf(final, { strings: StringTableBuilder.fromSection(this.kernel.stringSection), littleEndian: this.kernel.littleEndian });
  }

  private ids(name: string, kinds: ReadonlySet<number>, what: string): TypeId[] {
    const ids = (this.byName.get(name) ?? []).filter((id) => kinds.has(this.types[id - 1]!.kind));
    if (ids.length === 0) throw new VariantError(`${what}: the kernel has no type named ${name}`);
    return ids;
  }

  private composite(types: BtfType[], name: string, what: string): [TypeId, CompositeType] {
    const id = this.ids(name, new Set([BtfKind.Struct, BtfKind.Union]), what)[0]!;
    const t = types[id - 1] as CompositeType;
    return [id, { ...t, members: [...t.members] }];
  }

  private apply(types: BtfType[], edit: KernelEdit, drops: Set<TypeId>): void {
    switch (edit.op) {
      case 'renameType':
        for (const id of this.ids(edit.name, NAMED_KINDS, `rename ${edit.name}`)) types[id - 1] = { ...types[id - 1]!, name: edit.to };
        return;
      case 'dropType': {
        const ids = this.ids(edit.name, DROPPABLE_KINDS, `drop ${edit.name}`);
        const set = new Set(ids);
        types.forEach((t, index) => {
          if (t.kind !== BtfKind.Struct && t.kind !== BtfKind.Union) return;
          const embedded = t.members.find((m) => set.has(m.type));
          if (embedded) {
            throw new VariantError(`drop ${edit.name}: embedded by value in ${t.name || '(anon)'} (id ${index + 1}) member ${embedded.name}`);
          }
        });
        for (const id of ids) drops.add(id);
        return;
      }
      case 'renameMember':
      case 'dropMember': {
        const [id, t] = this.composite(types, edit.struct, `${edit.op} ${edit.struct}.${edit.member}`);
        const index = t.members.findIndex((m) => m.name === edit.member);
        if (index < 0) throw new VariantError(`${edit.op}: ${edit.struct} has no direct member ${edit.member}`);
        if (edit.op === 'renameMember') t.members[index] = { ...t.members[index]!, name: edit.to };
        else t.members.splice(index, 1);
        types[id - 1] = t;
        return;
      }
      case 'renameEnumerator': {
        const ids = this.ids(edit.enum, new Set([BtfKind.Enum, BtfKind.Enum64]), `rename ${edit.enum}::${edit.value}`);
        let renamed = false;
        for (const id of ids) {
          const t = types[id - 1]!;
          if (t.kind !== BtfKind.Enum && t.kind !== BtfKind.Enum64) continue;
          const index = t.values.findIndex((v) => v.name === edit.value);
          if (index < 0) continue;
          const values = t.values.map((v, i) => (i === index ? { ...v, name: edit.to } : v));
          types[id - 1] = { ...t, values } as BtfType;
          renamed = true;
        }
        if (!renamed) throw new VariantError(`rename ${edit.enum}::${edit.value}: no such enumerator`);
        return;
      }
      case 'duplicateType': {
        const [, t] = this.composite(types, edit.name, `duplicate ${edit.name}`);
        const index = t.members.findIndex((m) => m.name === edit.member);
        if (index < 0) throw new VariantError(`duplicate ${edit.name}: no direct member ${edit.member}`);
        const m = t.members[index]!;
        const bitOffset = m.bitOffset + edit.shiftBytes * 8;
        if (bitOffset < 0 || bitOffset >= t.size * 8) throw new VariantError(`duplicate ${edit.name}: ${edit.member} moved outside the struct`);
        t.members[index] = { ...m, bitOffset };
        types.push({ ...t, name: `${edit.name}___${edit.flavor}` });
        return;
      }
    }
  }
}

/**
 * Removes `drops` (type ids) and the DECL_TAGs on them, renumbering the rest; references to a
 * dropped type become 0 (void).
 */
function dropTypes(types: readonly BtfType[], drops: ReadonlySet<TypeId>): BtfType[] {
  const gone = new Set(drops);
  types.forEach((t, index) => {
    if (t.kind === BtfKind.DeclTag && gone.has(t.type)) gone.add(index + 1);
  });
  const newId = new Int32Array(types.length + 1);
  let next = 1;
  for (let id = 1; id <= types.length; id++) newId[id] = gone.has(id) ? 0 : next++;
  const map = (id: TypeId) => newId[id]!;
  return types.filter((_, index) => !gone.has(index + 1)).map((t) => {
    const copy = structuredClone(t);
    remapTypeIds(copy, map);
    return copy;
  });
}


/** How a kernel file is written: raw BTF, or a BTFHub `.btf.tar.xz` (xz preset `xzPreset`, single-threaded). */
export type KernelFileFormat = 'btf' | 'btf.tar.xz';

/**
 * Writes `btf` as `<dir>/<path>.<format>` (path = `<distro>/<release>/<arch>/<kernel>`),
 * creating directories. `.btf.tar.xz` holds `<kernel>.btf`, as BTFHub's archives do;
 * `xzPreset` 0 compresses 5 MB in about 0.3 s (BTFHub uses 6, about 4 s; decompressing
 * either takes the same time).
 */
export async function writeKernelFile(dir: string, path: string, btf: Uint8Array, format: KernelFileFormat, xzPreset = 0): Promise<string> {
  const file = join(dir, `${path}.${format}`);
  await mkdir(dirname(file), { recursive: true });
  if (format === 'btf') {
    await writeFile(file, btf);
  } else {
    const kernel = path.slice(path.lastIndexOf('/') + 1);
    await writeFile(file, await compressXz(writeSingleFileTar(`${kernel}.btf`, btf), { preset: xzPreset }));
  }
  return file;
}

/** `<dir>/<path>` -> `target` (relative), as the archive's release aliases (`ubuntu/focal -> 20.04`). */
export async function writeAlias(dir: string, path: string, target: string): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  await symlink(target, join(dir, path));
}

