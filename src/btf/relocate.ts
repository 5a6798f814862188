/**
 * Resolving every CO-RE relocation of an object, in file order, as libbpf does at load time
 * and bpftool's btfgen does (docs/CODEC.md §7.8, §8.1): one candidate list per local root
 * type, shared by the object's relocations and pruned by each one that matches, because
 * pruning by one relocation changes what later relocations see.
 *
 * Linear in the object (docs/CODEC.md §11):
 * - a relocation repeated with the same root type, access string and kind, against the same
 *   (unpruned since) candidate list, has the same outcome: it is memoized, so a .BTF.ext that
 *   repeats one block a million times costs one resolution plus a lookup per record. Which
 *   record repeats which is a property of the object alone, worked out once per object
 *   (`objectIndex`); a resolver keeps its outcomes in arrays indexed by record, not in maps
 *   of objects, because they live as long as the resolution does and a young generation
 *   of a few MiB would copy and promote them;
 * - relocations of several kinds of one class (field, type, type match, enum value) on the
 *   same root and access string share their candidate matching (`CandidateMatches`): libbpf
 *   matches the same way for every kind of a class, so each kind only decides its values;
 * - access strings are parsed once per string and object;
 * - results stream to the caller (`relocationSteps`) instead of piling up in arrays; the
 *   array-returning `resolveObjectRelocations` is kept for callers that want every outcome;
 * - the step budget of the whole object is `maxCoreStepsPerByte` times its input bytes.
 */
import type { Btf } from './btf.js';
import {
  Budget,
  calcReloInsn,
  CandidateMatches,
  CoreFailure,
  CoreReloKind,
  findCandidates,
  isFieldBased,
  keptResolution,
  matchClass,
  ObjectBudget,
  parseAccessString,
  reloKindName,
  type RelocationValue,
  type Resolution,
  type ResolvedRelocation,
  SpecWork,
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
   * With `keep: 'outcome'` its specs are the resolver's working ones, valid until `next()`.
   */
  resolution: Resolution | null;
  /** The value libbpf would patch in (poison flag, values); null when the relocation failed. */
  value: RelocationValue | null;
  /** Why libbpf would reject the relocation, located ("obj.o: section ..., insn #...: ..."). */
  error: CodecError | null;
  /** True when this repeats an earlier relocation (same root, access string and kind, same candidates). */
  repeated: boolean;
  /**
   * The same number for a relocation and all its repeats, another for every resolution (1, 2,
   * ...; 0 before the first): a key for what a consumer derived from the first.
   */
  origin: number;
}

interface CandidateList {
  ids: number[];
  /** Bumped each time a relocation prunes `ids`. */
  version: number;
}

/** What a resolver needs to know of an object's records, whoever resolves them against what. */
interface ObjectIndex {
  /**
   * For each CO-RE record, numbered across blocks in file order: the number of the first
   * record with the same root type, access string offset and kind (itself for a first), or
   * -1 for records never memoized (an invalid kind, or an id past any real BTF).
   */
  first: Int32Array;
  /**
   * For each first record (of its triple): the number of the first record with the same root
   * type, access string offset and matchClass when records of more than one kind of that
   * class share them (their candidate matching is done once: `CandidateMatches`), else -1.
   */
  matchFirst: Int32Array;
  /** For a record that is its own matchFirst: how many first records share its matching (itself included). */
  matchUses: Int32Array;
  /** Access strings parsed, or why they do not parse. */
  parsed: Map<string, number[] | CoreFailure>;
}

const objectIndexes = new WeakMap<BpfObject, ObjectIndex>();

/** The object's ObjectIndex, made on first use (a trim and its verification share it). */
function objectIndex(object: BpfObject): ObjectIndex {
  let index = objectIndexes.get(object);
  if (index === undefined) {
    const records: CoreRelo[] = [];
    for (const block of object.ext.coreRelos) for (const relo of block.records) records.push(relo);
    const first = firstOccurrences(records);
    index = { first, ...sharedMatches(records, first), parsed: new Map() };
    objectIndexes.set(object, index);
  }
  return index;
}

/**
 * ObjectIndex.first, with an open-addressing table of record numbers keyed by the triple. The
 * table is scratch memory kept between calls (the codec is synchronous): a new one per object
 * would be malloc'd and freed again for every upload.
 */
