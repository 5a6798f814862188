/**
 * The trimmer: `bpftool gen min_core_btf` (bpftool 7.1.0 btfgen) in TypeScript
 * (docs/CODEC.md §8).
 *
 * 1. Every CO-RE relocation of every object is resolved against the full kernel BTF with
 *    libbpf's rules (core.ts, relocate.ts); the first matching candidate's target spec says
 *    what the relocation touches. Relocations stream through; none is kept.
 * 2. Types and struct/union members are marked from those specs (docs/CODEC.md §8.2).
 * 3. The output keeps marked types in their original id order, composites with only
 *    their marked members (original size and offsets), every other kind verbatim; type
 *    references are renumbered and references to unmarked types become 0 (void), which
 *    is how a pointer nobody needs becomes `void *` (docs/CODEC.md §8.4). Strings are interned in the
 *    order libbpf's btf__add_* calls intern them, so the bytes equal bpftool's.
 */
import type { Btf } from './btf.js';
import { CoreFailure, CoreReloKind, skipModsAndTypedefs, type CoreSpec } from './core.js';
import { encodeBtf } from './encode.js';
import { clip, CodecError } from './errors.js';
import { BtfKind, describeKind, isComposite } from './kinds.js';
import type { CodecLimits } from './limits.js';
import type { BpfObject } from './object.js';
import type { RelocationOutcomes } from './outcomes.js';
import { describeRelocation, RelocationResolver } from './relocate.js';
import type { BtfType, CompositeType, Member, TypeId } from './types.js';

export interface TrimOptions {
  /** Output byte order; little-endian (what bpftool writes on x86 and arm64) by default. */
  littleEndian?: boolean;
  /**
   * Called for each relocation bpftool would abort on (docs/CODEC.md §8.6); the trim then
   * goes on without it. By default (no callback) the first such relocation fails the whole
   * trim, exactly as bpftool does. Types a failing relocation marked before it failed stay
   * kept. A LIMIT error is never skipped.
   */
  onSkippedRelocation?: (error: CodecError) => void;
  /** Bounds on the CO-RE work (maxCoreStepsPerByte); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
  /** Gets every relocation's outcome against the target, for `verifyTrim` to compare with. */
  outcomes?: RelocationOutcomes;
}

/** Why a trim aborted, with the relocation that led there. */
class MarkFailure extends Error {}

/** The marks of one trim: types, and members per composite (docs/CODEC.md §8.2). */
class MarkSet {
  /** Sets, not arrays over every id: a trim marks hundreds of a kernel's 100k+ types. */
  readonly types = new Set<TypeId>();
  readonly members = new Map<TypeId, Set<number>>();
  /** Memo of (id, flag) pairs already expanded by markType / markTypeMatch, as id * 2 + flag. */
  private readonly seen = new Set<number>();
  private readonly seenMatch = new Set<number>();

  constructor(private readonly btf: Btf) {}

  private markMember(id: TypeId, idx: number): void {
    let set = this.members.get(id);
    if (set?.has(idx)) return;
    // Refuse now what btf__add_field would refuse when writing, so the error names the relocation.
    const btf = this.btf;
    const bitOffset = btf.memberBitOffset(id, idx);
    const bitfieldSize = btf.memberBitfieldSize(id, idx);
    if (bitfieldSize !== 0 || bitOffset % 8 !== 0 || (bitOffset !== 0 && btf.kind(id) === BtfKind.Union)) {
      const problem = memberProblem(btf, id, idx, btf.member(id, idx));
      if (problem) throw new MarkFailure(problem);
    }
    if (!set) this.members.set(id, (set = new Set()));
    set.add(idx);
  }

  private unsupported(id: TypeId): never {
    throw new MarkFailure(`unsupported kind: ${describeKind(this.btf.kind(id))} (${this.btf.describe(id)})`);
  }

  /** btfgen_mark_type: the type and what it needs, following pointers only when asked. */
  markType(id: TypeId, followPointers: boolean): void {
    if (id === 0) return;
    const key = id * 2 + (followPointers ? 1 : 0);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.btf.checkId(id);
    this.types.add(id);
    const btf = this.btf;
    const kind = btf.kind(id);
    switch (kind) {
      case BtfKind.Int:
      case BtfKind.Float:
      case BtfKind.Enum:
      case BtfKind.Enum64:
      case BtfKind.Struct:
      case BtfKind.Union:
        return;
      case BtfKind.Pointer:
        if (followPointers) this.markType(btf.sizeOrType(id), followPointers);
        return;
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.Volatile:
      case BtfKind.Typedef:
        this.markType(btf.sizeOrType(id), followPointers);
        return;
      case BtfKind.Array: {
        const t = btf.type(id);
        if (t.kind !== BtfKind.Array) return;
        this.markType(t.elemType, followPointers);
        this.markType(t.indexType, followPointers);
        return;
      }
      case BtfKind.FuncProto: {
        const t = btf.type(id);
        if (t.kind !== BtfKind.FuncProto) return;
        this.markType(t.returnType, followPointers);
        for (const p of t.params) this.markType(p.type, followPointers);
        return;
      }
      default:
        this.unsupported(id);
    }
  }

