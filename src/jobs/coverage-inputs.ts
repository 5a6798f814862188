/**
 * What compat and bundle jobs start from: the uploaded objects they name and the registered
 * kernels their filter matches, read from the service's store (unpacked `.btf.tar.xz` copies
 * kept under derived/, so xz runs once per kernel file).
 */
import type { BpfObject } from '../btf/index.js';
import type { Catalog } from '../catalog/catalog.js';
import { catalogKernels, type KernelInput } from '../coverage/kernel-source.js';
import { JobError } from '../queue/job.js';
import type { ObjectsJobData } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { loadUploadedObject } from './uploaded-objects.js';

export interface CoverageJobDeps {
  /** The service's store (objects, derived copies, results). */
  store: ObjectStore;
  catalog: Catalog;
  /** Kernel loads in flight (default: one per core). */
  loadAhead?: number;
}

export async function coverageInputs(
  deps: CoverageJobDeps,
  data: ObjectsJobData,
): Promise<{ objects: BpfObject[]; kernels: KernelInput[] }> {
  if (!Array.isArray(data.objects) || data.objects.length === 0) throw new JobError('INVALID_JOB', true, 'job has no objects');
  const objects = await Promise.all(data.objects.map((ref) => loadUploadedObject(deps.store, ref.sha256, ref.name)));
  const kernels = await catalogKernels(deps.catalog, deps.store, data.filter, { rawCache: deps.store });
  return { objects, kernels };
}
