/**
 * Kernel generation as the routes see it: a generate job enqueued for an uploaded package or
 * for the configured repositories, a miss on a trim route turned into "generate, then trim"
 * (BTFHUB_GENERATE=on-miss), and a generate job's status as the API answers it.
 *
 *   trimOrGenerate: the trim of trim-service.ts; when the kernel is unknown, on-miss is on
 *   and repositories are configured for its distro, the objects are checked and stored, and
 *   one generate job (carrying the trim, `trimAfter`) is enqueued and waited for like a
 *   trim. Its id hashes the kernel and the objects, so equal requests share it; a kernel the
 *   repositories do not have, or that failed recently, ends the wait in a 404 naming why.
 */
import type { KernelRef } from '../catalog/catalog.js';
import { parseRepositoriesByDistro } from '../generate/repository/config.js';
import type { JobStatus } from '../queue/job.js';
import { generateJobId, type GenerateJobData, type GenerateJobResult } from '../queue/kinds.js';
import { ApiError } from './errors.js';
import type { GenerateJobStatusBody } from './generate-schemas.js';
import { kernelPath } from './http.js';
import type { AppServices } from './services.js';
import type { StageTimings } from './stage-timings.js';
import {
  kernelLabel,
  objectsHash,
  sha256Hex,
  storeCheckedObjects,
  trimObjects,
  type TrimAnswer,
  type UploadedObject,
} from './trim-service.js';

type GenerateStatus = JobStatus<GenerateJobData, GenerateJobResult>;

const configuredDistros = new WeakMap<AppServices, ReadonlySet<string>>();

/** The distros with debug repositories configured (validated once per app). */
export function distrosWithRepositories(services: AppServices): ReadonlySet<string> {
  let distros = configuredDistros.get(services);
  if (distros === undefined) {
    const repositories = services.config.generate?.repositories ?? {};
    distros = new Set(parseRepositoriesByDistro(repositories).keys());
    configuredDistros.set(services, distros);
  }
  return distros;
}

/** Whether an unknown kernel of `distro` is generated on a miss. */
export function generatesOnMiss(services: AppServices, distro: string): boolean {
  return services.config.generate?.mode === 'on-miss' && distrosWithRepositories(services).has(distro);
}

/**
 * `trimObjects`, with a miss of an unknown kernel turned into a generate-then-trim job when
 * on-miss generation applies. A generation still running after `waitMs` is `pending` (its job
 * id); one that failed is a 404 with the reason.
 */
export async function trimOrGenerate(
  services: AppServices,
  kernel: KernelRef,
  objects: readonly UploadedObject[],
  waitMs: number,
  /** The rate limit's charge, once the request turns out to need work (trimObjects'). */
  onWork: () => Promise<void> = async () => {},
  /** Where the request's time goes (trimObjects'); a generation's own wait is not split. */
  timings?: StageTimings,
): Promise<TrimAnswer> {
  let charged = false;
  const charge = async () => {
    charged = true;
    await onWork();
  };
  try {
    return await trimObjects(services, kernel, objects, waitMs, charge, timings);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'kernel_not_found' && generatesOnMiss(services, kernel.distro))) throw error;
  }
  const hashes = objects.map((o) => o.sha256 ?? sha256Hex(o.bytes));
  const hash = objectsHash(hashes);
  // A generation is work: charged here when the trim's miss did not already.
  if (!charged) await charge();
  const stored = await storeCheckedObjects(services, objects, hashes);
  const id = generateJobId(kernel, null, hash);
  await services.queue.enqueue('generate', id, { kind: 'generate', kernel, trimAfter: { objectHashes: stored, objectsHash: hash } });
  const status = await services.queue.waitFor('generate', id, waitMs);
  switch (status.state) {
    case 'completed': {
      // Registered and trimmed: the trim route answers from its cache now.
      return trimObjects(services, kernel, objects, waitMs);
    }
    case 'failed':
      throw new ApiError(
        404,
        'kernel_not_found',
        `no BTF for kernel ${kernelLabel(kernel)}, and it could not be generated: ${status.error?.message ?? 'unknown error'}`,
      );
    case 'waiting':
    case 'active':
      return { kind: 'pending', jobId: id, state: status.state, kernel, objectsHash: hash };
    case 'unknown':
      throw new ApiError(500, 'internal_error', `generate job ${id} vanished from the queue`);
  }
}

/** A generate job as `GET /api/v1/jobs/{id}` answers it. */
export function generateJobBody(status: GenerateStatus): GenerateJobStatusBody {
  if (status.state === 'unknown') throw new Error('generateJobBody: unknown job');
  const body: GenerateJobStatusBody = { job_id: status.id, kind: 'generate', state: status.state };
  const data = status.data;
  if (data !== undefined) {
    body.kernel = {
      distro: data.kernel.distro,
      distro_version: data.kernel.distroVersion,
      arch: data.kernel.arch,
      kernel_version: data.kernel.kernel,
    };
    body.source = data.package === undefined ? 'repository' : 'upload';
  }
  if (status.attempts !== undefined) body.attempts = status.attempts;
  if (status.createdAt !== undefined) body.created_at = status.createdAt.toISOString();
  if (status.startedAt !== undefined) body.started_at = status.startedAt.toISOString();
  if (status.finishedAt !== undefined) body.finished_at = status.finishedAt.toISOString();
  if (status.error !== undefined) body.error = { message: status.error.message, client_error: status.error.clientError };
  const result = status.result;
  if (result !== undefined) {
    body.result = {
      kernel_url: `/api/v1/kernels/${kernelPath(result.kernel)}`,
      kernel_sha256: result.sha256,
      kernel_size: result.size,
      generated: result.generated,
      type_count: result.typeCount,
      provenance:
        result.package === null || result.pahole === null
          ? null
          : {
              package: result.package,
              pahole: {
                version: result.pahole.version,
                flags: result.pahole.flags,
                duration_ms: result.pahole.durationMs,
                peak_rss_bytes: result.pahole.peakRssBytes,
              },
            },
      duration_ms: result.durationMs,
    };
    if (result.trim !== undefined && data?.trimAfter !== undefined) {
      body.result.sha256 = result.trim.resultSha256;
      body.result.size = result.trim.size;
      body.result.url = `/api/v1/btf/${data.trimAfter.objectsHash}/${kernelPath(result.kernel)}`;
    }
  }
  return body;
}
