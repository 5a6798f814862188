/**
 * CO-RE relocation semantics of libbpf (libbpf 1.1 `relo_core.c` and the candidate search of
 * `libbpf.c`, as used by bpftool 7.1.0's btfgen; docs/CODEC.md §6, §7): access strings, the
 * local spec, candidate search, spec matching, the compatibility predicates and every
 * relocation kind's value, for one relocation. Resolving all relocations of an object in
 * order, with libbpf's candidate pruning, is relocate.ts.
 *
 * Deliberate differences from libbpf, all on malformed input only (docs/CODEC.md §10):
 * negative access indices are rejected (libbpf 1.1 reads out of bounds), reference cycles
 * and runaway recursion end in an error instead of a hang or a stack overflow, and
 * out-of-range ids are errors.
 *
 * Work is bounded twice: per relocation (a step budget, as before) and per object (steps per
 * input byte, `maxCoreStepsPerByte`), and member/enumerator searches in big types go through
 * name lookups (type-lookup.ts) rather than scans.
 */
import type { Btf } from './btf.js';
import { clip, limitError } from './errors.js';
import type { CoreRelo } from './ext.js';
import { BtfKind, describeKind, IntEncoding, isAnyEnum, isComposite, isModifier, kindsCoreCompatible } from './kinds.js';
import type { CodecLimits } from './limits.js';
import { essentialName, essentialNameLength } from './names.js';
import { Btf as BtfClass } from './btf.js';
import { LOOKUP_MIN_ELEMENTS } from './type-lookup.js';
import { workCounters } from './work-counters.js';

/** `enum bpf_core_relo_kind` (UAPI). */
export const CoreReloKind = {
  FieldByteOffset: 0,
  FieldByteSize: 1,
  FieldExists: 2,
  FieldSigned: 3,
  FieldLshiftU64: 4,
  FieldRshiftU64: 5,
  TypeIdLocal: 6,
  TypeIdTarget: 7,
  TypeExists: 8,
  TypeSize: 9,
  EnumvalExists: 10,
  EnumvalValue: 11,
  TypeMatches: 12,
} as const;

/** libbpf's short names (`core_relo_kind_str`). */
export const RELO_KIND_NAMES: readonly string[] = [
  'byte_off',
  'byte_sz',
  'field_exists',
  'signed',
  'lshift_u64',
  'rshift_u64',
  'local_type_id',
  'target_type_id',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
];

export function reloKindName(kind: number): string {
  return RELO_KIND_NAMES[kind] ?? `unknown(${kind})`;
}

export function isFieldBased(kind: number): boolean {
  return kind >= CoreReloKind.FieldByteOffset && kind <= CoreReloKind.FieldRshiftU64;
}

export function isTypeBased(kind: number): boolean {
  return (kind >= CoreReloKind.TypeIdLocal && kind <= CoreReloKind.TypeSize) || kind === CoreReloKind.TypeMatches;
}

export function isEnumvalBased(kind: number): boolean {
  return kind === CoreReloKind.EnumvalExists || kind === CoreReloKind.EnumvalValue;
}

/** BPF_CORE_SPEC_MAX_LEN. */
const SPEC_MAX_LEN = 64;

/** libbpf's -E2BIG for a spec past SPEC_MAX_LEN: thrown by CoreSpec's pushes, which a working spec's capacity bounds. */
function nestingTooDeep(): CoreFailure {
  return new CoreFailure('struct/union/array nesting is deeper than 64', 'E2BIG');
}
/** Steps one relocation may take (type-chain hops, member visits, compat recursion) before we call the input hostile. */
const WORK_BUDGET = 1_000_000;
/** A typedef/modifier chain longer than this is a cycle (real kernels need a handful). */
const MAX_CHAIN = 1024;

/**
 * libbpf `struct bpf_core_spec`: the root type, the high-level accessors (a named member, or
 * an array index) and the low-level indices (anonymous members included) of one side of a
 * relocation, with its bit offset.
 *
 * Kept in one array of integers rather than arrays of accessor objects, because resolving a
 * relocation fills one local spec and a target spec per candidate, and most of them die at
 * once: on a 4,600-relocation object those arrays were half of what a trim and its
 * verification allocated, and the codec thread's small young generation turned that into
 * scavenges. A resolver fills the same few specs over and over (`SpecWork`); `copy()` gives a
 * spec of its own, exactly sized, to callers that keep it. (A plain array, not an Int32Array:
 * a typed array's storage is malloc'd outside the JS heap, and the codec threads' malloc
 * heaps are what keeps the service's memory up after a burst.)
 *
 * Layout of `words`, for a spec of capacity C (SPEC_MAX_LEN for working specs):
 *
 * | words       | holds                                                                |
 * |-------------|----------------------------------------------------------------------|
 * | [0, C)      | raw: the low-level indices, `rawLength` of them                      |
 * | [C, 2C)     | accessor k's type: the composite holding the member, or the (skipped) element type of an index |
 * | [2C, 3C)    | accessor k's index: member index, array index or enumerator index     |
 *
 * and `names[k]` is accessor k's member (or enumerator) name, null for an array index.
 */
export class CoreSpec {
  /** As given (not skipped: may be a TYPEDEF). */
  rootTypeId = 0;
  kind = 0;
  /** Bit offset, wrapping at 2^32 like libbpf's u32. */
  bitOffset = 0;
  rawLength = 0;
  accessorCount = 0;
  private readonly words: number[];
  private readonly names: (string | null)[];

  constructor(
    public btf: Btf,
    private readonly capacity = SPEC_MAX_LEN,
  ) {
    this.words = new Array<number>(capacity * 3).fill(0);
    this.names = new Array<string | null>(capacity).fill(null);
  }

  /** Empties the spec for another relocation or candidate. */
  reset(btf: Btf, rootTypeId: number, kind: number): void {
    this.btf = btf;
    this.rootTypeId = rootTypeId;
    this.kind = kind;
    this.bitOffset = 0;
    this.rawLength = 0;
    this.accessorCount = 0;
  }

  rawAt(i: number): number {
    return this.words[i]!;
  }

  pushRaw(index: number): void {
    if (this.rawLength === this.capacity) throw nestingTooDeep();
    this.words[this.rawLength++] = index;
  }

  popRaw(): void {
    this.rawLength--;
  }

  accessorType(k: number): number {
    return this.words[this.capacity + k]!;
  }

  accessorIndex(k: number): number {
    return this.words[2 * this.capacity + k]!;
  }

