/**
 * The check every trimmed BTF passes before it is stored (docs/CODEC.md §9): each CO-RE
 * relocation of each object resolves to the same outcome against the trimmed BTF as against
 * the full kernel BTF. That is the whole promise of a trimmed BTF (libbpf, loading the
 * program with it, must patch every instruction exactly as it would have with the kernel's
 * own BTF), so a trimmer bug shows up here as a failed job instead of as a wrong offset in
 * someone's program.
 *
 * An outcome is the relocation's poison flag and patched value. TYPE_ID_TARGET is the one
 * kind whose value is a type id, and the trimmer renumbers ids, so for it the target
 * type's kind and name are compared instead.
 *
 * The two resolutions run side by side, one relocation at a time, and nothing is kept but
 * the first mismatches: memory does not grow with the number of relocations.
 */
import type { Btf } from './btf.js';
import { CoreReloKind, reloKindName } from './core.js';
import { CodecError } from './errors.js';
import { describeKind } from './kinds.js';
import type { CodecLimits } from './limits.js';
import type { BpfObject } from './object.js';
import type { RelocationOutcomes } from './outcomes.js';
import { RelocationResolver, type RelocationStep } from './relocate.js';

export interface RelocationMismatch {
  object: string;
  section: string;
  /** Index of the record in its section block. */
  index: number;
  insnOff: number;
  kindName: string;
  access: string;
  /** The outcome against the full kernel BTF ("poisoned", "value 24", "target STRUCT task_struct"). */
  full: string;
  /** The outcome against the trimmed BTF, or why resolving failed there. */
  trimmed: string;
}

export interface TrimVerification {
  /** Relocations compared (over all objects). */
  relocations: number;
  /** At most `maxMismatches` of them; empty when the trim is faithful. */
  mismatches: RelocationMismatch[];
  /** Total number of mismatches, including those not listed. */
  mismatchCount: number;
}

export interface VerifyTrimOptions {
  /** How many mismatches to describe; the count covers all. Default 20. */
  maxMismatches?: number;
  /** Bounds on the CO-RE work (maxCoreStepsPerByte); defaults from DEFAULT_CODEC_LIMITS. */
  limits?: Partial<CodecLimits>;
  /**
   * The outcomes against `full` that the trim recorded (TrimOptions.outcomes): compared with
   * instead of resolving against `full` again. Any difference, or a recorder that is not
   * usable, falls back to the two-sided resolution, which reports exactly as without it.
   */
  expected?: RelocationOutcomes;
}

/**
 * Resolves every relocation of `objects` against `full` and against `trimmed` and compares
 * the outcomes. Resolution errors against `full` propagate (the trim itself would have
 * failed on them); an error against `trimmed` is a mismatch of that object's remaining
 * relocations.
 */
export function verifyTrim(full: Btf, trimmed: Btf, objects: readonly BpfObject[], options: VerifyTrimOptions = {}): TrimVerification {
  if (options.expected?.usable === true) {
    const relocations = matchesRecorded(full, trimmed, objects, options.expected, options);
    if (relocations !== null) return { relocations, mismatches: [], mismatchCount: 0 };
  }
  const maxMismatches = options.maxMismatches ?? 20;
  const result: TrimVerification = { relocations: 0, mismatches: [], mismatchCount: 0 };
  const report = (step: RelocationStep, object: string, fullOutcome: string, trimmedOutcome: string) => {
    result.mismatchCount++;
    if (result.mismatches.length < maxMismatches) {
      result.mismatches.push({
        object,
        section: step.section,
        index: step.index,
        insnOff: step.relo.insnOff,
        kindName: reloKindName(step.relo.kind),
        access: step.relo.access,
        full: fullOutcome,
        trimmed: trimmedOutcome,
      });
    }
  };

  for (const object of objects) {
    const against = new RelocationResolver(trimmed, object, { limits: options.limits, keep: 'outcome' });
    const expected = new RelocationResolver(full, object, { limits: options.limits, keep: 'outcome' });
    // libbpf stops at the first failing relocation; every later one counts as lost too.
    let failure: CodecError | null = null;
    for (let want = expected.next(); want !== null; want = expected.next()) {
      if (want.error) throw want.error;
      result.relocations++;
      if (failure === null) {
        // Both walk the same records, so the trimmed side cannot end first.
        const got = against.next();
        if (got === null || got.error) {
          failure = got?.error ?? new CodecError('CORE', 'no outcome');
        } else if (!sameOutcome(want, full, got, trimmed)) {
          report(want, object.name, outcome(want, full), outcome(got, trimmed));
          continue;
        } else {
          continue;
        }
      }
      report(want, object.name, outcome(want, full), `resolution failed: ${failure.message}`);
    }
  }
  return result;
}