function firstOccurrences(records: readonly CoreRelo[]): Int32Array {
  const count = records.length;
  const first = new Int32Array(count);
  const table = scratchTable(count);
  const mask = table.length - 1;
  for (let n = 0; n < count; n++) {
    const relo = records[n]!;
    if (!memoizable(relo.typeId, relo.kind)) {
      first[n] = -1;
      continue;
    }
    let slot = (Math.imul(relo.typeId, 0x9e3779b1) ^ Math.imul(relo.accessStrOff, 0x85ebca6b) ^ relo.kind) & mask;
    for (;;) {
      const seen = table[slot]!;
      if (seen < 0) {
        table[slot] = n;
        first[n] = n;
        break;
      }
      const other = records[seen]!;
      if (other.typeId === relo.typeId && other.accessStrOff === relo.accessStrOff && other.kind === relo.kind) {
        first[n] = seen;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  releaseScratchTable();
  return first;
}

/**
 * ObjectIndex.matchFirst: over the first records, an open-addressing table keyed by root
 * type, access string offset and matchClass. A first record whose key is taken has another
 * kind than the record that took it (same triple, same record), so that one is shared.
 */
function sharedMatches(records: readonly CoreRelo[], first: Int32Array): Pick<ObjectIndex, 'matchFirst' | 'matchUses'> {
  const count = records.length;
  const matchFirst = new Int32Array(count).fill(-1);
  const matchUses = new Int32Array(count);
  const table = scratchTable(count);
  const mask = table.length - 1;
  for (let n = 0; n < count; n++) {
    if (first[n] !== n) continue;
    const relo = records[n]!;
    const cls = matchClass(relo.kind);
    if (cls < 0) continue;
    let slot = (Math.imul(relo.typeId, 0x9e3779b1) ^ Math.imul(relo.accessStrOff, 0x85ebca6b) ^ cls) & mask;
    for (;;) {
      const seen = table[slot]!;
      if (seen < 0) {
        table[slot] = n;
        matchFirst[n] = n;
        matchUses[n] = 1;
        break;
      }
      const other = records[seen]!;
      if (other.typeId === relo.typeId && other.accessStrOff === relo.accessStrOff && matchClass(other.kind) === cls) {
        matchFirst[n] = seen;
        matchUses[seen]!++;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  for (let n = 0; n < count; n++) if (matchFirst[n]! >= 0 && matchUses[matchFirst[n]!] === 1) matchFirst[n] = -1;
  releaseScratchTable();
  return { matchFirst, matchUses };
}

/** The open-addressing table, emptied, for `count` keys (at least twice as many slots, a power of two). */
function scratchTable(count: number): Int32Array {
  let size = 16;
  while (size < count * 2) size *= 2;
  if (occurrenceTable.length < size) occurrenceTable = new Int32Array(size);
  return occurrenceTable.fill(-1, 0, size).subarray(0, size);
}

/** A hostile object's table (up to maxRelocations) is not kept. */
function releaseScratchTable(): void {
  if (occurrenceTable.length > OCCURRENCE_TABLE_KEPT) occurrenceTable = new Int32Array(0);
}

/** firstOccurrences' table, reused; kept between objects up to this many slots (256 KiB). */
const OCCURRENCE_TABLE_KEPT = 1 << 16;
let occurrenceTable = new Int32Array(0);

export interface RelocationResolverOptions extends Pick<ResolveOptions, 'limits'> {
  /**
   * What a repeated relocation gets back: 'full' (the default) the first one's Resolution,
   * specs included (copies, kept for the whole object); 'outcome' only its value, and the
   * first one's specs only until `next()`: the resolver fills the same few specs for every
   * relocation (the trimmer and the verifier, which read them at once or not at all).
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
  /** Which record repeats which (ObjectIndex.first). */
  private readonly first: Int32Array;
  /** ObjectIndex.matchFirst. */
  private readonly matchFirst: Int32Array;
  /** Candidate matchings shared by kinds (ObjectIndex.matchFirst), refilled for key after key. */
  private readonly held: HeldMatches[] = [];
  /**
   * Indexed by the number of the record that made a matching: 1 + its index in `held`, 0 for
   * none (yet, or any more), -1 for a key left unshared (`heldSlot`).
   */
  private readonly heldAt: Int32Array;
  /** Indices in `held` past their last use, to be filled again (their specs are reused, not reallocated). */
  private readonly spareHeld: number[] = [];
  /** ObjectIndex.matchUses: a matching is dropped after its last use, so it dies young. */
  private readonly matchUses: Int32Array;
  /**
   * Indexed by the number of a relocation's first record: the resolution (`serials`, 0 for
   * none yet) whose outcome is kept, the candidate-list version it holds for, and the outcome:
   * `states` says which (OUTCOME_*), the values are in `origVals`/`newVals`, a failure in
   * `failures`; with `keep: 'full'`, the Resolution itself. Raw arrays, not value objects and
   * BigInts per relocation, because they live as long as the resolution does (see above).
   */
  private readonly serials: Int32Array;
  private readonly versions: Int32Array;
  private readonly states: Uint8Array;
  private readonly origVals: BigUint64Array;
  private readonly newVals: BigUint64Array;
  private readonly failures = new Map<number, Error>();
  private readonly resolutions: (Resolution | null)[] | null;
  private serial = 0;
  /** Number of the next record, across blocks. */
  private record = 0;
  private readonly parsed: Map<string, number[] | CoreFailure>;
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
    origin: 0,
  };
  private block = 0;
  private index = 0;
  private readonly keepSpecs: boolean;
  /** The specs every resolution is worked out in. */
  private readonly work: SpecWork;

  constructor(
    private readonly target: Btf,
    private readonly object: BpfObject,
    options: RelocationResolverOptions = {},
  ) {
    this.keepSpecs = (options.keep ?? 'full') === 'full';
    this.local = object.btf;
    this.work = new SpecWork(this.local, target);
    const index = objectIndex(object);
    this.first = index.first;
    this.matchFirst = index.matchFirst;
    this.matchUses = index.matchUses;
    this.parsed = index.parsed;
    // One allocation for the six arrays: 29 bytes a record. Values are u64 by construction
    // (calcRelo gives BigInt.asUintN or non-negative sizes, offsets and ids).
    const count = index.first.length;
    const memory = new ArrayBuffer(count * 29);
    this.origVals = new BigUint64Array(memory, 0, count);
    this.newVals = new BigUint64Array(memory, count * 8, count);
    this.serials = new Int32Array(memory, count * 16, count);
    this.versions = new Int32Array(memory, count * 20, count);
    this.heldAt = new Int32Array(memory, count * 24, count);
    this.states = new Uint8Array(memory, count * 28, count);
    this.resolutions = this.keepSpecs ? new Array<Resolution | null>(count).fill(null) : null;
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
    step.origin = 0;
    try {
      this.resolve(relo, this.record++, step);
    } catch (err) {
      const where = describeRelocation(this.object.name, block.section, index, relo, this.local);
      if (isLimit(err)) throw new CodecError('LIMIT', `${where}: ${(err as CodecError).message}`, { cause: err });
      if (err instanceof CoreFailure) step.error = new CodecError('CORE', `${where}: ${err.message} (-${err.errno})`, { cause: err });
      else if (err instanceof CodecError) step.error = new CodecError(err.code, `${where}: ${err.message}`, { cause: err });
      else throw err;
    }
    return step;
  }

  /**
   * Index in `held` of the matching the key of record `shared` uses (taken on its first use),
   * or -1 when the key goes unshared: MAX_HELD_MATCHES were held when it came.
   */
  private heldSlot(shared: number): number {
    const at = this.heldAt[shared]! - 1;
    if (at !== -1) return at;
    let slot = this.spareHeld.pop();
    if (slot === undefined && this.held.length < MAX_HELD_MATCHES) {
      slot = this.held.push({ matches: new CandidateMatches(this.local, this.target), version: -1, uses: 0 }) - 1;
    }
    if (slot === undefined) {
      this.heldAt[shared] = -1;
      return -1;
    }
    this.held[slot]!.version = -1;
    this.held[slot]!.uses = this.matchUses[shared]!;
    this.heldAt[shared] = slot + 1;
    return slot;
  }

  private resolve(relo: CoreRelo, record: number, step: RelocationStep): void {
    let cands: CandidateList | null = null;
    if (relo.kind !== CoreReloKind.TypeIdLocal) {
      cands = this.candidates.get(relo.typeId) ?? null;
      if (!cands) {
        cands = { ids: findCandidates(this.local, relo.typeId, this.target), version: 0 };
        this.candidates.set(relo.typeId, cands);
      }
    }
    const version = cands ? cands.version : 0;
    const first = this.first[record]!;
    if (first >= 0 && this.serials[first] !== 0 && this.versions[first] === version) {
      step.repeated = true;
      step.origin = this.serials[first]!;
      const state = this.states[first]!;
      if (state === OUTCOME_FAILED) throw this.failures.get(first)!;
      if (this.resolutions !== null) {
        step.resolution = this.resolutions[first]!;
        step.value = step.resolution.value;
      } else {
        step.value = { poison: state === OUTCOME_POISON, origVal: this.origVals[first]!, newVal: this.newVals[first]! };
      }
      return;
    }
    const before = cands ? cands.ids.length : 0;
    let resolution: Resolution | null = null;
    let failure: Error | null = null;
    let heldFor = version;
    // A repeat resolved again (its list was pruned since) does not count as a use: matchUses counts first records.
    const shared = first === record && cands !== null ? this.matchFirst[record]! : -1;
    try {
      const budget = this.budget.restart();
      const at = shared >= 0 ? this.heldSlot(shared) : -1;
      if (at >= 0) {
        const held = this.held[at]!;
        // After its last use it is spare: the Resolution's specs stay valid until the next match.
        if (--held.uses === 0) {
          this.heldAt[shared] = 0;
          this.spareHeld.push(at);
        }
        if (held.version !== version) {
          held.version = -1;
          held.matches.match(relo, cands!.ids, budget, this.parse);
          held.version = version;
        }
        resolution = held.matches.decide(relo.kind, cands!.ids);
        // Pruned (by decide, which prunes the matching alike): it is the pruned list's matching.
        if (cands!.ids.length !== before) held.version = version + 1;
      } else {
        resolution = calcReloInsn(this.target, this.local, relo, cands ? cands.ids : null, budget, this.parse, this.work);
      }
      if (this.keepSpecs) resolution = keptResolution(resolution);
      // Pruned: the outcome stays valid for the pruned list (it holds exactly the matches).
      if (cands && cands.ids.length !== before) heldFor = ++cands.version;
    } catch (err) {
      if (isLimit(err) || !(err instanceof CoreFailure || err instanceof CodecError)) throw err;
      failure = err;
    }
    const serial = ++this.serial;
    if (first >= 0) {
      this.serials[first] = serial;
      this.versions[first] = heldFor;
      if (failure !== null) {
        this.states[first] = OUTCOME_FAILED;
        this.failures.set(first, failure);
      } else {
        const value = resolution!.value;
        this.states[first] = value.poison ? OUTCOME_POISON : OUTCOME_VALUE;
        this.origVals[first] = value.origVal;
        this.newVals[first] = value.newVal;
        this.failures.delete(first);
        if (this.resolutions !== null) this.resolutions[first] = resolution;
      }
    }
    step.origin = serial;
    if (failure !== null) throw failure;
    step.resolution = resolution;
    step.value = resolution!.value;
  }
}

/**
 * Matchings a resolver holds at once, at most: real objects need a few dozen (the tracee-sized
 * one 20), and each is a few KiB; past this a key is resolved unshared, so an object that
 * opens a hundred thousand keys before closing any costs no more memory than one that does not.
 */
const MAX_HELD_MATCHES = 64;

/** A CandidateMatches a resolver holds for the records that share it. */
interface HeldMatches {
  matches: CandidateMatches;
  /** The candidate-list version it was matched against (-1: not matched). */
  version: number;
  /** Records still to use it. */
  uses: number;
}

/** RelocationResolver.states: what is kept for a relocation. */
const OUTCOME_VALUE = 1;
const OUTCOME_POISON = 2;
const OUTCOME_FAILED = 3;

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
 * Whether a relocation's outcome is memoized: not for an invalid kind or an id past any real
 * BTF (as when the memo key was (id, kind) packed into one small integer).
 */
function memoizable(typeId: number, kind: number): boolean {
  return kind < 16 && typeId < 1 << 26;
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
