/**
 * What `btfhub verify` (src/kernels/verify.ts) and its phases report: its own module so the
 * phases kept beside it (verify-job-files.ts) share the types without importing the walk.
 */
export type VerifiedKind = 'kernel' | 'trim_result' | 'object' | 'derived' | 'job_file' | 'orphan';

export interface VerifyFinding {
  kind: VerifiedKind;
  key: string;
  problem: 'missing' | 'damaged' | 'orphaned';
  /** What to do, or what --repair did. */
  note: string;
  repaired: boolean;
}

export interface VerifyReport {
  checked: Record<Exclude<VerifiedKind, 'orphan'>, number> & { stored: number };
  findings: VerifyFinding[];
  /** Findings --repair did not resolve (0 is a clean or repaired store). */
  unresolved: number;
}

export interface VerifyProgress {
  phase: 'kernels' | 'trims' | 'objects' | 'derived' | 'job_files' | 'orphans';
  done: number;
  total: number;
}
