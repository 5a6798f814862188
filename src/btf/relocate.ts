/**
 * Resolving every CO-RE relocation of an object, in file order, as libbpf does at load time
 * and bpftool's btfgen does (docs/CODEC.md §7.8, §8.1): one candidate list per local root
 * type, shared by the object's relocations and pruned by each one that matches, because
 * pruning by one relocation changes what later relocations see.
 *
 * Linear in the object (docs/CODEC.md §11):
 * - a relocation repeated with the same root type, access string and kind, against the same
 *   (unpruned since) candidate list, has the same outcome: it is memoized, so a .BTF.ext that
 *   repeats one block a million times costs one resolution plus a lookup per record;
 * - access strings are parsed once per string;
 * - results stream to the caller (`relocationSteps`) instead of piling up in arrays; the
 *   array-returning `resolveObjectRelocations` is kept for callers that want every outcome;
 * - the step budget of the whole object is `maxCoreStepsPerByte` times its input bytes.
 */
import type { Btf } from './btf.js';
import {
  Budget,
  calcReloInsn,
  CoreFailure,
  CoreReloKind,
  findCandidates,
  isFieldBased,
  ObjectBudget,
  parseAccessString,
  reloKindName,
  type RelocationValue,
  type Resolution,
  type ResolvedRelocation,
} from './core.js';
import { clip, CodecError } from './errors.js';
import type { CoreRelo } from './ext.js';
import { resolveLimits, type CodecLimits } from './limits.js';
import type { BpfObject } from './object.js';
import { workCounters } from './work-counters.js';

export interface ResolveOptions {
  /** Called for each relocation in file order (used by the trimmer to mark as it goes). */
  onResolved?: (r: ResolvedRelocation) => void;
  /**
   * Called instead of throwing when a relocation fails, then resolution goes on with the
   * next one. Without it the first failure throws, as libbpf and bpftool stop there.
   * A LIMIT error is never passed here: it always ends the resolution.
   */
  onError?: (error: CodecError) => void;
  /** Bounds (maxCoreStepsPerByte); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
}

/** "obj.o: section S, insn #N (offset O), relo #I KIND of TYPE access \"A\"": where a relocation is, for messages. */
export function describeRelocation(object: string, section: string, index: number, relo: CoreRelo, local: Btf): string {
  let root: string;
  try {
    root = local.describe(relo.typeId);
  } catch {
    root = `type id ${relo.typeId}`;
  }
  return `${object}: section ${clip(section)}, insn #${relo.insnOff / 8} (offset ${relo.insnOff}), relo #${index} ${reloKindName(relo.kind)} of ${root} access "${clip(relo.access)}"`;
}

/**
 * One relocation as `relocationSteps` visits it. The same object is reused for every step:
 * copy what you keep.
 */
export interface RelocationStep {
  section: string;
  /** Index of the record inside its section block (libbpf's relo_idx). */
  index: number;
  relo: CoreRelo;
  /**
   * The specs and value; null when the relocation failed (`error`), and for a repeat when
   * the resolver keeps outcomes only (`keep: 'outcome'`). Shared by repeats: do not modify.
   */
  resolution: Resolution | null;
  /** The value libbpf would patch in (poison flag, values); null when the relocation failed. */
  value: RelocationValue | null;
  /** Why libbpf would reject the relocation, located ("obj.o: section ..., insn #...: ..."). */
  error: CodecError | null;
  /** True when this repeats an earlier relocation (same root, access string and kind, same candidates). */
  repeated: boolean;
  /** The same object for a relocation and all its repeats: a key for what a consumer derived from the first. */
  origin: object | null;
}

interface CandidateList {
  ids: number[];
  /** Bumped each time a relocation prunes `ids`. */
  version: number;
}

interface Memo {
  version: number;
  value: RelocationValue | null;
  /** Kept only with `keep: 'full'`. */
  resolution: Resolution | null;
  failure: Error | null;
}

export interface RelocationResolverOptions extends Pick<ResolveOptions, 'limits'> {
  /**
   * What a repeated relocation gets back: 'full' (the default) the first one's Resolution,
   * specs included; 'outcome' only its value, so that specs die young instead of being kept
   * for the whole object (the trimmer and the verifier, which need no specs for repeats).
   */
  keep?: 'full' | 'outcome';
}

/**
 * Every relocation of `object` against `target`, in file order, one `next()` at a time. A
 * relocation libbpf rejects is a step with `error` set, and the walk goes on (a caller that
 * stops at the first error, as bpftool does, just stops asking). Throws CodecError('LIMIT')
 * when the object's step budget runs out. `next()` returns the same step object each time,
 * updated, and null at the end: nothing is allocated per relocation but what resolving it
 * needs.
 */
export class RelocationResolver {
  private readonly local: Btf;
  /** Each relocation's step budget, restarted for the next (and charged to the object's). */
  private readonly budget: Budget;
  private readonly candidates = new Map<number, CandidateList>();
  /** memo.get(accessStrOff)?.get(memoKey(typeId, kind)): outcome of that relocation at a candidate-list version. */
  private readonly memo = new Map<number, Map<number, Memo>>();
  private readonly parsed = new Map<string, number[] | CoreFailure>();
  private readonly parse = (access: string): number[] => {
    let raw = this.parsed.get(access);
    if (raw === undefined) {
      try {
        raw = parseAccessString(access);
      } catch (err) {
        if (!(err instanceof CoreFailure)) throw err;
        raw = err;
      }
      this.parsed.set(access, raw);
    }
    if (raw instanceof CoreFailure) throw raw;
    return raw;
  };
  private readonly step: RelocationStep = {
    section: '',
    index: 0,
    relo: undefined as unknown as CoreRelo,
    resolution: null,
    value: null,
    error: null,
    repeated: false,
    origin: null,
  };
  private block = 0;
  private index = 0;
  private readonly keepSpecs: boolean;