/**
 * Every relocation resolved against `trimmed` alone and compared with the outcome recorded
 * against `full`: their count when all are the same, null at the first difference or failure
 * (the caller then resolves both sides, to report them).
 */
function matchesRecorded(
  full: Btf,
  trimmed: Btf,
  objects: readonly BpfObject[],
  expected: RelocationOutcomes,
  options: VerifyTrimOptions,
): number | null {
  let index = 0;
  for (const object of objects) {
    const against = new RelocationResolver(trimmed, object, { limits: options.limits, keep: 'outcome' });
    for (let got = against.next(); got !== null; got = against.next()) {
      if (got.error || index >= expected.count) return null;
      const value = got.value!;
      const poison = expected.isPoison(index);
      if (value.poison || poison) {
        if (value.poison !== poison) return null;
      } else if (got.relo.kind === CoreReloKind.TypeIdTarget) {
        // Ids are renumbered by the trim: the target's kind and name are compared.
        const want = Number(BigInt.asUintN(64, expected.value(index)));
        if (targetOf(want, full) !== targetOf(Number(value.newVal), trimmed)) return null;
      } else if (BigInt.asIntN(64, value.newVal) !== expected.value(index)) {
        return null;
      }
      index++;
    }
  }
  return index === expected.count ? index : null;
}

/** A TYPE_ID_TARGET value as `outcome` describes it. */
function targetOf(id: number, target: Btf): string {
  if (id === 0) return 'target void';
  if (id >= target.typeCount) return `target id ${id} (out of range)`;
  return `target ${describeKind(target.kind(id))} ${target.name(id) || '(anon)'}`;
}

/** A one-line summary of the first mismatches, for logs and job errors. */
export function describeMismatches(verification: TrimVerification): string {
  const lines = verification.mismatches.map(
    (m) =>
      `${m.object}: section ${m.section}, relo #${m.index} ${m.kindName} "${m.access}" (insn offset ${m.insnOff}): ` +
      `full BTF gives ${m.full}, trimmed BTF gives ${m.trimmed}`,
  );
  const more = verification.mismatchCount - verification.mismatches.length;
  if (more > 0) lines.push(`... and ${more} more`);
  return lines.join('; ');
}

/** Equal outcomes, compared without building strings (the common case: every relocation). */
function sameOutcome(a: RelocationStep, aBtf: Btf, b: RelocationStep, bBtf: Btf): boolean {
  const x = a.value!;
  const y = b.value!;
  if (x.poison || y.poison) return x.poison === y.poison;
  if (a.relo.kind !== CoreReloKind.TypeIdTarget) return x.newVal === y.newVal;
  return outcome(a, aBtf) === outcome(b, bBtf);
}

/**
 * The outcome of one relocation as a comparable string. For TYPE_ID_TARGET the value is a
 * type id of `target`, so it is replaced by that type's kind and name.
 */
function outcome(step: RelocationStep, target: Btf): string {
  const value = step.value!;
  if (value.poison) return 'poisoned';
  if (step.relo.kind === CoreReloKind.TypeIdTarget) return targetOf(Number(value.newVal), target);
  return `value ${value.newVal}`;
}