  /** The member or enumerator name of accessor k; null for an array index. */
  accessorName(k: number): string | null {
    return this.names[k]!;
  }

  pushAccessor(typeId: number, index: number, name: string | null): void {
    const k = this.accessorCount;
    if (k === this.capacity) throw nestingTooDeep();
    this.words[this.capacity + k] = typeId;
    this.words[2 * this.capacity + k] = index;
    this.names[k] = name;
    this.accessorCount = k + 1;
  }

  setAccessorName(k: number, name: string): void {
    this.names[k] = name;
  }

  popAccessor(): void {
    this.names[--this.accessorCount] = null;
  }

  /** A spec of its own with the same contents, no bigger than they need. */
  copy(): CoreSpec {
    const copy = new CoreSpec(this.btf, Math.max(1, this.rawLength, this.accessorCount));
    copy.reset(this.btf, this.rootTypeId, this.kind);
    copy.bitOffset = this.bitOffset;
    for (let i = 0; i < this.rawLength; i++) copy.pushRaw(this.rawAt(i));
    for (let k = 0; k < this.accessorCount; k++) copy.pushAccessor(this.accessorType(k), this.accessorIndex(k), this.accessorName(k));
    return copy;
  }
}

/**
 * The specs one resolver fills, relocation after relocation: the local spec, the candidate
 * being matched, and the first candidate that matched. A Resolution made with a SpecWork is
 * valid until the next calcReloInsn with the same SpecWork (`keptResolution` copies it).
 */
export class SpecWork {
  local: CoreSpec;
  candidate: CoreSpec;
  matched: CoreSpec;
  constructor(local: Btf, target: Btf) {
    this.local = new CoreSpec(local);
    this.candidate = new CoreSpec(target);
    this.matched = new CoreSpec(target);
  }
}

/** libbpf `struct bpf_core_relo_res`, reduced to what decides a relocation. */
export interface RelocationValue {
  poison: boolean;
  origVal: bigint;
  newVal: bigint;
}

/** One resolved relocation. */
export interface ResolvedRelocation {
  object: string;
  section: string;
  /** Index of the record inside its section block (libbpf's relo_idx). */
  index: number;
  relo: CoreRelo;
  localSpec: CoreSpec;
  /** The first matching candidate's spec; null when nothing matched (or TYPE_ID_LOCAL). */
  targetSpec: CoreSpec | null;
  value: RelocationValue;
}

/** Raised for anything libbpf would reject: the message carries the errno-style reason. */
export class CoreFailure extends Error {
  constructor(
    message: string,
    readonly errno: 'EINVAL' | 'E2BIG' | 'EOPNOTSUPP',
  ) {
    super(message);
  }
}

/** The step budget of one object's resolution: `maxCoreStepsPerByte` times its input bytes. */
export class ObjectBudget {
  private used = 0;
  readonly total: number;
  constructor(
    private readonly inputBytes: number,
    private readonly limits: Pick<CodecLimits, 'maxCoreStepsPerByte'>,
  ) {
    this.total = Math.ceil(inputBytes * limits.maxCoreStepsPerByte);
  }
  /** Called by Budget for every step; throws CodecError('LIMIT') past the total. */
  spend(): void {
    if (++this.used > this.total) {
      const perByte = Math.round((this.used / Math.max(1, this.inputBytes)) * 1000) / 1000;
      throw limitError(
        'maxCoreStepsPerByte',
        this.limits.maxCoreStepsPerByte,
        perByte,
        `too much CO-RE work for ${this.inputBytes} input bytes (steps per byte)`,
      );
    }
  }
  get steps(): number {
    return this.used;
  }
}

/** The step budget of one relocation (and its share of the object's). */
export class Budget {
  private steps = 0;
  constructor(private readonly object?: ObjectBudget) {}
  /** The same budget for the next relocation (one object's resolver reuses one). */
  restart(): this {
    this.steps = 0;
    return this;
  }
  tick(): void {
    workCounters.coreSteps++;
    this.object?.spend();
    if (++this.steps > WORK_BUDGET) throw new CoreFailure('relocation needs too much work (reference cycle or hostile nesting)', 'E2BIG');
  }
}

/** skip_mods_and_typedefs: follows VOLATILE, CONST, RESTRICT, TYPE_TAG and TYPEDEF. */
export function skipModsAndTypedefs(btf: Btf, id: number, budget?: Budget): number {
  // Most calls land on a type that is neither: answer those without the memo.
  if (id > 0 && id < btf.typeCount) {
    const kind = btf.kind(id);
    if (!(isModifier(kind) || kind === BtfKind.Typedef)) return id;
  }
  // Each chain is walked once per BTF: every id on it remembers where it ends and how many
  // hops that takes, so relocations rooted all along a long typedef chain stay linear.
  let memo = skippedChains.get(btf);
  if (!memo) skippedChains.set(btf, (memo = new Map<number, number>()));
  // Bounded for decoded kernels kept across many trims; starting over only costs re-walks.
  if (memo.size > CHAIN_MEMO_ENTRIES) memo.clear();
  const path = chainPath;
  path.length = 0;
  let hops = 0;
  let end: number;
  for (;;) {
    const known = memo.get(id);
    if (known !== undefined) {
      const rest = known % CHAIN_DEPTHS;
      if (hops + rest > MAX_CHAIN) throw new CoreFailure(`type chain from ${btf.describe(path[0] ?? id)} is cyclic`, 'EINVAL');
      hops += rest;
      end = Math.floor(known / CHAIN_DEPTHS);
      break;
    }
    btf.checkId(id);
    const kind = btf.kind(id);
    if (!(isModifier(kind) || kind === BtfKind.Typedef)) {
      end = id;
      break;
    }
    if (++hops > MAX_CHAIN) throw new CoreFailure(`type chain from ${btf.describe(id)} is cyclic`, 'EINVAL');
    budget?.tick();
    path.push(id);
    id = btf.sizeOrType(id);
  }
  // path[k] is hops - k modifiers away from the end.
  for (let k = 0; k < path.length; k++) memo.set(path[k]!, end * CHAIN_DEPTHS + (hops - k));
  return end;
}

/** Per BTF: id -> end of its modifier/typedef chain * CHAIN_DEPTHS + hops to get there. */
const skippedChains = new WeakMap<Btf, Map<number, number>>();
const CHAIN_DEPTHS = 2048;
const CHAIN_MEMO_ENTRIES = 1 << 16;
/** Scratch for skipModsAndTypedefs (not re-entrant: it calls nothing that calls it back). */
const chainPath: number[] = [];