  constructor(
    private readonly target: Btf,
    private readonly object: BpfObject,
    options: RelocationResolverOptions = {},
  ) {
    this.keepSpecs = (options.keep ?? 'full') === 'full';
    this.local = object.btf;
    const objectBudget = new ObjectBudget(
      this.local.bytes.byteLength + extBytes(object) + target.bytes.byteLength,
      resolveLimits(options.limits),
    );
    this.budget = new Budget(objectBudget);
  }

  next(): RelocationStep | null {
    const blocks = this.object.ext.coreRelos;
    while (this.block < blocks.length && this.index >= blocks[this.block]!.records.length) {
      this.block++;
      this.index = 0;
    }
    if (this.block >= blocks.length) return null;
    const block = blocks[this.block]!;
    const index = this.index++;
    const relo = block.records[index]!;
    const step = this.step;
    step.section = block.section;
    step.index = index;
    step.relo = relo;
    step.resolution = null;
    step.value = null;
    step.error = null;
    step.repeated = false;
    step.origin = null;
    try {
      this.resolve(relo, step);
    } catch (err) {
      const where = describeRelocation(this.object.name, block.section, index, relo, this.local);
      if (isLimit(err)) throw new CodecError('LIMIT', `${where}: ${(err as CodecError).message}`, { cause: err });
      if (err instanceof CoreFailure) step.error = new CodecError('CORE', `${where}: ${err.message} (-${err.errno})`, { cause: err });
      else if (err instanceof CodecError) step.error = new CodecError(err.code, `${where}: ${err.message}`, { cause: err });
      else throw err;
    }
    return step;
  }

