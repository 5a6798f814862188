/**
 * Compatibility reports: for every kernel, what each CO-RE relocation of some BPF objects
 * does there, classified, summarized per distro / release / arch, and listed in full.
 *
 *   resolved       libbpf finds the target (for *_EXISTS relocations: the thing exists)
 *   field_missing  the root type exists, but not the field path (the instruction is
 *                  poisoned, or a bpf_core_field_exists() check returns 0)
 *   type_missing   no type of that (essential) name, or none compatible with the local one
 *   enum_missing   the enum exists, but not the enumerator
 *   ambiguous      several candidates disagree: libbpf refuses the object
 *   error          another relocation error libbpf refuses the object for (message kept)
 *
 * libbpf stops an object at its first refused relocation, and so does the codec. A report
 * wants every problem at once, so a refused relocation is recorded and the object is
 * resolved again without it (the relocations before it keep their candidate pruning, as
 * in libbpf); `failedObjects` says which objects would not load on that kernel.
 *
 * Each kernel is loaded once, through `loadAhead`; a kernel whose file does not decode is
 * listed with its error and counted as unreadable (a store that cannot be read fails the
 * report instead).
 */
import { CodecError } from '../btf/errors.js';
import {
  CoreReloKind, findCandidates, isEnumvalBased, isFieldBased, reloKindName, skipModsAndTypedefs,
  type ResolvedRelocation,
} from '../btf/core.js';
import { resolveObjectRelocations, type ResolveOptions } from '../btf/relocate.js';
import type { Btf } from '../btf/btf.js';
import { BtfKind } from '../btf/kinds.js';
import { essentialName } from '../btf/names.js';
import type { BpfObject } from '../btf/object.js';
import type { CoreRelo } from '../btf/ext.js';
import type { KernelRef } from '../catalog/catalog.js';
import { isKernelFileError, KernelLoadError, knownCount, loadAhead, type KernelInput, type KernelInputs, type ProgressCallback } from './kernel-source.js';

export const RELOCATION_CLASSES = ['resolved', 'field_missing', 'type_missing', 'enum_missing', 'ambiguous', 'error'] as const;
export type RelocationClass = (typeof RELOCATION_CLASSES)[number];
export type ClassCounts = Record<RelocationClass, number>;

/** One step of a field path: member `member` of the nearest named struct `struct` (essential names). */
export interface PathStep {
  struct: string;
  member: string;
}

/** A relocation of an object, independent of any kernel. */
export interface RelocationInfo {
  object: string;
  section: string;
  /** Index of the record in its section block (libbpf's relo_idx). */
  index: number;
  insnOff: number;
  /** libbpf's name of the kind: byte_off, field_exists, type_size, enumval_value... */
  kind: string;
  /** The local root type's name, flavor included (`task_struct___o`). */
  root: string;
  access: string;
  /** For people: `task_struct.real_parent`, `sk_buff.cb[4]`, `oom_constraint::CONSTRAINT_MEMCG`, `pid_t`. */
  path: string;
  /** Named member steps of a field relocation. */
  steps: PathStep[];
  /** (enum, enumerator) of an ENUMVAL relocation. */
  enumerator?: [string, string];
}

/** What one relocation does on one kernel. */
export interface RelocationResult {
  class: RelocationClass;
  /** The value libbpf patches in (a decimal string beyond 2^53), or null when poisoned or refused. */
  value: number | string | null;
  /** Why it is not `resolved` (or the libbpf error). */
  reason?: string;
}

export interface KernelCompat {
  ref: KernelRef;
  source: string;
  /** Set when the kernel's BTF could not be loaded; `results` is then empty. */
  loadError?: string;
  /** Aligned with `CompatReport.relocations`. */
  results: RelocationResult[];
  counts: ClassCounts;
  /** Objects libbpf would refuse on this kernel (an ambiguous or failed relocation). */
  failedObjects: string[];
}

/** One distro / release / arch. */
export interface CompatGroup {
  distro: string;
  distroVersion: string;
  arch: string;
  kernels: number;
  /** Kernels whose BTF did not load. */
  unreadable: number;
  /** Kernels where every object loads (no ambiguous or error relocation). */
  loadable: number;
  /** Kernels where every relocation resolves. */
  allResolved: number;
  /** Per class: kernels with at least one relocation of that class. */
  kernelsWith: ClassCounts;
  /** Per class: relocations over all the group's kernels. */
  relocations: ClassCounts;
}

