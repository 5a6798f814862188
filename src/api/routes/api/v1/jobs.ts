/**
 * GET /api/v1/jobs/{id}: a job's state, timings, error, and where its result is: a trim
 * job, or a coverage job (`compat-...`, `bundle-...`, `sync-...`, with its progress).
 */
import type { FastifyInstance } from 'fastify';
import type { JobStatus } from '../../../../queue/job.js';
import { jobKindOf, type TrimJobData, type TrimJobResult } from '../../../../queue/kinds.js';
import { coverageJobBody, type CoverageJobStatus } from '../../../coverage-service.js';
import { ApiError } from '../../../errors.js';
import { kernelPath } from '../../../http.js';
import { JobParams, type JobStatusBody } from '../../../schemas.js';

export function jobStatusBody(status: JobStatus<TrimJobData, TrimJobResult>): JobStatusBody {
  if (status.state === 'unknown') throw new Error('jobStatusBody: unknown job');
  const data = status.data;
  const body: JobStatusBody = { job_id: status.id, state: status.state };
  if (data !== undefined) {
    body.objects_hash = data.objectsHash;
    body.object_hashes = data.objectHashes;
    body.kernel = {
      distro: data.kernel.distro,
      distro_version: data.kernel.distroVersion,
      arch: data.kernel.arch,
      kernel_version: data.kernel.kernel,
    };
  }
  if (status.attempts !== undefined) body.attempts = status.attempts;
  if (status.createdAt !== undefined) body.created_at = status.createdAt.toISOString();
  if (status.startedAt !== undefined) body.started_at = status.startedAt.toISOString();
  if (status.finishedAt !== undefined) body.finished_at = status.finishedAt.toISOString();
  if (status.error !== undefined) body.error = { message: status.error.message, client_error: status.error.clientError };
  if (status.result !== undefined) {
    body.result = {
      sha256: status.result.resultSha256,
      size: status.result.size,
      duration_ms: status.result.durationMs,
      relocations_verified: status.result.relocationsVerified,
      ...(data !== undefined && { url: `/api/v1/btf/${data.objectsHash}/${kernelPath(data.kernel)}` }),
    };
  }
  return body;
}

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  app.get<{ Params: { id: string } }>('/api/v1/jobs/:id', { schema: { params: JobParams } }, async (request) => {
    const { id } = request.params;
    const kind = jobKindOf(id);
    const status = await services.queue.status(kind, id);
    if (status.state === 'unknown') throw new ApiError(404, 'job_not_found', `no job ${id} (finished jobs are kept for a while only)`);
    return kind === 'trim' ? jobStatusBody(status as JobStatus<TrimJobData, TrimJobResult>) : coverageJobBody(status as CoverageJobStatus);
  });
}