  /** btfgen_record_field_relo: the path of a field relocation, member by member. */
  recordField(spec: CoreSpec): void {
    const btf = this.btf;
    let id = spec.rootTypeId;
    this.markType(id, false);
    for (let i = 1; i < spec.rawLength; i++) {
      // Modifiers and typedefs on the path were marked by the markType before; skip them unmarked.
      try {
        id = skipModsAndTypedefs(btf, id);
      } catch (err) {
        if (err instanceof CoreFailure) throw new MarkFailure(err.message);
        throw err;
      }
      const kind = btf.kind(id);
      if (isComposite(kind)) {
        const idx = spec.rawAt(i);
        this.markMember(id, idx);
        id = btf.memberType(id, idx);
        this.markType(id, false);
      } else if (kind === BtfKind.Array) {
        const t = btf.type(id);
        if (t.kind === BtfKind.Array) id = t.elemType;
      } else {
        this.unsupported(id);
      }
    }
  }

  /** btfgen_mark_type_match: full member closure, composites behind pointers left empty. */
  markTypeMatch(id: TypeId, behindPtr: boolean): void {
    if (id === 0) return;
    const key = id * 2 + (behindPtr ? 1 : 0);
    if (this.seenMatch.has(key)) return;
    this.seenMatch.add(key);
    this.btf.checkId(id);
    this.types.add(id);
    const btf = this.btf;
    const t = btf.type(id);
    switch (t.kind) {
      case BtfKind.Int:
      case BtfKind.Float:
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return;
      case BtfKind.Struct:
      case BtfKind.Union:
        if (behindPtr) return;
        t.members.forEach((m, i) => {
          this.markMember(id, i);
          this.markTypeMatch(m.type, false);
        });
        return;
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.Typedef:
      case BtfKind.Volatile:
        this.markTypeMatch(t.type, behindPtr);
        return;
      case BtfKind.Fwd:
        // bpftool follows FWD's type word like a typedef's; it is 0 in well-formed BTF.
        this.markTypeMatch(btf.sizeOrType(id), behindPtr);
        return;
      case BtfKind.Pointer:
        this.markTypeMatch(t.type, true);
        return;
      case BtfKind.Array:
        this.markTypeMatch(t.elemType, false);
        this.markTypeMatch(t.indexType, false);
        return;
      case BtfKind.FuncProto:
        this.markTypeMatch(t.returnType, false);
        for (const p of t.params) this.markTypeMatch(p.type, false);
        return;
      default:
        this.unsupported(id);
    }
  }

  /** btfgen_record_reloc: marks from the target spec of one relocation (docs/CODEC.md §8.2). */
  record(spec: CoreSpec | null): void {
    // No candidate matched (or TYPE_ID_LOCAL): bpftool's zeroed spec marks nothing.
    if (!spec) return;
    switch (spec.kind) {
      case CoreReloKind.FieldByteOffset:
      case CoreReloKind.FieldByteSize:
      case CoreReloKind.FieldExists:
      case CoreReloKind.FieldSigned:
      case CoreReloKind.FieldLshiftU64:
      case CoreReloKind.FieldRshiftU64:
        this.recordField(spec);
        return;
      case CoreReloKind.TypeIdLocal:
        return;
      case CoreReloKind.TypeIdTarget:
      case CoreReloKind.TypeExists:
      case CoreReloKind.TypeSize:
        this.markType(spec.rootTypeId, true);
        return;
      case CoreReloKind.TypeMatches:
        this.markTypeMatch(spec.rootTypeId, false);
        return;
      case CoreReloKind.EnumvalExists:
      case CoreReloKind.EnumvalValue:
        this.markType(spec.rootTypeId, false);
        return;
      default:
        throw new MarkFailure(`unknown relocation kind ${spec.kind}`);
    }
  }
}

/** Resolves and marks every relocation of every object, in order (docs/CODEC.md §8.1). */
export function markObjects(
  target: Btf,
  objects: readonly BpfObject[],
  options: Pick<TrimOptions, 'onSkippedRelocation' | 'limits' | 'outcomes'> = {},
): MarkSet {
  const marks = new MarkSet(target);
  const skip = options.onSkippedRelocation;
  const outcomes = options.outcomes;
  for (const object of objects) {
    // A repeat marks what its first occurrence marked: nothing new, unless that one failed.
    const failedMarks = new Map<number, MarkFailure>();
    const resolver = new RelocationResolver(target, object, { limits: options.limits, keep: 'outcome' });
    for (let step = resolver.next(); step !== null; step = resolver.next()) {
      outcomes?.record(step);
      if (step.error) {
        if (!skip) throw step.error;
        skip(step.error);
        continue;
      }
      let failure = step.repeated ? failedMarks.get(step.origin) : undefined;
      if (!step.repeated) {
        try {
          marks.record(step.resolution!.targetSpec);
        } catch (err) {
          if (!(err instanceof MarkFailure)) throw err;
          failure = err;
          failedMarks.set(step.origin, err);
        }
      }
      if (failure) {
        const error = new CodecError(
          'TRIM',
          `${describeRelocation(object.name, step.section, step.index, step.relo, object.btf)}: ${failure.message}`,
          { cause: failure },
        );
        if (!skip) throw error;
        skip(error);
      }
    }
  }
  return marks;
}