export interface CompatReport {
  objects: { name: string; relocations: number }[];
  relocations: RelocationInfo[];
  /** In input order. */
  kernels: KernelCompat[];
  /** Sorted by distro, release, arch. */
  groups: CompatGroup[];
  /** Aligned with `relocations`: on how many (readable) kernels each class occurred. */
  byRelocation: ClassCounts[];
  durationMs: number;
}

export interface CompatOptions {
  onProgress?: ProgressCallback;
  /** Kernel loads in flight ahead of the one being resolved (default: one per core). */
  loadAhead?: number;
  /** Kernels in `kernels`, for progress when it is not an array. */
  total?: number;
}

function emptyCounts(): ClassCounts {
  return { resolved: 0, field_missing: 0, type_missing: 0, enum_missing: 0, ambiguous: 0, error: 0 };
}

/** Relocations of `objects`, in the order every per-kernel result list follows. */
export function listRelocations(objects: readonly BpfObject[]): RelocationInfo[] {
  const infos: RelocationInfo[] = [];
  for (const object of objects) {
    for (const block of object.ext.coreRelos) {
      block.records.forEach((relo, index) => infos.push(describeRelocation(object, block.section, index, relo)));
    }
  }
  return infos;
}

function describeRelocation(object: BpfObject, section: string, index: number, relo: CoreRelo): RelocationInfo {
  const btf = object.btf;
  let root = '';
  try {
    root = btf.name(relo.typeId);
  } catch {
    // an out-of-range root: the resolver reports it as an error
  }
  const info: RelocationInfo = {
    object: object.name, section, index, insnOff: relo.insnOff, kind: reloKindName(relo.kind), root, access: relo.access,
    path: `${essentialName(root) || '(anon)'} ${relo.access}`, steps: [],
  };
  try {
    Object.assign(info, relocationPath(btf, relo));
  } catch {
    // malformed access string: keep the raw form; resolving reports the error
  }
  return info;
}

/** The path a relocation's access string walks in the object's BTF, by names. */
export function relocationPath(btf: Btf, relo: CoreRelo): Pick<RelocationInfo, 'path' | 'steps' | 'enumerator'> {
  const rootName = essentialName(btf.name(relo.typeId)) || '(anon)';
  if (!isFieldBased(relo.kind) && !isEnumvalBased(relo.kind)) return { path: rootName, steps: [] };
  const raw = relo.access.split(':').map((s) => Number.parseInt(s, 10));
  if (raw.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`bad access string ${relo.access}`);
  let id = skipModsAndTypedefs(btf, relo.typeId);
  if (isEnumvalBased(relo.kind)) {
    const t = btf.type(id);
    if (t.kind !== BtfKind.Enum && t.kind !== BtfKind.Enum64) throw new Error('not an enum');
    const value = t.values[raw[0]!];
    if (!value) throw new Error('no such enumerator');
    return { path: `${rootName}::${value.name}`, steps: [], enumerator: [essentialName(t.name), value.name] };
  }
  let path = rootName + (raw[0] !== 0 ? `[${raw[0]}]` : '');
  const steps: PathStep[] = [];
  let owner = essentialName(btf.name(id));
  for (let i = 1; i < raw.length; i++) {
    const idx = raw[i]!;
    const kind = btf.kind(id);
    if (kind === BtfKind.Struct || kind === BtfKind.Union) {
      if (btf.name(id) !== '') owner = essentialName(btf.name(id));
      const m = btf.member(id, idx);
      if (m.name !== '') {
        steps.push({ struct: owner, member: m.name });
        path += `.${m.name}`;
      }
      id = skipModsAndTypedefs(btf, m.type);
    } else if (kind === BtfKind.Array) {
      const a = btf.type(id);
      if (a.kind !== BtfKind.Array) throw new Error('not an array');
      path += `[${idx}]`;
      id = skipModsAndTypedefs(btf, a.elemType);
    } else {
      throw new Error('access walks into a scalar');
    }
  }
  return { path, steps };
}

/** Every relocation of `objects` on one kernel, in `listRelocations(objects)` order. */
export function kernelCompat(
  kernel: Btf,
  objects: readonly BpfObject[],
  relocations?: readonly RelocationInfo[],
  options: Pick<ResolveOptions, 'limits'> = {},
): Pick<KernelCompat, 'results' | 'counts' | 'failedObjects'> {
  const results: RelocationResult[] = [];
  const failedObjects: string[] = [];
  let at = 0;
  for (const object of objects) {
    const count = object.ext.coreRelos.reduce((n, b) => n + b.records.length, 0);
    const infos = relocations?.slice(at, at + count) ?? listRelocations([object]);
    at += count;
    const { results: own, failed } = resolveAll(kernel, object, infos, options);
    results.push(...own);
    if (failed) failedObjects.push(object.name);
  }
  const counts = emptyCounts();
  for (const r of results) counts[r.class]++;
  return { results, counts, failedObjects };
}