  private resolve(relo: CoreRelo, step: RelocationStep): void {
    let cands: CandidateList | null = null;
    if (relo.kind !== CoreReloKind.TypeIdLocal) {
      cands = this.candidates.get(relo.typeId) ?? null;
      if (!cands) {
        cands = { ids: findCandidates(this.local, relo.typeId, this.target), version: 0 };
        this.candidates.set(relo.typeId, cands);
      }
    }
    const version = cands ? cands.version : 0;
    const key = memoKey(relo.typeId, relo.kind);
    let byAccess = this.memo.get(relo.accessStrOff);
    const seen = key === undefined ? undefined : byAccess?.get(key);
    if (seen !== undefined && seen.version === version) {
      step.repeated = true;
      step.origin = seen;
      if (seen.failure) throw seen.failure;
      step.resolution = seen.resolution;
      step.value = seen.value;
      return;
    }
    const before = cands ? cands.ids.length : 0;
    let entry: Memo;
    let resolution: Resolution | null = null;
    try {
      resolution = calcReloInsn(this.target, this.local, relo, cands ? cands.ids : null, this.budget.restart(), this.parse);
      // Pruned: the outcome stays valid for the pruned list (it holds exactly the matches).
      if (cands && cands.ids.length !== before) cands.version++;
      entry = {
        version: cands ? cands.version : 0,
        value: resolution.value,
        resolution: this.keepSpecs ? resolution : null,
        failure: null,
      };
    } catch (err) {
      if (isLimit(err) || !(err instanceof CoreFailure || err instanceof CodecError)) throw err;
      entry = { version, value: null, resolution: null, failure: err };
    }
    if (key !== undefined) {
      if (!byAccess) this.memo.set(relo.accessStrOff, (byAccess = new Map<number, Memo>()));
      byAccess.set(key, entry);
    }
    step.origin = entry;
    if (entry.failure) throw entry.failure;
    step.resolution = resolution;
    step.value = entry.value;
  }
}

/** `RelocationResolver` as a generator (same step object each time). */
export function* relocationSteps(
  target: Btf,
  object: BpfObject,
  options: RelocationResolverOptions = {},
): Generator<RelocationStep, void, undefined> {
  const resolver = new RelocationResolver(target, object, options);
  for (let step = resolver.next(); step !== null; step = resolver.next()) yield step;
}

/**
 * Memo key of (root type id, kind), a small integer (fast Map key), or undefined when it does
 * not pack: an invalid kind, or an id past any real BTF; those are simply not memoized.
 */
function memoKey(typeId: number, kind: number): number | undefined {
  return kind < 16 && typeId < 1 << 26 ? typeId * 16 + kind : undefined;
}

function isLimit(err: unknown): boolean {
  return err instanceof CodecError && err.code === 'LIMIT';
}

/** Bytes of the object's .BTF.ext as parsed: what the records occupy (16 bytes each at least). */
function extBytes(object: BpfObject): number {
  let records = 0;
  for (const block of object.ext.coreRelos) records += block.records.length;
  return records * 16;
}

/**
 * bpf_core_calc_relo_insn for every CO-RE record of `object`, in file order, with one
 * per-object candidate cache. Throws a CodecError('CORE') naming the object, section,
 * instruction and type on the first relocation libbpf would reject (unless `onError`).
 * Returns every resolved relocation; callers that only look at each one as it comes should
 * use `onResolved` or `relocationSteps`, which keep nothing.
 */
export function resolveObjectRelocations(target: Btf, object: BpfObject, options: ResolveOptions = {}): ResolvedRelocation[] {
  const results: ResolvedRelocation[] = [];
  const resolver = new RelocationResolver(target, object, options);
  for (let step = resolver.next(); step !== null; step = resolver.next()) {
    if (step.error) {
      if (options.onError) {
        options.onError(step.error);
        continue;
      }
      throw step.error;
    }
    const r = step.resolution!;
    const resolved: ResolvedRelocation = {
      object: object.name,
      section: step.section,
      index: step.index,
      relo: step.relo,
      localSpec: r.localSpec,
      targetSpec: r.targetSpec,
      value: r.value,
    };
    workCounters.objectsBuilt++;
    results.push(resolved);
    options.onResolved?.(resolved);
  }
  return results;
}

/** A relocation's outcome in a form for people and JSON (the `relocs` command, compat reports). */
export interface RelocationOutcome {
  object: string;
  section: string;
  insnOff: number;
  kind: number;
  kindName: string;
  localTypeId: number;
  localTypeName: string;
  access: string;
  /** The value libbpf would patch in; null when the instruction would be poisoned. */
  value: number | bigint | null;
  /** Why the value is null (or why the relocation failed). */
  reason?: string;
  /** Id of the first matching target type, when one matched. */
  targetTypeId?: number;
}

function toNumberIfSafe(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describeOutcome(r: ResolvedRelocation): RelocationOutcome {
  const local = r.localSpec.btf;
  const out: RelocationOutcome = {
    object: r.object,
    section: r.section,
    insnOff: r.relo.insnOff,
    kind: r.relo.kind,
    kindName: reloKindName(r.relo.kind),
    localTypeId: r.relo.typeId,
    localTypeName: local.name(r.relo.typeId),
    access: r.relo.access,
    value: r.value.poison ? null : toNumberIfSafe(r.value.newVal),
  };
  if (r.targetSpec) out.targetTypeId = r.targetSpec.rootTypeId;
  if (r.value.poison) out.reason = isFieldBased(r.relo.kind) ? 'field not found in target' : 'enumerator not found in target';
  else if (!r.targetSpec && r.relo.kind !== CoreReloKind.TypeIdLocal) out.reason = 'no matching target type';
  return out;
}

/**
 * Every relocation of every object against `target`, as outcomes. A relocation libbpf
 * rejects ends that object's list with an outcome carrying the error as its reason
 * (libbpf stops at the first error too).
 */
export function resolveRelocations(
  target: Btf,
  objects: readonly BpfObject[],
  options: Pick<ResolveOptions, 'limits'> = {},
): RelocationOutcome[] {
  const outcomes: RelocationOutcome[] = [];
  for (const object of objects) {
    try {
      resolveObjectRelocations(target, object, { ...options, onResolved: (r) => outcomes.push(describeOutcome(r)) });
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      outcomes.push({
        object: object.name,
        section: '',
        insnOff: -1,
        kind: -1,
        kindName: 'error',
        localTypeId: 0,
        localTypeName: '',
        access: '',
        value: null,
        reason: err.message,
      });
    }
  }
  return outcomes;
}
