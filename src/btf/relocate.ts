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
  Budget, calcReloInsn, CoreFailure, CoreReloKind, findCandidates, isFieldBased, ObjectBudget, parseAccessString,
  reloKindName, type Resolution, type ResolvedRelocation,
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
  /** The outcome, or null when the relocation failed (`error`). Shared by repeated relocations: do not modify. */
  resolution: Resolution | null;
  /** Why libbpf would reject the relocation, located ("obj.o: section ..., insn #...: ..."). */
  error: CodecError | null;
  /** True when this is a repeat of an earlier relocation with the same outcome (same Resolution object). */
  repeated: boolean;
}

interface CandidateList {
  ids: number[];
  /** Bumped each time a relocation prunes `ids`. */
  version: number;
}

interface Memo {
  version: number;
  resolution: Resolution | null;
  failure: Error | null;
}

/**
 * Every relocation of `object` against `target`, in file order. A relocation libbpf rejects
 * is a step with `error` set, and the walk goes on (a caller that stops at the first error,
 * as bpftool does, just stops iterating). Throws CodecError('LIMIT') when the object's
 * step budget runs out.
 */
export function* relocationSteps(target: Btf, object: BpfObject, options: Pick<ResolveOptions, 'limits'> = {}): Generator<RelocationStep, void, undefined> {
  const local = object.btf;
  const limits = resolveLimits(options.limits);
  const objectBudget = new ObjectBudget(local.bytes.byteLength + extBytes(object) + target.bytes.byteLength, limits);
  const candidates = new Map<number, CandidateList>();
  // memo.get(accessStrOff)?.get(key(typeId, kind)): outcome of that relocation at a candidate-list version.
  const memo = new Map<number, Map<number, Memo>>();
  const parsed = new Map<string, number[] | CoreFailure>();
  const parse = (access: string): number[] => {
    let raw = parsed.get(access);
    if (raw === undefined) {
      try {
        raw = parseAccessString(access);
      } catch (err) {
        if (!(err instanceof CoreFailure)) throw err;
        raw = err;
      }
      parsed.set(access, raw);
    }
    if (raw instanceof CoreFailure) throw raw;
    return raw;
  };
  const step: RelocationStep = { section: '', index: 0, relo: undefined as unknown as CoreRelo, resolution: null, error: null, repeated: false };

  for (const block of object.ext.coreRelos) {
    const records = block.records;
    for (let index = 0; index < records.length; index++) {
      const relo = records[index]!;
      step.section = block.section;
      step.index = index;
      step.relo = relo;
      step.resolution = null;
      step.error = null;
      step.repeated = false;
      try {
        let cands: CandidateList | null = null;
        if (relo.kind !== CoreReloKind.TypeIdLocal) {
          cands = candidates.get(relo.typeId) ?? null;
          if (!cands) {
            cands = { ids: findCandidates(local, relo.typeId, target), version: 0 };
            candidates.set(relo.typeId, cands);
          }
        }
        const version = cands ? cands.version : 0;
        const key = memoKey(relo.typeId, relo.kind);
        let byAccess = memo.get(relo.accessStrOff);
        const seen = key === undefined ? undefined : byAccess?.get(key);
        if (seen !== undefined && seen.version === version) {
          step.repeated = true;
          if (seen.failure) throw seen.failure;
          step.resolution = seen.resolution;
        } else {
          const before = cands ? cands.ids.length : 0;
          let entry: Memo;
          try {
            const resolution = calcReloInsn(target, local, relo, cands ? cands.ids : null, new Budget(objectBudget), parse);
            // Pruned: the outcome stays valid for the pruned list (it holds exactly the matches).
            if (cands && cands.ids.length !== before) cands.version++;
            entry = { version: cands ? cands.version : 0, resolution, failure: null };
          } catch (err) {
            if (isLimit(err) || !(err instanceof CoreFailure || err instanceof CodecError)) throw err;
            entry = { version, resolution: null, failure: err };
          }
          if (key !== undefined) {
            if (!byAccess) memo.set(relo.accessStrOff, (byAccess = new Map()));
            byAccess.set(key, entry);
          }
          if (entry.failure) throw entry.failure;
          step.resolution = entry.resolution;
        }
      } catch (err) {
        const where = describeRelocation(object.name, block.section, index, relo, local);
        if (isLimit(err)) throw new CodecError('LIMIT', `${where}: ${(err as CodecError).message}`, { cause: err });
        if (err instanceof CoreFailure) step.error = new CodecError('CORE', `${where}: ${err.message} (-${err.errno})`, { cause: err });
        else if (err instanceof CodecError) step.error = new CodecError(err.code, `${where}: ${err.message}`, { cause: err });
        else throw err;
      }
      yield step;
    }
  }
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
  for (const step of relocationSteps(target, object, options)) {
    if (step.error) {
      if (options.onError) {
        options.onError(step.error);
        continue;
      }
      throw step.error;
    }
    const r = step.resolution!;
    const resolved: ResolvedRelocation = {
      object: object.name, section: step.section, index: step.index, relo: step.relo,
      localSpec: r.localSpec, targetSpec: r.targetSpec, value: r.value,
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
export function resolveRelocations(target: Btf, objects: readonly BpfObject[], options: Pick<ResolveOptions, 'limits'> = {}): RelocationOutcome[] {
  const outcomes: RelocationOutcome[] = [];
  for (const object of objects) {
    try {
      resolveObjectRelocations(target, object, { ...options, onResolved: (r) => outcomes.push(describeOutcome(r)) });
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      outcomes.push({
        object: object.name, section: '', insnOff: -1, kind: -1, kindName: 'error', localTypeId: 0, localTypeName: '',
        access: '', value: null, reason: err.message,
      });
    }
  }
  return outcomes;
}