/** Builds the kept types in output order, ids remapped (docs/CODEC.md §8.4). */
function buildTypes(target: Btf, marks: MarkSet): BtfType[] {
  const ids = new Map<TypeId, TypeId>();
  const out: BtfType[] = [];
  // Output order is input id order.
  for (const id of [...marks.types].sort((a, b) => a - b)) {
    const kind = target.kind(id);
    // A composite is built from its marked members only: task_struct keeps a few of hundreds.
    out.push(kind === BtfKind.Struct || kind === BtfKind.Union ? keptComposite(target, id, marks.members.get(id)) : target.typeCopy(id));
    ids.set(id, out.length);
  }
  const map = (x: TypeId) => ids.get(x) ?? 0;
  for (const t of out) remapTypeIds(t, map);
  return out;
}

/** Why btf__add_field would refuse member `idx` of `id` (docs/CODEC.md §8.4), or undefined. */
function memberProblem(target: Btf, id: TypeId, idx: number, m: Member): string | undefined {
  const isBitfield = m.bitfieldSize !== 0 || m.bitOffset % 8 !== 0;
  if (isBitfield && (m.bitfieldSize === 0 || m.bitfieldSize > 255 || m.bitOffset > 0xffffff)) {
    return `${target.describe(id)}: member ${idx} '${clip(m.name)}' at bit offset ${m.bitOffset} is a bitfield without a size (kind_flag 0 legacy bitfield); bpftool cannot write it either`;
  }
  if (target.kind(id) === BtfKind.Union && m.bitOffset !== 0) {
    return `${target.describe(id)}: union member ${idx} '${clip(m.name)}' has non-zero bit offset ${m.bitOffset}`;
  }
  return undefined;
}

/** btf__add_struct/union + btf__add_field for the marked members, with libbpf's checks. */
function keptComposite(target: Btf, id: TypeId, marked: Set<number> | undefined): CompositeType {
  const members: Member[] = [];
  let kindFlag = false;
  // In original member order.
  for (const idx of marked ? [...marked].sort((a, b) => a - b) : []) {
    const m = target.member(id, idx);
    const problem = memberProblem(target, id, idx, m);
    if (problem) throw new CodecError('TRIM', problem);
    kindFlag ||= m.bitfieldSize !== 0 || m.bitOffset % 8 !== 0;
    members.push(m);
  }
  const kind = target.kind(id) === BtfKind.Union ? BtfKind.Union : BtfKind.Struct;
  return { kind, name: target.name(id), size: target.sizeOrType(id), kindFlag, members };
}

/** btf_type_visit_type_ids: rewrites every type-id field of `t` through `map`. */
export function remapTypeIds(t: BtfType, map: (id: TypeId) => TypeId): void {
  switch (t.kind) {
    case BtfKind.Pointer:
    case BtfKind.Typedef:
    case BtfKind.Volatile:
    case BtfKind.Const:
    case BtfKind.Restrict:
    case BtfKind.TypeTag:
    case BtfKind.Func:
    case BtfKind.Var:
    case BtfKind.DeclTag:
      t.type = map(t.type);
      return;
    case BtfKind.Array:
      t.elemType = map(t.elemType);
      t.indexType = map(t.indexType);
      return;
    case BtfKind.Struct:
    case BtfKind.Union:
      for (const m of t.members) m.type = map(m.type);
      return;
    case BtfKind.FuncProto:
      t.returnType = map(t.returnType);
      for (const p of t.params) p.type = map(p.type);
      return;
    case BtfKind.Datasec:
      for (const v of t.vars) v.type = map(v.type);
      return;
    default:
      return;
  }
}

/** The minimized types, in output order (types[i] is id i + 1). */
export function trimBtfTypes(
  target: Btf,
  objects: readonly BpfObject[],
  options: Pick<TrimOptions, 'onSkippedRelocation' | 'limits' | 'outcomes'> = {},
): BtfType[] {
  return buildTypes(target, markObjects(target, objects, options));
}

/** `bpftool gen min_core_btf TARGET OUT OBJECTS...`: the raw bytes of the minimized BTF. */
export function trimBtf(target: Btf, objects: readonly BpfObject[], options: TrimOptions = {}): Uint8Array {
  return encodeBtf(trimBtfTypes(target, objects, options), { littleEndian: options.littleEndian ?? true });
}
