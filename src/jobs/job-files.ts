/**
 * The catalog rows of the files a compat or bundle job stores (`job_files`, migration 005):
 * where each is and its sha256, which the API checks on every read before sending it. A
 * rebuild (a job of a fresh id making a damaged or missing file again) records its files for
 * the job it replaces too, so that job's URL serves them again.
 */
import type { Catalog, JobFileRole } from '../catalog/catalog.js';
import { sha256Hex } from '../storage/integrity.js';

export interface StoredJobFile {
  role: JobFileRole;
  storageKey: string;
  bytes: Uint8Array;
}

/** Records `files` (already written) for job `jobId`, and for `resultFor` when the job is its rebuild. */
export async function recordJobFiles(
  catalog: Pick<Catalog, 'recordJobFile'>,
  jobId: string,
  resultFor: string | undefined,
  files: readonly StoredJobFile[],
): Promise<void> {
  const ids = resultFor === undefined || resultFor === jobId ? [jobId] : [jobId, resultFor];
  for (const id of ids) {
    for (const file of files) {
      await catalog.recordJobFile({
        jobId: id,
        role: file.role,
        storageKey: file.storageKey,
        sha256: sha256Hex(file.bytes),
        size: file.bytes.length,
      });
    }
  }
}
