/**
 * What compat and bundle jobs start from: the uploaded objects they name, as bytes for the
 * codec executor (parsed there, never on this thread), and the registered kernels their
 * filter matches, read from the service's store (unpacked `.btf.tar.xz` copies kept under
 * derived/, so xz runs once per kernel file).
 */
import type { Catalog } from '../catalog/catalog.js';
import { catalogKernels, type KernelInput } from '../coverage/kernel-source.js';
import type { ObjectBytes } from '../executor/codec-executor.js';
import { JobError } from '../queue/job.js';
import type { ObjectsJobData } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { loadUploadedBytes } from './uploaded-objects.js';

export interface CoverageJobDeps {
  /** The service's store (objects, derived copies, results). */
  store: ObjectStore;
  catalog: Catalog;
  /** Kernel loads in flight (default: one per core). */
  loadAhead?: number;
}

/** The job's objects, read and checked against their hashes (INVALID_JOB when it names none). */
export async function uploadedObjectBytes(deps: Pick<CoverageJobDeps, 'store'>, data: ObjectsJobData): Promise<ObjectBytes[]> {
  if (!Array.isArray(data.objects) || data.objects.length === 0) throw new JobError('INVALID_JOB', true, 'job has no objects');
  return Promise.all(
    data.objects.map(async (ref) => ({
      name: ref.name,
      sha256: ref.sha256,
      bytes: await loadUploadedBytes(deps.store, ref.sha256, ref.name),
    })),
  );
}

/** The registered kernels the job's filter matches. */
export function coverageKernels(deps: CoverageJobDeps, data: ObjectsJobData): Promise<KernelInput[]> {
  return catalogKernels(deps.catalog, deps.store, data.filter, { rawCache: deps.store });
}