/** btf__resolve_size: byte size of a type, or a thrown EINVAL/E2BIG. */
export function resolveSize(btf: Btf, id: number): number {
  let nelems = 1;
  let size = -1;
  for (let i = 0; i < 32; i++) {
    if (id === 0 || id >= btf.typeCount) break;
    const kind = btf.kind(id);
    switch (kind) {
      case BtfKind.Int:
      case BtfKind.Struct:
      case BtfKind.Union:
      case BtfKind.Enum:
      case BtfKind.Enum64:
      case BtfKind.Datasec:
      case BtfKind.Float:
        size = btf.sizeOrType(id);
        break;
      case BtfKind.Pointer:
        size = btf.pointerSize;
        break;
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.Var:
      case BtfKind.DeclTag:
      case BtfKind.TypeTag:
        id = btf.sizeOrType(id);
        continue;
      case BtfKind.Array: {
        const t = btf.type(id);
        if (t.kind !== BtfKind.Array) break;
        if (nelems && t.nelems > Math.floor(0xffffffff / nelems))
          throw new CoreFailure(`size of ${btf.describe(id)} overflows 32 bits`, 'E2BIG');
        nelems *= t.nelems;
        id = t.elemType;
        continue;
      }
      default:
        throw new CoreFailure(`cannot size ${btf.describe(id)}`, 'EINVAL');
    }
    break;
  }
  if (size < 0) throw new CoreFailure(`cannot size type ${id}`, 'EINVAL');
  if (nelems && size > Math.floor(0xffffffff / nelems)) throw new CoreFailure(`size of type ${id} overflows 32 bits`, 'E2BIG');
  return nelems * size;
}

/** u32 `bit_offset += idx * size * 8` with libbpf's wrap-around. */
function addBits(bitOffset: number, idx: number, size: number): number {
  return (bitOffset + Math.imul(Math.imul(idx, size), 8)) >>> 0;
}

/** Whether an array whose spec so far is `spec` is a flexible array member: the last member of its struct, with no elements. */
function isFlexArray(btf: Btf, spec: CoreSpec, nelems: number): boolean {
  const last = spec.accessorCount - 1;
  if (last < 0 || spec.accessorName(last) === null || nelems > 0) return false;
  return spec.accessorIndex(last) === btf.vlen(spec.accessorType(last)) - 1;
}

function intBitOffset(btf: Btf, id: number): number {
  const t = btf.type(id);
  return t.kind === BtfKind.Int ? t.bitOffset : 0;
}

