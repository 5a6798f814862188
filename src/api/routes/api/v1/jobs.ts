/**
 * GET /api/v1/jobs/{id}: a job's state, timings, error, and where its result is: a trim
 * job, or a coverage job (`compat-...`, `bundle-...`, `sync-...`, with its progress).
 */
import type { FastifyInstance } from 'fastify';
import type { JobStatus as QueuedJobStatus } from '../../../../queue/job.js';
import {
  type GenerateJobData,
  type GenerateJobResult,
  jobKindOf,
  KEEP_COMPLETED_SECONDS,
  type TrimJobData,
  type TrimJobResult,
} from '../../../../queue/kinds.js';
import { coverageJobBody, type CoverageJobStatus, withoutSyncDetails } from '../../../coverage-service.js';
import { CoverageJobStatus as CoverageJobStatusSchema } from '../../../coverage-schemas.js';
import { ApiError } from '../../../errors.js';
import { GenerateJobStatus } from '../../../generate-schemas.js';
import { generateJobBody } from '../../../generate-service.js';
import { kernelPath } from '../../../http.js';
import { response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { ErrorBody, JobParams, JobStatus, type JobStatusBody } from '../../../schemas.js';
import { z } from '../../../zod.js';

const getJobOperation = defineOperation({
  method: 'get',
  path: '/api/v1/jobs/{id}',
  operationId: 'getJob',
  tags: ['trim'],
  summary: "A job's state",
  description: `State (\`waiting\`, \`active\`, \`completed\`, \`failed\`), timings, error, and when
completed the result: for a trim job (\`JobStatus\`) its sha256, size and \`url\` (GET it
for the trimmed BTF); for a compat, bundle or sync job (\`CoverageJobStatus\`, ids
\`compat-...\`, \`bundle-...\`, \`sync-...\`) its \`kind\`, \`progress\` (kernels done of
total) and a summary, with the \`url\` of the report or bundle; for a generate job
(\`GenerateJobStatus\`, ids \`generate-...\`) the registered kernel and its provenance, or the
error (its message starts with the cause's code), and when it also trimmed, the trimmed BTF's \`url\`.
Finished jobs are kept for a while only; then 404 \`job_not_found\`. A job the queue
lost before then (a Redis without persistence restarted) is 404 \`job_lost\`: send the
request again (the client and \`btfhub fetch\` do so once).
`,
  request: { params: JobParams },
  responses: {
    '200': {
      description: 'The job.',
      content: {
        'application/json': {
          schema: z.union([JobStatus, CoverageJobStatusSchema, GenerateJobStatus]).openapi({}, { unionPreferredType: 'oneOf' }),
        },
      },
    },
    '400': response('BadRequest'),
    '404': {
      description: 'No such job: expired or never made (`job_not_found`), or lost by the queue (`job_lost`: send the request again).',
      content: { 'application/json': { schema: ErrorBody } },
    },
    '503': response('Unavailable'),
  },
});

export const jobOperations = [getJobOperation];

function jobStatusBody(status: QueuedJobStatus<TrimJobData, TrimJobResult>): JobStatusBody {
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

  addRoute(app, getJobOperation, {}, async (request) => {
    const { id } = request.params;
    const kind = jobKindOf(id);
    const status = await services.queue.status(kind, id);
    if (status.state === 'unknown') {
      // Handed out within the kind's retention, yet unknown to the queue: lost (a Redis
      // without persistence restarted), not expired. Sending the request again rebuilds it.
      const issued = await services.catalog.getIssuedJob(id).catch(() => null);
      if (issued !== null && Date.now() - issued.issuedAt.getTime() < KEEP_COMPLETED_SECONDS[kind] * 1000) {
        throw new ApiError(
          404,
          'job_lost',
          `job ${id} was lost by the queue (it was handed out ${issued.issuedAt.toISOString()}); send the request again`,
        );
      }
      throw new ApiError(404, 'job_not_found', `no job ${id} (finished jobs are kept for a while only)`);
    }
    if (kind === 'trim') return jobStatusBody(status as QueuedJobStatus<TrimJobData, TrimJobResult>);
    if (kind === 'generate') return generateJobBody(status as QueuedJobStatus<GenerateJobData, GenerateJobResult>);
    const body = coverageJobBody(status as CoverageJobStatus);
    return app.isAdmin(request) ? body : withoutSyncDetails(body);
  });
}
