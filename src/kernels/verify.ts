/**
 * `btfhub verify` and POST /api/v1/verify: the catalog and the store walked together, every
 * stored file the catalog names read and hashed, and what the store holds that nothing names.
 *
 *   entry                    missing                          damaged (sha256 differs)
 *   kernel (kernels)         reported: upload or import it     reported: upload or import it
 *   trim result (trims)      repair: row removed (made again)  repair: copy and row removed
 *   object (objects)         reported: the client sends it     repair: copy removed
 *   derived copy             repair: row removed               repair: copy and row removed
 *   job file (job_files:     repair: the job's files and rows  repair: the job's files and rows
 *     compat report, bundle  removed (a re-submission makes    removed (src/kernels/verify-job-files.ts)
 *     and its metadata)      them again)
 *   orphan (trimmed/, derived/, kernel-files/, objects/, reports/compat/, bundles/ key that no
 *   row names, older than ORPHAN_MIN_AGE_MS so that a write in flight, whose row comes after
 *   it, is not taken for one): repair removes it
 *
 * Nothing is answered from a damaged copy in the meantime (every read is checked), so repair
 * only saves the first request the work of rebuilding, and the store the space.
 */
import type { Catalog, Page } from '../catalog/catalog.js';
import { readVerified } from '../storage/integrity.js';
import { CATALOGED_PREFIXES, objectKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { verifyJobFiles } from './verify-job-files.js';
import type { VerifyFinding, VerifyProgress, VerifyReport } from './verify-report.js';

export type { VerifiedKind, VerifyFinding, VerifyProgress, VerifyReport } from './verify-report.js';

export interface VerifyOptions {
  repair?: boolean;
  /** Called after every entry (callers throttle). */
  onProgress?: (progress: VerifyProgress) => void;
  /** Where the service writes (orphans are looked for there only, never in a read-only archive). */
  serviceStore?: ObjectStore;
  now?: number;
}

/** Unreferenced keys younger than this may be a write whose catalog row is still coming. */
export const ORPHAN_MIN_AGE_MS = 10 * 60_000;

const PAGE = 500;

type VerifyCatalog = Pick<
  Catalog,
  | 'listKernels'
  | 'listTrims'
  | 'listObjects'
  | 'listDerivedFiles'
  | 'deleteTrim'
  | 'deleteDerivedFile'
  | 'listJobFiles'
  | 'getJobFile'
  | 'deleteJobFile'
>;

export async function verifyStore(store: ObjectStore, catalog: VerifyCatalog, options: VerifyOptions = {}): Promise<VerifyReport> {
  const repair = options.repair ?? false;
  const report: VerifyReport = {
    checked: { kernel: 0, trim_result: 0, object: 0, derived: 0, job_file: 0, stored: 0 },
    findings: [],
    unresolved: 0,
  };
  const referenced = new Set<string>();
  const find = (finding: Omit<VerifyFinding, 'repaired'>, repaired = false) => {
    report.findings.push({ ...finding, repaired });
    if (!repaired) report.unresolved++;
  };

  await eachRow(
    (page) => catalog.listKernels({}, page),
    'kernels',
    options,
    async (kernel) => {
      report.checked.kernel++;
      referenced.add(kernel.storageKey);
      const read = await readVerified(store, kernel.storageKey, kernel.sha256);
      if (read.state !== 'ok') {
        const what = `${kernel.distro}/${kernel.distroVersion}/${kernel.arch}/${kernel.kernel}`;
        find({
          kind: 'kernel',
          key: kernel.storageKey,
          problem: read.state,
          note: `kernel ${what}: upload or import it again (answers for it are refused meanwhile)`,
        });
      }
    },
  );

  await eachRow(
    (page) => catalog.listTrims(page),
    'trims',
    options,
    async (trim) => {
      report.checked.trim_result++;
      const read = await readVerified(store, trim.resultKey, trim.resultSha256);
      if (read.state === 'ok') {
        referenced.add(trim.resultKey);
        return;
      }
      if (repair) {
        await catalog.deleteTrim(trim.objectsHash, trim.kernel, trim.kernelSha256);
        // Another trim row may name the same content-addressed result: only a damaged copy goes.
        if (read.state === 'damaged') await store.delete(trim.resultKey);
      } else {
        referenced.add(trim.resultKey);
      }
      find(
        {
          kind: 'trim_result',
          key: trim.resultKey,
          problem: read.state,
          note: repair ? 'removed; made again on the next request' : 'made again on the next request; --repair removes it',
        },
        repair,
      );
    },
  );

  await eachRow(
    (page) => catalog.listObjects(page),
    'objects',
    options,
    async (object) => {
      report.checked.object++;
      const key = objectKey(object.sha256);
      referenced.add(key);
      const read = await readVerified(store, key, object.sha256);
      if (read.state === 'missing') find({ kind: 'object', key, problem: 'missing', note: 'stored again when a client sends it' });
      if (read.state === 'damaged') {
        if (repair) await store.delete(key);
        find(
          {
            kind: 'object',
            key,
            problem: 'damaged',
            note: repair ? 'removed; stored again when a client sends it' : 'replaced when a client sends it; --repair removes it',
          },
          repair,
        );
      }
    },
  );

  await eachRow(
    (page) => catalog.listDerivedFiles(page),
    'derived',
    options,
    async (derived) => {
      report.checked.derived++;
      const read = await readVerified(store, derived.storageKey, derived.sha256);
      if (read.state === 'ok') {
        referenced.add(derived.storageKey);
        return;
      }
      if (repair) {
        await catalog.deleteDerivedFile(derived.sourceSha256, derived.format);
        if (read.state === 'damaged') await store.delete(derived.storageKey);
      } else {
        referenced.add(derived.storageKey);
      }
      find(
        {
          kind: 'derived',
          key: derived.storageKey,
          problem: read.state,
          note: repair ? 'removed; made again on the next request' : 'made again on the next request; --repair removes it',
        },
        repair,
      );
    },
  );

  const jobFiles = await verifyJobFiles(store, catalog, await allRows((page) => catalog.listJobFiles(page)), {
    repair,
    ...(options.onProgress !== undefined && { onProgress: options.onProgress }),
  });
  report.checked.job_file = jobFiles.checked;
  for (const key of jobFiles.referenced) referenced.add(key);
  for (const finding of jobFiles.findings) find(finding, finding.repaired);

  const own = options.serviceStore ?? store;
  const now = options.now ?? Date.now();
  const orphans: string[] = [];
  for (const prefix of CATALOGED_PREFIXES) {
    for await (const info of own.list(prefix)) {
      report.checked.stored++;
      if (referenced.has(info.key)) continue;
      if (info.modified !== undefined && now - info.modified.getTime() < ORPHAN_MIN_AGE_MS) continue;
      orphans.push(info.key);
    }
  }
  let done = 0;
  for (const key of orphans) {
    if (repair) await own.delete(key);
    find({ kind: 'orphan', key, problem: 'orphaned', note: repair ? 'removed' : 'no catalog row names it; --repair removes it' }, repair);
    options.onProgress?.({ phase: 'orphans', done: ++done, total: orphans.length });
  }
  return report;
}

/**
 * Every row of a listing: all pages read first, then visited, so that rows a repair deletes
 * as it goes never shift a later page past rows not yet seen.
 */
async function eachRow<T>(
  list: (page: Page) => Promise<{ items: T[]; total: number }>,
  phase: VerifyProgress['phase'],
  options: VerifyOptions,
  visit: (row: T) => Promise<void>,
): Promise<void> {
  const rows = await allRows(list);
  let done = 0;
  for (const row of rows) {
    await visit(row);
    options.onProgress?.({ phase, done: ++done, total: rows.length });
  }
}

/** Every row of a listing, page by page. */
async function allRows<T>(list: (page: Page) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
  const rows: T[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await list({ limit: PAGE, offset });
    rows.push(...page.items);
    if (page.items.length < PAGE) break;
  }
  return rows;
}
