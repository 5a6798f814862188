/**
 * The check every trimmed BTF passes before it is stored: each CO-RE relocation of each
 * object resolves to the same outcome against the trimmed BTF as against the full kernel
 * BTF. That is the whole promise of a trimmed BTF (libbpf, loading the program with it,
 * must patch every instruction exactly as it would have with the kernel's own BTF), so a
 * trimmer bug shows up here as a failed job instead of as a wrong offset in someone's
 * program.
 *
 * An outcome is the relocation's poison flag and patched value. TYPE_ID_TARGET is the one
 * kind whose value is a type id, and the trimmer renumbers ids, so for it the target
 * type's kind and name are compared instead.
 */
import {
  type Btf,
  type BpfObject,
  CodecError,
  CoreReloKind,
  KIND_NAMES,
  reloKindName,
  resolveObjectRelocations,
  type ResolvedRelocation,
} from '../btf/index.js';

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
}

/**
 * Resolves every relocation of `objects` against `full` and against `trimmed` and compares
 * the outcomes. Resolution errors against `full` propagate (the trim itself would have
 * failed on them); an error against `trimmed` is a mismatch of that object's remaining
 * relocations.
 */
export function verifyTrim(
  full: Btf,
  trimmed: Btf,
  objects: readonly BpfObject[],
  options: VerifyTrimOptions = {},
): TrimVerification {
  const maxMismatches = options.maxMismatches ?? 20;
  const result: TrimVerification = { relocations: 0, mismatches: [], mismatchCount: 0 };
  const report = (mismatch: RelocationMismatch) => {
    result.mismatchCount++;
    if (result.mismatches.length < maxMismatches) result.mismatches.push(mismatch);
  };

  for (const object of objects) {
    const expected = resolveObjectRelocations(full, object);
    result.relocations += expected.length;
    // Collected as they resolve, so a failure part way still leaves the ones before it.
    const actual: ResolvedRelocation[] = [];
    let failure: CodecError | null = null;
    try {
      resolveObjectRelocations(trimmed, object, { onResolved: (r) => actual.push(r) });
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      failure = error;
    }
    expected.forEach((want, i) => {
      const got = actual[i];
      if (got === undefined) {
        // libbpf stops at the first failing relocation; every later one counts as lost too.
        const why = failure === null ? 'no outcome' : `resolution failed: ${failure.message}`;
        report(mismatch(want, full, why));
        return;
      }
      const gotOutcome = outcome(got, trimmed);
      if (outcome(want, full) !== gotOutcome) report(mismatch(want, full, gotOutcome));
    });
    if (actual.length > expected.length) {
      // Cannot happen for a well-formed object (one outcome per record), but never pass it silently.
      report({
        object: object.name, section: '', index: -1, insnOff: -1, kindName: 'count', access: '',
        full: `${expected.length} relocations`, trimmed: `${actual.length} relocations`,
      });
    }
  }
  return result;
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

/**
 * The outcome of one relocation as a comparable string. For TYPE_ID_TARGET the value is a
 * type id of `target`, so it is replaced by that type's kind and name.
 */
function outcome(r: ResolvedRelocation, target: Btf): string {
  if (r.value.poison) return 'poisoned';
  if (r.relo.kind === CoreReloKind.TypeIdTarget) {
    const id = Number(r.value.newVal);
    if (id === 0) return 'target void';
    if (id >= target.typeCount) return `target id ${id} (out of range)`;
    return `target ${KIND_NAMES[target.kind(id)] ?? 'UNKNOWN'} ${target.name(id) || '(anon)'}`;
  }
  return `value ${r.value.newVal}`;
}

function mismatch(r: ResolvedRelocation, full: Btf, trimmedOutcome: string): RelocationMismatch {
  return {
    object: r.object,
    section: r.section,
    index: r.index,
    insnOff: r.relo.insnOff,
    kindName: reloKindName(r.relo.kind),
    access: r.relo.access,
    full: outcome(r, full),
    trimmed: trimmedOutcome,
  };
}
