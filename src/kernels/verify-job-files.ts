/**
 * The `job_files` phase of `btfhub verify` (src/kernels/verify.ts): every file a compat or
 * bundle job stored (the report; the bundle and its metadata) read and checked against the
 * sha256 its row holds (migration 005).
 *
 * A job is served whole or not at all (the API's readJobFiles), so a job with one file missing
 * or damaged is repaired as the GET path repairs it: all its files and rows removed, and a
 * re-submission of the same request makes them again under a fresh job id, recorded for this
 * one. Two rows may name one file (a rebuild's rows are recorded for its own id and for the
 * job it replaces), so an intact file stays while a row of another job still names it, and
 * every file is read once however many rows name it.
 */
import type { Catalog, JobFileRecord, JobFileRole } from '../catalog/catalog.js';
import { readVerified } from '../storage/integrity.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { VerifyFinding, VerifyProgress } from './verify-report.js';

export type JobFilesCatalog = Pick<Catalog, 'listJobFiles' | 'getJobFile' | 'deleteJobFile'>;

export interface JobFilesVerified {
  checked: number;
  findings: VerifyFinding[];
  /** Keys rows still name: not orphans. */
  referenced: Set<string>;
}

type FileState = 'ok' | 'missing' | 'damaged';

const ROLE_NAMES: Record<JobFileRole, string> = { report: 'compat report', bundle: 'bundle', bundle_meta: 'bundle metadata' };
const RESUBMIT: Record<JobFileRole, string> = {
  report: 'POST /api/v1/compat',
  bundle: 'POST /api/v1/bundle',
  bundle_meta: 'POST /api/v1/bundle',
};

export async function verifyJobFiles(
  store: ObjectStore,
  catalog: JobFilesCatalog,
  rows: readonly JobFileRecord[],
  options: { repair: boolean; onProgress?: (progress: VerifyProgress) => void },
): Promise<JobFilesVerified> {
  const result: JobFilesVerified = { checked: 0, findings: [], referenced: new Set() };
  // What each stored file was found to be, by key and expected sha256: read once, and a file
  // this walk removed keeps the state that made it go (a second row naming it says "damaged").
  const states = new Map<string, FileState>();
  const stateOf = async (row: JobFileRecord): Promise<FileState> => {
    const id = `${row.storageKey}\0${row.sha256}`;
    let state = states.get(id);
    if (state === undefined) {
      state = (await readVerified(store, row.storageKey, row.sha256)).state;
      states.set(id, state);
    }
    return state;
  };
  // Which jobs' rows name each key: an intact file shared with a sound job is never removed.
  const namedBy = new Map<string, Set<string>>();
  for (const row of rows) {
    const jobs = namedBy.get(row.storageKey) ?? new Set<string>();
    jobs.add(row.jobId);
    namedBy.set(row.storageKey, jobs);
  }

  // Jobs whose files and rows this walk removed: their rows no longer keep a shared file.
  const removedJobs = new Set<string>();
  const keptShared = new Set<string>();
  // A key the listing does not know (a row recorded since) may be named by rows not seen: kept.
  const stillNamed = (key: string) => {
    const named = namedBy.get(key);
    return named === undefined || [...named].some((job) => !removedJobs.has(job));
  };

  const jobs = groupByJob(rows);
  let done = 0;
  for (const [jobId, listed] of jobs) {
    result.checked += listed.length;
    let files = await Promise.all(listed.map(async (row) => ({ row, state: await stateOf(row) })));
    if (files.some((f) => f.state !== 'ok') && options.repair) {
      // The job's rows as they are now: a rebuild (or a retry) that recorded other files since
      // the listing is judged by those, never removed for what its predecessor was.
      files = await currentFiles(catalog, store, jobId, listed, stateOf);
    }
    const bad = files.filter((f) => f.state !== 'ok');
    if (bad.length === 0 || !options.repair) {
      for (const { row } of files) result.referenced.add(row.storageKey);
    } else {
      removedJobs.add(jobId);
      for (const { row, state } of files) {
        if (state === 'damaged' || (state === 'ok' && !stillNamed(row.storageKey))) await store.delete(row.storageKey);
        else if (state === 'ok') keptShared.add(row.storageKey);
        await catalog.deleteJobFile(jobId, row.role, row.storageKey);
      }
    }
    for (const { row, state } of bad) {
      const what = `${ROLE_NAMES[row.role]} of job ${jobId}`;
      const again = RESUBMIT[row.role];
      result.findings.push({
        kind: 'job_file',
        key: row.storageKey,
        problem: state as 'missing' | 'damaged',
        note: options.repair
          ? `${what}: removed with the job's other files and rows; submitting the request again (${again}) makes them again`
          : `${what}: never served (the job URL answers ${state === 'damaged' ? '500 result_damaged' : '404'}); ${again} of the same request makes it again; --repair removes the job's files`,
        repaired: options.repair,
      });
    }
    done += listed.length;
    options.onProgress?.({ phase: 'job_files', done, total: rows.length });
  }
  // An intact file kept for another job's row goes once that job was removed too (later in the walk).
  for (const key of keptShared) {
    if (stillNamed(key)) result.referenced.add(key);
    else await store.delete(key);
  }
  return result;
}

/** Rows in listing order (job id, role), grouped by job. */
function groupByJob(rows: readonly JobFileRecord[]): Map<string, JobFileRecord[]> {
  const jobs = new Map<string, JobFileRecord[]>();
  for (const row of rows) {
    const list = jobs.get(row.jobId) ?? [];
    list.push(row);
    jobs.set(row.jobId, list);
  }
  return jobs;
}

/** The job's rows (the roles listed) read again from the catalog, each file checked; rows gone since are left out. */
async function currentFiles(
  catalog: JobFilesCatalog,
  store: ObjectStore,
  jobId: string,
  listed: readonly JobFileRecord[],
  stateOf: (row: JobFileRecord) => Promise<FileState>,
): Promise<{ row: JobFileRecord; state: FileState }[]> {
  const files: { row: JobFileRecord; state: FileState }[] = [];
  for (const old of listed) {
    const row = await catalog.getJobFile(jobId, old.role);
    if (row === null) continue;
    const unchanged = row.storageKey === old.storageKey && row.sha256 === old.sha256;
    // A changed row is read fresh: its file may have been written after the walk's first read.
    const state = unchanged ? await stateOf(row) : (await readVerified(store, row.storageKey, row.sha256)).state;
    files.push({ row, state });
  }
  return files;
}