/** At most this many refused relocations are skipped over per object and kernel; the rest are reported unresolved. */
const MAX_REFUSED = 64;

function resolveAll(
  kernel: Btf,
  object: BpfObject,
  infos: readonly RelocationInfo[],
  options: Pick<ResolveOptions, 'limits'>,
): { results: RelocationResult[]; failed: boolean } {
  const flat: { block: number; record: CoreRelo }[] = [];
  object.ext.coreRelos.forEach((block, b) => block.records.forEach((record) => flat.push({ block: b, record })));
  const results = new Array<RelocationResult | undefined>(flat.length).fill(undefined);
  let remaining = flat.map((_, i) => i);
  let refused = 0;
  const candidates = new Map<number, number>();
  for (;;) {
    const subject = remaining.length === flat.length ? object : withRecords(object, flat, remaining);
    let count = 0;
    const order = remaining;
    try {
      resolveObjectRelocations(kernel, subject, {
        ...(options.limits !== undefined && { limits: options.limits }),
        onResolved: (r) => {
          results[order[count]!] = classify(kernel, r, infos[order[count]!], candidates);
          count++;
        },
      });
      break;
    } catch (error) {
      // A bound reached is not this relocation's refusal: the whole report stops.
      if (!(error instanceof CodecError) || error.code === 'LIMIT') throw error;
      const failedAt = order[count];
      if (failedAt === undefined) throw error;
      results[failedAt] = { class: /ambiguity/.test(error.message) ? 'ambiguous' : 'error', value: null, reason: error.message };
      remaining = order.filter((i) => i !== failedAt);
      if (++refused >= MAX_REFUSED) {
        for (const i of remaining) results[i] ??= { class: 'error', value: null, reason: `not resolved: more than ${MAX_REFUSED} refused relocations in ${object.name}` };
        break;
      }
    }
  }
  return {
    results: results.map((r) => r ?? { class: 'error', value: null, reason: 'not resolved' }),
    failed: refused > 0,
  };
}

/** `object` with only the CO-RE records at `keep` (indices into `flat`, in order). */
function withRecords(object: BpfObject, flat: readonly { block: number; record: CoreRelo }[], keep: readonly number[]): BpfObject {
  const blocks = object.ext.coreRelos.map((block) => ({ section: block.section, records: [] as CoreRelo[] }));
  for (const i of keep) blocks[flat[i]!.block]!.records.push(flat[i]!.record);
  return { ...object, ext: { ...object.ext, coreRelos: blocks.filter((b) => b.records.length > 0) } };
}

function classify(kernel: Btf, r: ResolvedRelocation, info: RelocationInfo | undefined, candidates: Map<number, number>): RelocationResult {
  const value = r.value.poison ? null : r.value.newVal <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.value.newVal) : r.value.newVal.toString();
  if (r.relo.kind === CoreReloKind.TypeIdLocal || r.targetSpec !== null) return { class: 'resolved', value };
  const local = r.localSpec.btf;
  const rootName = local.name(r.relo.typeId);
  // Candidates before pruning: does the kernel have anything of that name and kind at all?
  let count = candidates.get(r.relo.typeId);
  if (count === undefined) {
    count = findCandidates(local, r.relo.typeId, kernel).length;
    candidates.set(r.relo.typeId, count);
  }
  const name = essentialName(rootName);
  if (count === 0) return { class: 'type_missing', value, reason: `no type named ${name} in the kernel` };
  const path = info?.path ?? `${name} ${r.relo.access}`;
  if (isFieldBased(r.relo.kind)) return { class: 'field_missing', value, reason: `no field ${path} (or not compatible)` };
  if (isEnumvalBased(r.relo.kind)) return { class: 'enum_missing', value, reason: `no enumerator ${path}` };
  return { class: 'type_missing', value, reason: `${count} type(s) named ${name}, none compatible` };
}

/**
 * How a report gets its rows: the relocations described once, then each kernel loaded (ahead
 * of use, `loadAhead`) and resolved. `compatReport` does both on this thread with decoded
 * kernels; the service does them through its codec executor, on worker threads, with raw
 * kernel bytes loaded ahead.
 */