function essentialNamesMatch(a: string, b: string): boolean {
  const la = essentialNameLength(a);
  return la === essentialNameLength(b) && a.slice(0, la) === b.slice(0, la);
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Parses "0:1:2" the way libbpf's sscanf loop does (docs/CODEC.md §6); negatives are rejected. */
export function parseAccessString(access: string): number[] {
  if (access === '' || access[0] === ':') throw new CoreFailure(`invalid access string "${clip(access)}"`, 'EINVAL');
  const raw: number[] = [];
  let i = 0;
  while (i < access.length) {
    if (access[i] === ':') i++;
    let j = i;
    while (j < access.length && isSpace(access.charCodeAt(j))) j++;
    let negative = false;
    if (access[j] === '+' || access[j] === '-') negative = access[j++] === '-';
    const digits = j;
    while (j < access.length && isDigit(access.charCodeAt(j))) j++;
    workCounters.bytesScanned += j - i + 1;
    if (j === digits) throw new CoreFailure(`invalid access string "${clip(access)}"`, 'EINVAL');
    const value = Number(access.slice(digits, j));
    if (negative && value !== 0) throw new CoreFailure(`negative index in access string "${clip(access)}"`, 'EINVAL');
    if (value > 0x7fffffff) throw new CoreFailure(`index out of range in access string "${clip(access)}"`, 'EINVAL');
    if (raw.length === SPEC_MAX_LEN) throw new CoreFailure(`access string "${clip(access)}" is longer than ${SPEC_MAX_LEN}`, 'E2BIG');
    raw.push(value);
    i = j;
  }
  if (raw.length === 0) throw new CoreFailure(`invalid access string "${clip(access)}"`, 'EINVAL');
  return raw;
}

/**
 * bpf_core_parse_spec: the local spec of a relocation (docs/CODEC.md §7.4), filled into
 * `spec`. `parse` turns the access string into indices (relocate.ts passes a per-object memo
 * of parseAccessString).
 */
export function parseLocalSpec(
  btf: Btf,
  relo: CoreRelo,
  budget = new Budget(),
  parse: (access: string) => number[] = parseAccessString,
  spec: CoreSpec = new CoreSpec(btf),
): CoreSpec {
  spec.reset(btf, relo.typeId, relo.kind);
  workCounters.objectsBuilt++;
  if (relo.access === '' || relo.access[0] === ':') throw new CoreFailure(`invalid access string "${clip(relo.access)}"`, 'EINVAL');
  if (isTypeBased(relo.kind)) {
    if (relo.access !== '0') throw new CoreFailure(`type relocation needs access string "0", got "${clip(relo.access)}"`, 'EINVAL');
    return spec;
  }
  const raw = parse(relo.access);
  for (const index of raw) spec.pushRaw(index);
  let id = skipModsAndTypedefs(btf, relo.typeId, budget);
  const first = raw[0]!;
  spec.pushAccessor(id, first, null);

  if (isEnumvalBased(relo.kind)) {
    if (!isAnyEnum(btf.kind(id)) || raw.length > 1 || first >= btf.vlen(id)) {
      throw new CoreFailure(`enum value relocation "${clip(relo.access)}" does not name an enumerator of ${btf.describe(id)}`, 'EINVAL');
    }
    spec.setAccessorName(0, btf.string(btf.enumeratorNameOffset(id, first)));
    return spec;
  }
  if (!isFieldBased(relo.kind)) throw new CoreFailure(`unknown relocation kind ${relo.kind}`, 'EINVAL');

  spec.bitOffset = addBits(0, first, resolveSize(btf, id));
  for (let i = 1; i < raw.length; i++) {
    id = skipModsAndTypedefs(btf, id, budget);
    const idx = raw[i]!;
    const kind = btf.kind(id);
    if (isComposite(kind)) {
      if (idx >= btf.vlen(id)) throw new CoreFailure(`member index ${idx} is out of range for ${btf.describe(id)}`, 'EINVAL');
      const type = btf.memberType(id, idx);
      spec.bitOffset = (spec.bitOffset + btf.memberBitOffset(id, idx)) >>> 0;
      const nameOff = btf.nameOffsetOfMember(id, idx);
      if (nameOff !== 0) {
        const name = btf.string(nameOff);
        if (name === '') throw new CoreFailure(`member ${idx} of ${btf.describe(id)} has an empty name`, 'EINVAL');
        spec.pushAccessor(id, idx, name);
      }
      id = type;
    } else if (kind === BtfKind.Array) {
      const a = btf.type(id);
      if (a.kind !== BtfKind.Array) throw new CoreFailure('unreachable', 'EINVAL');
      id = skipModsAndTypedefs(btf, a.elemType, budget);
      const flex = isFlexArray(btf, spec, a.nelems);
      if (!flex && idx >= a.nelems) throw new CoreFailure(`array index ${idx} is out of range (${a.nelems} elements)`, 'EINVAL');
      spec.pushAccessor(id, idx, null);
      spec.bitOffset = addBits(spec.bitOffset, idx, resolveSize(btf, id));
    } else {
      throw new CoreFailure(
        `access string "${clip(relo.access)}" captures type of unexpected kind ${describeKind(kind)} (${btf.describe(id)})`,
        'EINVAL',
      );
    }
  }
  return spec;
}

/** bpf_core_fields_are_compat (docs/CODEC.md §7.6). */
function fieldsAreCompat(local: Btf, localId: number, targ: Btf, targId: number, budget: Budget): boolean {
  for (;;) {
    budget.tick();
    localId = skipModsAndTypedefs(local, localId, budget);
    targId = skipModsAndTypedefs(targ, targId, budget);
    const lk = local.kind(localId);
    const tk = targ.kind(targId);
    if (isComposite(lk) && isComposite(tk)) return true;
    if (!kindsCoreCompatible(lk, tk)) return false;
    switch (lk) {
      case BtfKind.Pointer:
      case BtfKind.Float:
        return true;
      case BtfKind.Fwd:
      case BtfKind.Enum:
      case BtfKind.Enum64: {
        // One of them anonymous, or both with the same flavor-less name.
        const ln = local.name(localId);
        const tn = targ.name(targId);
        return essentialNameLength(ln) === 0 || essentialNameLength(tn) === 0 || essentialNamesMatch(ln, tn);
      }
      case BtfKind.Int:
        return intBitOffset(local, localId) === 0 && intBitOffset(targ, targId) === 0;
      case BtfKind.Array: {
        const la = local.type(localId);
        const ta = targ.type(targId);
        if (la.kind !== BtfKind.Array || ta.kind !== BtfKind.Array) return false;
        localId = la.elemType;
        targId = ta.elemType;
        continue;
      }
      default:
        return false;
    }
  }
}

/** __bpf_core_types_are_compat (docs/CODEC.md §7.6): 1 compatible, 0 not; throws on EINVAL. */
export function typesAreCompat(local: Btf, localId: number, targ: Btf, targId: number, level = 32, budget = new Budget()): boolean {
  local.checkId(localId);
  targ.checkId(targId);
  if (!kindsCoreCompatible(local.kind(localId), targ.kind(targId))) return false;
  let depth = 32;
  for (;;) {
    budget.tick();
    if (--depth < 0) throw new CoreFailure('type compatibility check nests too deep', 'EINVAL');
    localId = skipModsAndTypedefs(local, localId, budget);
    targId = skipModsAndTypedefs(targ, targId, budget);
    const lk = local.kind(localId);
    const tk = targ.kind(targId);
    if (!kindsCoreCompatible(lk, tk)) return false;
    switch (lk) {
      case BtfKind.Unknown:
      case BtfKind.Struct:
      case BtfKind.Union:
      case BtfKind.Enum:
      case BtfKind.Fwd:
      case BtfKind.Enum64:
        return true;
      case BtfKind.Int:
        return intBitOffset(local, localId) === 0 && intBitOffset(targ, targId) === 0;
      case BtfKind.Pointer:
        localId = local.sizeOrType(localId);
        targId = targ.sizeOrType(targId);
        continue;
      case BtfKind.Array: {
        const la = local.type(localId);
        const ta = targ.type(targId);
        if (la.kind !== BtfKind.Array || ta.kind !== BtfKind.Array) return false;
        localId = la.elemType;
        targId = ta.elemType;
        continue;
      }
      case BtfKind.FuncProto: {
        const lp = local.type(localId);
        const tp = targ.type(targId);
        if (lp.kind !== BtfKind.FuncProto || tp.kind !== BtfKind.FuncProto) return false;
        if (lp.params.length !== tp.params.length) return false;
        for (let i = 0; i < lp.params.length; i++) {
          if (level <= 0) throw new CoreFailure('function prototype compatibility nests too deep', 'EINVAL');
          const l = skipModsAndTypedefs(local, lp.params[i]!.type, budget);
          const t = skipModsAndTypedefs(targ, tp.params[i]!.type, budget);
          if (!typesAreCompat(local, l, targ, t, level - 1, budget)) return false;
        }
        localId = skipModsAndTypedefs(local, lp.returnType, budget);
        targId = skipModsAndTypedefs(targ, tp.returnType, budget);
        continue;
      }
      default:
        return false;
    }
  }
}

/** bpf_core_names_match: an anonymous target matches only an anonymous local. */
function namesMatch(localName: string, targName: string): boolean {
  if (targName === '') return localName === '';
  return essentialNamesMatch(localName, targName);
}

function enumsMatch(local: Btf, localId: number, targ: Btf, targId: number, budget: Budget): boolean {
  if (!isAnyEnum(local.kind(localId)) || !isAnyEnum(targ.kind(targId))) return false;
  const localCount = local.vlen(localId);
  const targCount = targ.vlen(targId);
  if (local.sizeOrType(localId) !== targ.sizeOrType(targId) || localCount > targCount) return false;
  const localName = (i: number) => local.string(local.enumeratorNameOffset(localId, i));
  if (targCount <= LOOKUP_MIN_ELEMENTS) {
    const targNames = Array.from({ length: targCount }, (_, i) => targ.string(targ.enumeratorNameOffset(targId, i)));
    for (let i = 0; i < localCount; i++) {
      const name = localName(i);
      const matches = (tn: string) => {
        budget.tick();
        return namesMatch(name, tn);
      };
      if (!targNames.some(matches)) return false;
    }
    return true;
  }
  // Every local enumerator needs a target one of the same essential name (anonymous: anonymous).
  const lookup = targ.enumeratorLookup(targId);
  if (lookup.firstBadName < targCount) targ.string(targ.enumeratorNameOffset(targId, lookup.firstBadName));
  for (let i = 0; i < localCount; i++) {
    budget.tick();
    if (!lookup.firstByEssentialName.has(essentialName(localName(i)))) return false;
  }
  return true;
}

function compositesMatch(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  behindPtr: boolean,
  level: number,
  budget: Budget,
): boolean {
  const l = local.type(localId);
  const t = targ.type(targId);
  if (!('members' in l) || !('members' in t)) return false;
  if (l.members.length > t.members.length) return false;
  // Big targets: only the target members whose names can match are tried, in member order.
  const lookup = t.members.length > LOOKUP_MIN_ELEMENTS ? targ.memberLookup(targId) : undefined;
  for (const lm of l.members) {
    let matched = false;
    const candidates = lookup
      ? lm.name === ''
        ? lookup.anonymous
        : (lookup.byEssentialName.get(essentialName(lm.name)) ?? [])
      : undefined;
    const count = candidates ? candidates.length : t.members.length;
    for (let k = 0; k < count; k++) {
      const tm = t.members[candidates ? candidates[k]! : k]!;
      budget.tick();
      if (!namesMatch(lm.name, tm.name)) continue;
      if (typesMatch(local, lm.type, targ, tm.type, behindPtr, level - 1, budget)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

/** __bpf_core_types_match (docs/CODEC.md §7.6), for TYPE_MATCHES. */
export function typesMatch(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  behindPtr = false,
  level = 32,
  budget = new Budget(),
): boolean {
  if (level <= 0) throw new CoreFailure('type match nests too deep', 'EINVAL');
  let depth = 32;
  for (;;) {
    budget.tick();
    if (--depth < 0) throw new CoreFailure('type match nests too deep', 'EINVAL');
    localId = skipModsAndTypedefs(local, localId, budget);
    targId = skipModsAndTypedefs(targ, targId, budget);
    if (!namesMatch(local.name(localId), targ.name(targId))) return false;
    const lk = local.kind(localId);
    const tk = targ.kind(targId);
    switch (lk) {
      case BtfKind.Unknown:
        return lk === tk;
      case BtfKind.Fwd: {
        const lf = local.kindFlag(localId);
        if (behindPtr) {
          if (lk === tk) return lf === targ.kindFlag(targId);
          return (tk === BtfKind.Struct && !lf) || (tk === BtfKind.Union && lf);
        }
        return lk === tk && lf === targ.kindFlag(targId);
      }
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return isAnyEnum(tk) && enumsMatch(local, localId, targ, targId, budget);
      case BtfKind.Struct:
      case BtfKind.Union:
        if (behindPtr) {
          if (lk === tk) return true;
          if (tk !== BtfKind.Fwd) return false;
          return (lk === BtfKind.Union) === targ.kindFlag(targId);
        }
        return lk === tk && compositesMatch(local, localId, targ, targId, behindPtr, level, budget);
      case BtfKind.Int: {
        if (tk !== BtfKind.Int) return false;
        const l = local.type(localId);
        const t = targ.type(targId);
        if (l.kind !== BtfKind.Int || t.kind !== BtfKind.Int) return false;
        return l.size === t.size && (l.encoding & IntEncoding.Signed) === (t.encoding & IntEncoding.Signed);
      }
      case BtfKind.Pointer:
        if (tk !== BtfKind.Pointer) return false;
        behindPtr = true;
        localId = local.sizeOrType(localId);
        targId = targ.sizeOrType(targId);
        continue;
      case BtfKind.Array: {
        if (tk !== BtfKind.Array) return false;
        const l = local.type(localId);
        const t = targ.type(targId);
        if (l.kind !== BtfKind.Array || t.kind !== BtfKind.Array || l.nelems !== t.nelems) return false;
        localId = l.elemType;
        targId = t.elemType;
        continue;
      }
      case BtfKind.FuncProto: {
        if (tk !== BtfKind.FuncProto) return false;
        const l = local.type(localId);
        const t = targ.type(targId);
        if (l.kind !== BtfKind.FuncProto || t.kind !== BtfKind.FuncProto || l.params.length !== t.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (!typesMatch(local, l.params[i]!.type, targ, t.params[i]!.type, behindPtr, level - 1, budget)) return false;
        }
        localId = l.returnType;
        targId = t.returnType;
        continue;
      }
      default:
        return false;
    }
  }
}

/**
 * bpf_core_match_member: finds the local member by name in `targId`, descending anonymous
 * members (docs/CODEC.md §7.5). Members are visited in order; the first member with the
 * local name decides, unless an anonymous member before it contains a match. In a big
 * struct only the anonymous members and that first same-named member are visited (a
 * member lookup): a named member with another name changes nothing, so skipping it gives
 * the same result.
 */
function matchMember(
  local: Btf,
  localParent: number,
  localIdx: number,
  localName: string,
  targ: Btf,
  targId: number,
  spec: CoreSpec,
  budget: Budget,
): boolean {
  targId = skipModsAndTypedefs(targ, targId, budget);
  if (!isComposite(targ.kind(targId))) return false;
  // A named accessor carries its member's name; the type is read in place.
  const localType = local.memberType(localParent, localIdx);
  const n = targ.vlen(targId);
  if (n > LOOKUP_MIN_ELEMENTS) {
    const lookup = targ.memberLookup(targId);
    const named = lookup.firstByName.get(localName) ?? n;
    // A member with a bad name offset before the decision point: let the scan raise its error.
    if (lookup.firstBadName >= named) {
      if (spec.rawLength === SPEC_MAX_LEN) throw nestingTooDeep();
      for (const i of lookup.anonymous) {
        if (i > named) break;
        if (visitMember(local, localParent, localIdx, localName, localType, targ, targId, i, spec, budget)) return true;
      }
      return named < n && visitMember(local, localParent, localIdx, localName, localType, targ, targId, named, spec, budget) === true;
    }
  }
  for (let i = 0; i < n; i++) {
    const decided = visitMember(local, localParent, localIdx, localName, localType, targ, targId, i, spec, budget);
    if (decided !== undefined) return decided;
  }
  return false;
}

/** Type of the member matchMember matched last (read right after it returns true). */
let matchedMemberType = 0;

/**
 * One member of matchMember's walk: true/false when it decides the match, undefined to go
 * on with the next member (the spec is left as it was).
 */
function visitMember(
  local: Btf,
  localParent: number,
  localIdx: number,
  localName: string,
  localType: number,
  targ: Btf,
  targId: number,
  i: number,
  spec: CoreSpec,
  budget: Budget,
): boolean | undefined {
  budget.tick();
  const bitOffset = targ.memberBitOffset(targId, i);
  spec.bitOffset = (spec.bitOffset + bitOffset) >>> 0;
  spec.pushRaw(i);
  // Names are compared in place: a walk over task_struct touches hundreds of members.
  const nameOff = targ.memberNameOffset(targId, i);
  if (nameOff === 0 || targ.stringEquals(nameOff, '')) {
    if (matchMember(local, localParent, localIdx, localName, targ, targ.memberType(targId, i), spec, budget)) return true;
  } else if (targ.stringEquals(nameOff, localName)) {
    const type = targ.memberType(targId, i);
    spec.pushAccessor(targId, i, localName);
    matchedMemberType = type;
    const compatible = fieldsAreCompat(local, localType, targ, type, budget);
    if (!compatible) spec.popAccessor();
    return compatible;
  }
  spec.bitOffset = (spec.bitOffset - bitOffset) >>> 0;
  spec.popRaw();
  return undefined;
}

/**
 * bpf_core_spec_match: fills `spec` with the target spec for one candidate and says whether
 * the candidate matches (docs/CODEC.md §7.5).
 */
function specMatch(localSpec: CoreSpec, targ: Btf, candId: number, budget: Budget, spec: CoreSpec): boolean {
  spec.reset(targ, candId, localSpec.kind);
  const local = localSpec.btf;
  if (isTypeBased(localSpec.kind)) {
    return localSpec.kind === CoreReloKind.TypeMatches
      ? typesMatch(local, localSpec.rootTypeId, targ, candId, false, 32, budget)
      : typesAreCompat(local, localSpec.rootTypeId, targ, candId, 32, budget);
  }
  if (isEnumvalBased(localSpec.kind)) {
    const enumId = skipModsAndTypedefs(targ, candId, budget);
    if (!isAnyEnum(targ.kind(enumId))) return false;
    const localName = localSpec.accessorName(0)!;
    const count = targ.vlen(enumId);
    let found: number;
    if (count > LOOKUP_MIN_ELEMENTS) {
      const lookup = targ.enumeratorLookup(enumId);
      found = lookup.firstByEssentialName.get(essentialName(localName)) ?? -1;
      // A bad name offset before the match (or with none): let the scan raise its error.
      if (lookup.firstBadName < (found < 0 ? count : found)) found = scanEnumerators(targ, enumId, localName, budget);
    } else {
      found = scanEnumerators(targ, enumId, localName, budget);
    }
    if (found < 0) return false;
    spec.pushAccessor(enumId, found, targ.string(targ.enumeratorNameOffset(enumId, found)));
    spec.pushRaw(found);
    return true;
  }
  if (!isFieldBased(localSpec.kind)) throw new CoreFailure(`unknown relocation kind ${localSpec.kind}`, 'EINVAL');
  let targId = candId;
  for (let i = 0; i < localSpec.accessorCount; i++) {
    const name = localSpec.accessorName(i);
    const idx = localSpec.accessorIndex(i);
    targId = skipModsAndTypedefs(targ, targId, budget);
    if (name !== null) {
      if (!matchMember(local, localSpec.accessorType(i), idx, name, targ, targId, spec, budget)) return false;
      targId = matchedMemberType;
    } else {
      if (i > 0) {
        if (targ.kind(targId) !== BtfKind.Array) return false;
        const a = targ.type(targId);
        if (a.kind !== BtfKind.Array) return false;
        const flex = isFlexArray(targ, spec, a.nelems);
        if (!flex && idx >= a.nelems) return false;
        targId = skipModsAndTypedefs(targ, a.elemType, budget);
      }
      spec.pushAccessor(targId, idx, null);
      spec.pushRaw(idx);
      spec.bitOffset = addBits(spec.bitOffset, idx, resolveSize(targ, targId));
    }
  }
  return true;
}

/** Index of the first enumerator of `enumId` whose essential name is that of `localName`, or -1. */
function scanEnumerators(targ: Btf, enumId: number, localName: string, budget: Budget): number {
  const count = targ.vlen(enumId);
  for (let i = 0; i < count; i++) {
    budget.tick();
    if (essentialNamesMatch(localName, targ.string(targ.enumeratorNameOffset(enumId, i)))) return i;
  }
  return -1;
}

const POISON = Symbol('poison');

/** The word after a type's 12-byte header: libbpf 1.1's FIELD_SIGNED reads it whatever the kind. */
function intEncodingWord(btf: Btf, id: number): number {
  if (id === 0) return 0;
  const t = btf.type(id);
  if (t.kind === BtfKind.Int) return t.encoding;
  return (btf.rawWordAfterHeader(id) >>> 24) & 0x0f;
}

/** bpf_core_calc_field_relo (docs/CODEC.md §7.7); POISON when the spec is null for a non-EXISTS kind. */
function fieldValue(kind: number, spec: CoreSpec | null): bigint | typeof POISON {
  if (kind === CoreReloKind.FieldExists) return spec ? 1n : 0n;
  if (!spec) return POISON;
  const btf = spec.btf;
  const last = spec.accessorCount - 1;
  const parent = spec.accessorType(last);
  const idx = spec.accessorIndex(last);
  const name = spec.accessorName(last);
  if (name === null) {
    if (kind === CoreReloKind.FieldByteOffset) {
      resolveSize(btf, parent);
      return BigInt(Math.floor(spec.bitOffset / 8));
    }
    if (kind === CoreReloKind.FieldByteSize) return BigInt(resolveSize(btf, parent));
    throw new CoreFailure(`${reloKindName(kind)} cannot be applied to an array element access`, 'EINVAL');
  }
  const fieldType = skipModsAndTypedefs(btf, btf.memberType(parent, idx));
  const bitOff = spec.bitOffset;
  let bitSize = btf.memberBitfieldSize(parent, idx);
  let byteSize: number;
  let byteOff: number;
  if (bitSize > 0) {
    byteSize = btf.kind(fieldType) === BtfKind.Unknown ? 0 : btf.sizeOrType(fieldType);
    if (byteSize === 0) throw new CoreFailure(`bitfield ${clip(name)} has a type of size 0`, 'EINVAL');
    byteOff = Math.floor(Math.floor(bitOff / 8) / byteSize) * byteSize;
    while ((bitOff + bitSize - byteOff * 8) >>> 0 > byteSize * 8) {
      if (byteSize >= 8) throw new CoreFailure(`bitfield ${clip(name)} cannot be read with a 64-bit load`, 'E2BIG');
      byteSize *= 2;
      byteOff = Math.floor(Math.floor(bitOff / 8) / byteSize) * byteSize;
    }
  } else {
    byteSize = resolveSize(btf, fieldType);
    byteOff = Math.floor(bitOff / 8);
    bitSize = byteSize * 8;
  }
  switch (kind) {
    case CoreReloKind.FieldByteOffset:
      return BigInt(byteOff);
    case CoreReloKind.FieldByteSize:
      return BigInt(byteSize);
    case CoreReloKind.FieldSigned: {
      const fk = btf.kind(fieldType);
      const signed = (isAnyEnum(fk) && btf.kindFlag(fieldType)) || (intEncodingWord(btf, fieldType) & IntEncoding.Signed) !== 0;
      return signed ? 1n : 0n;
    }
    case CoreReloKind.FieldLshiftU64:
      // Little-endian host formula: libbpf computes it for the machine that loads the program.
      return BigInt.asUintN(64, 64n - BigInt((bitOff + bitSize - byteOff * 8) >>> 0));
    case CoreReloKind.FieldRshiftU64:
      return BigInt.asUintN(64, 64n - BigInt(bitSize));
    default:
      throw new CoreFailure(`unsupported relocation kind ${kind}`, 'EOPNOTSUPP');
  }
}

function typeValue(kind: number, spec: CoreSpec | null): bigint {
  if (!spec) return 0n;
  switch (kind) {
    case CoreReloKind.TypeIdTarget:
      return BigInt(spec.rootTypeId);
    case CoreReloKind.TypeExists:
    case CoreReloKind.TypeMatches:
      return 1n;
    case CoreReloKind.TypeSize:
      return BigInt(resolveSize(spec.btf, spec.rootTypeId));
    default:
      throw new CoreFailure(`unsupported relocation kind ${kind}`, 'EOPNOTSUPP');
  }
}

function enumvalValue(kind: number, spec: CoreSpec | null): bigint | typeof POISON {
  if (kind === CoreReloKind.EnumvalExists) return spec ? 1n : 0n;
  if (kind !== CoreReloKind.EnumvalValue) throw new CoreFailure(`unsupported relocation kind ${kind}`, 'EOPNOTSUPP');
  if (!spec) return POISON;
  const enumId = spec.accessorType(0);
  if (!isAnyEnum(spec.btf.kind(enumId))) throw new CoreFailure('enum value relocation on a non-enum', 'EINVAL');
  // An ENUM's s32 value is sign-extended into libbpf's u64, whatever the enum's signedness.
  return spec.btf.enumeratorValue(enumId, spec.accessorIndex(0));
}

/** bpf_core_calc_relo: the original (local) and new (target) values. */
function calcRelo(kind: number, localSpec: CoreSpec, targSpec: CoreSpec | null): RelocationValue {
  let calc: (k: number, s: CoreSpec | null) => bigint | typeof POISON;
  if (isFieldBased(kind)) calc = fieldValue;
  else if (isTypeBased(kind)) calc = typeValue;
  else if (isEnumvalBased(kind)) calc = enumvalValue;
  else throw new CoreFailure(`unsupported relocation kind ${kind}`, 'EOPNOTSUPP');
  const orig = calc(kind, localSpec);
  if (orig === POISON) return { poison: true, origVal: 0n, newVal: 0n };
  const next = calc(kind, targSpec);
  if (next === POISON) return { poison: true, origVal: orig, newVal: 0n };
  return { poison: false, origVal: orig, newVal: next };
}

/** Candidate list for a local root type (docs/CODEC.md §7.3): target ids with a compatible kind and the same essential name. */
export function findCandidates(local: Btf, localId: number, targ: Btf): number[] {
  local.checkId(localId);
  if (localId === 0) return [];
  const name = local.name(localId);
  const localKind = local.kind(localId);
  if (essentialNameLength(name) === 0) return [];
  const ids = BtfClass.isIndexedKind(localKind) ? targ.idsByEssentialName(name) : targ.scanByEssentialName(name, localKind);
  return ids.filter((id) => kindsCoreCompatible(targ.kind(id), localKind));
}

/** What one relocation resolves to. */
export interface Resolution {
  localSpec: CoreSpec;
  /** The first matching candidate's spec; null when nothing matched (or TYPE_ID_LOCAL). */
  targetSpec: CoreSpec | null;
  value: RelocationValue;
}

/**
 * bpf_core_calc_relo_insn (docs/CODEC.md §7.8) for one relocation. `cands` is the candidate
 * list of `relo.typeId` shared by the object's relocations (null for TYPE_ID_LOCAL): every
 * matching candidate is checked for ambiguity, and when some matched the list is pruned in
 * place to them, which is what later relocations on the same root see. Throws CoreFailure
 * (or CodecError for malformed BTF) where libbpf fails. The specs are filled into `work`'s:
 * with a SpecWork the caller reuses, the Resolution lasts until the next call with it.
 */
export function calcReloInsn(
  target: Btf,
  local: Btf,
  relo: CoreRelo,
  cands: number[] | null,
  budget: Budget,
  parse: (access: string) => number[] = parseAccessString,
  work: SpecWork = new SpecWork(local, target),
): Resolution {
  local.checkId(relo.typeId, () => 'relocation root');
  const localSpec = parseLocalSpec(local, relo, budget, parse, work.local);
  if (relo.kind === CoreReloKind.TypeIdLocal) {
    const id = BigInt(relo.typeId);
    return { localSpec, targetSpec: null, value: { poison: false, origVal: id, newVal: id } };
  }
  if (local.name(relo.typeId) === '') throw new CoreFailure("relocation doesn't support anonymous types", 'EOPNOTSUPP');
  const list = cands!;
  let targetSpec: CoreSpec | null = null;
  let value: RelocationValue | null = null;
  // libbpf compacts the list in place as it goes; collecting first leaves the list intact
  // when a later candidate turns out ambiguous (which matters when resolution goes on).
  // Collected from the first candidate that does not match on: until then the matches are
  // the list's head, and when all match (the usual case) nothing is collected.
  let kept: number[] | null = null;
  for (let i = 0; i < list.length; i++) {
    const candSpec = work.candidate;
    if (!specMatch(localSpec, target, list[i]!, budget, candSpec)) {
      kept ??= list.slice(0, i);
      continue;
    }
    workCounters.objectsBuilt++;
    const candValue = calcRelo(relo.kind, localSpec, candSpec);
    if (targetSpec === null) {
      targetSpec = candSpec;
      // The first match is kept: later candidates are matched in the other spec.
      work.candidate = work.matched;
      work.matched = candSpec;
      value = candValue;
    } else {
      checkSameDecision(target, targetSpec, value!, candSpec, candValue);
    }
    kept?.push(list[i]!);
  }
  if (targetSpec !== null) {
    // Some candidate did not match: the list keeps those that did.
    if (kept !== null) {
      list.length = 0;
      for (const id of kept) list.push(id);
    }
  } else {
    value = calcRelo(relo.kind, localSpec, null);
  }
  return { localSpec, targetSpec, value: value! };
}

/**
 * The part of bpf_core_calc_relo_insn that does not depend on the relocation's kind, only on
 * its class (field, type, type match, enum value: `matchClass`): the local spec and which
 * candidates match, with their specs. libbpf works it out again for each kind (a field read
 * with BPF_CORE_READ_BITFIELD is four or five relocations on one access string, a field
 * tested with bpf_core_field_exists and then read is two); `decide` turns it into any
 * kind's outcome, exactly as calcReloInsn would on the same candidate list. The specs are
 * filled in place and kept for the next `match`: a resolver reuses a few of these, so
 * sharing the matching allocates nothing per relocation.
 */
export class CandidateMatches {
  readonly localSpec: CoreSpec;
  /** Per candidate of the list, in order: its spec, valid where `matched` says it matched. */
  private readonly specs: CoreSpec[] = [];
  private readonly matched: boolean[] = [];
  /** Candidates looked at: all of the list, or up to the one whose matching threw `error`. */
  private count = 0;
  private failed = false;
  private error: unknown = null;

  constructor(
    private readonly local: Btf,
    private readonly target: Btf,
  ) {
    this.localSpec = new CoreSpec(local);
  }

  /**
   * Matches `relo` (of a kind with a matchClass) against the candidate list `cands`. Throws
   * what calcReloInsn throws before it looks at a candidate (the local spec's errors); an
   * error matching a candidate is kept, for `decide` to throw in its place.
   */
  match(relo: CoreRelo, cands: readonly number[], budget: Budget, parse: (access: string) => number[]): void {
    const local = this.local;
    this.count = 0;
    this.failed = false;
    this.error = null;
    local.checkId(relo.typeId, () => 'relocation root');
    parseLocalSpec(local, relo, budget, parse, this.localSpec);
    if (local.name(relo.typeId) === '') throw new CoreFailure("relocation doesn't support anonymous types", 'EOPNOTSUPP');
    for (const id of cands) {
      const i = this.count;
      if (i === this.specs.length) {
        this.specs.push(new CoreSpec(this.target));
        this.matched.push(false);
      }
      try {
        this.matched[i] = specMatch(this.localSpec, this.target, id, budget, this.specs[i]!);
      } catch (error) {
        this.failed = true;
        this.error = error;
        return;
      }
      this.count = i + 1;
    }
  }

  /**
   * calcReloInsn's outcome for a relocation of `kind`, made against `list` as it was matched:
   * the same values, the same ambiguity errors in the same order, and the same pruning of
   * `list` (this matching is pruned alike, so it stays the list's). The Resolution's specs
   * are this one's, valid until the next `match`.
   */
  decide(kind: number, list: number[]): Resolution {
    const { localSpec, specs, matched } = this;
    localSpec.kind = kind;
    let targetSpec: CoreSpec | null = null;
    let value: RelocationValue | null = null;
    let unmatched = false;
    for (let i = 0; i < this.count; i++) {
      if (!matched[i]) {
        unmatched = true;
        continue;
      }
      const candSpec = specs[i]!;
      candSpec.kind = kind;
      const candValue = calcRelo(kind, localSpec, candSpec);
      if (targetSpec === null) {
        targetSpec = candSpec;
        value = candValue;
      } else {
        checkSameDecision(this.target, targetSpec, value!, candSpec, candValue);
      }
    }
    if (this.failed) throw this.error;
    if (targetSpec === null) return { localSpec, targetSpec, value: calcRelo(kind, localSpec, null) };
    if (unmatched) this.prune(list);
    return { localSpec, targetSpec, value: value! };
  }

  /** Keeps the matched candidates, in order, in `list` and here (specs swapped, not copied). */
  private prune(list: number[]): void {
    const { specs, matched } = this;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      if (!matched[i]) continue;
      if (kept !== i) {
        const spec = specs[i]!;
        specs[i] = specs[kept]!;
        specs[kept] = spec;
        matched[kept] = true;
        matched[i] = false;
      }
      list[kept] = specs[kept]!.rootTypeId;
      kept++;
    }
    list.length = kept;
    this.count = kept;
  }
}

/** Relocation kinds whose matching is the same (libbpf's spec match branches on these), -1 for none (TYPE_ID_LOCAL matches nothing). */
export function matchClass(kind: number): number {
  if (isFieldBased(kind)) return 0;
  if (kind === CoreReloKind.TypeMatches) return 1;
  if (kind === CoreReloKind.TypeIdTarget || kind === CoreReloKind.TypeExists || kind === CoreReloKind.TypeSize) return 2;
  if (isEnumvalBased(kind)) return 3;
  return -1;
}

/**
 * libbpf's check that a later matching candidate decides as the first did: the same bit
 * offset, then the same value (docs/CODEC.md §7.8). `candSpec.rootTypeId` is the candidate.
 */
function checkSameDecision(
  target: Btf,
  targetSpec: CoreSpec,
  value: RelocationValue,
  candSpec: CoreSpec,
  candValue: RelocationValue,
): void {
  if (candSpec.bitOffset !== targetSpec.bitOffset) {
    throw new CoreFailure(
      `field offset ambiguity: ${candSpec.bitOffset} != ${targetSpec.bitOffset} (candidates ${target.describe(candSpec.rootTypeId)} and ${target.describe(targetSpec.rootTypeId)})`,
      'EINVAL',
    );
  }
  if (candValue.poison !== value.poison || candValue.newVal !== value.newVal) {
    throw new CoreFailure(
      `relocation decision ambiguity: ${value.newVal} != ${candValue.newVal} (candidates ${target.describe(targetSpec.rootTypeId)} and ${target.describe(candSpec.rootTypeId)})`,
      'EINVAL',
    );
  }
}

/** A Resolution whose specs are its own: one made with a SpecWork is overwritten by the next. */
export function keptResolution(r: Resolution): Resolution {
  return { localSpec: r.localSpec.copy(), targetSpec: r.targetSpec?.copy() ?? null, value: r.value };
}
