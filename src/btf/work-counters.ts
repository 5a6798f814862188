/**
 * Counts of the work the codec does, kept as it goes (plain integer adds on one object, cheap
 * enough to stay on in production). They let tests prove that every pass is linear in its
 * input without timing anything: run a hostile family at a few sizes and check that each
 * count stays under a small constant times the input size (test/btf/linear.test.ts).
 *
 * What each count means:
 * - bytesScanned: input bytes examined one at a time: NUL searches, essential-name scans,
 *   name hashes, access-string parsing.
 * - charsDecoded: characters of JS strings made from input bytes.
 * - recordsRead: fixed-size input records read: type headers in the decode pass, members,
 *   enumerators and parameters when a type is inflated, ELF section headers, .BTF.ext records.
 * - objectsBuilt: result objects the codec allocates per input record: inflated types and
 *   their members, relocation records, CO-RE specs, resolved relocations.
 * - coreSteps: CO-RE resolution steps (the unit of `maxCoreStepsPerByte`).
 */
export interface WorkCounts {
  bytesScanned: number;
  charsDecoded: number;
  recordsRead: number;
  objectsBuilt: number;
  coreSteps: number;
}

export const workCounters: WorkCounts = { bytesScanned: 0, charsDecoded: 0, recordsRead: 0, objectsBuilt: 0, coreSteps: 0 };

export function resetWorkCounters(): void {
  workCounters.bytesScanned = 0;
  workCounters.charsDecoded = 0;
  workCounters.recordsRead = 0;
  workCounters.objectsBuilt = 0;
  workCounters.coreSteps = 0;
}

export function readWorkCounters(): WorkCounts {
  return { ...workCounters };
}