export interface CompatEngine<T> {
  describe(): Promise<Pick<CompatReport, 'objects' | 'relocations'>>;
  /** Starts a kernel's load; rejects with a kernel file error (isKernelFileError) for an unreadable one. */
  load(input: KernelInput): Promise<T>;
  /** The kernel's row; rejects with a KernelLoadError when the kernel turns out not to decode. */
  resolve(loaded: T, input: KernelInput, relocations: readonly RelocationInfo[]): Promise<Pick<KernelCompat, 'results' | 'counts' | 'failedObjects'>>;
}

/**
 * The compatibility of `objects` with every kernel of `kernels`: each loaded once, resolved,
 * summarized. Kernels that do not load are listed with their error, not thrown.
 */
export async function compatReport(kernels: KernelInputs, objects: readonly BpfObject[], options: CompatOptions = {}): Promise<CompatReport> {
  const engine: CompatEngine<Btf> = {
    describe: async () => ({
      objects: objects.map((o) => ({ name: o.name, relocations: o.ext.coreRelos.reduce((n, b) => n + b.records.length, 0) })),
      relocations: listRelocations(objects),
    }),
    load: (input) => input.load(),
    resolve: async (kernel, _input, relocations) => kernelCompat(kernel, objects, relocations),
  };
  return compatReportWith(kernels, engine, options);
}

/** A kernel that could not be used: its row says why. */
class LoadFailure {
  constructor(readonly message: string) {}
}

/** `compatReport` with the rows made by `engine`. */
export async function compatReportWith<T>(kernels: KernelInputs, engine: CompatEngine<T>, options: CompatOptions = {}): Promise<CompatReport> {
  const started = performance.now();
  const { objects, relocations } = await engine.describe();
  const total = options.total ?? knownCount(kernels);
  const report: KernelCompat[] = [];
  let failed = 0;
  for await (const { input, loaded } of loadAhead(kernels, options.loadAhead, (input) => engine.load(input))) {
    const kernel = await loaded.catch((error: unknown) => {
      if (isKernelFileError(error)) return new LoadFailure(error.message);
      throw error; // the store is unreachable, or a bug: not this kernel's fault
    });
    const row =
      kernel instanceof LoadFailure
        ? kernel
        : await engine.resolve(kernel, input, relocations).catch((error: unknown) => {
            // Only a kernel found not to decode is this kernel's; the objects refused fail the report.
            if (error instanceof KernelLoadError) return new LoadFailure(error.message);
            throw error;
          });
    const entry: KernelCompat =
      row instanceof LoadFailure
        ? { ref: input.ref, source: input.source, loadError: row.message, results: [], counts: emptyCounts(), failedObjects: [] }
        : { ref: input.ref, source: input.source, ...row };
    if (entry.loadError !== undefined || entry.failedObjects.length > 0) failed++;
    report.push(entry);
    options.onProgress?.({ done: report.length, total, failed, kernel: input.ref });
  }
  return {
    objects,
    relocations,
    kernels: report,
    groups: summarize(report),
    byRelocation: relocations.map((_, i) => {
      const counts = emptyCounts();
      for (const k of report) {
        const r = k.results[i];
        if (r) counts[r.class]++;
      }
      return counts;
    }),
    durationMs: performance.now() - started,
  };
}

function summarize(kernels: readonly KernelCompat[]): CompatGroup[] {
  const groups = new Map<string, CompatGroup>();
  for (const k of kernels) {
    const key = `${k.ref.distro}\0${k.ref.distroVersion}\0${k.ref.arch}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        distro: k.ref.distro, distroVersion: k.ref.distroVersion, arch: k.ref.arch, kernels: 0, unreadable: 0, loadable: 0, allResolved: 0,
        kernelsWith: emptyCounts(), relocations: emptyCounts(),
      };
      groups.set(key, g);
    }
    g.kernels++;
    if (k.loadError !== undefined) {
      g.unreadable++;
      continue;
    }
    if (k.failedObjects.length === 0) g.loadable++;
    if (k.counts.resolved === k.results.length) g.allResolved++;
    for (const c of RELOCATION_CLASSES) {
      g.relocations[c] += k.counts[c];
      if (k.counts[c] > 0) g.kernelsWith[c]++;
    }
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.values()].sort((a, b) => cmp(a.distro, b.distro) || cmp(a.distroVersion, b.distroVersion) || cmp(a.arch, b.arch));
}
