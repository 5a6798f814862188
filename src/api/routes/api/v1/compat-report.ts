/**
 * Compatibility reports: which CO-RE relocations of some objects resolve on which kernels.
 *
 *   POST /api/v1/compat        multipart: `object` (1..N files) + optional filter fields distro,
 *                              distro_version, arch, kernel_version (a release prefix). Runs as
 *                              a job; answers the report (200) when it ends within
 *                              BTFHUB_REQUEST_WAIT_MS, else 202 with Location /api/v1/jobs/{id}
 *                              (progress there), whose result names the report's URL.
 *   GET  /api/v1/compat/{id}   the report of a finished job
 *
 * The report (CompatReport in openapi.yaml): a summary per distro / release / arch, every
 * relocation with how many kernels gave each outcome, and every kernel with each
 * relocation's outcome (resolved, field_missing, type_missing, enum_missing, ambiguous, error).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { JobStatus } from '../../../../queue/job.js';
import { compatReportKey } from '../../../../storage/keys.js';
import {
  coverageJobFailure, filterFromFields, sendJobPending, submitObjectsJob,
} from '../../../coverage-service.js';
import { CompatResultParams, COVERAGE_FILTER_FIELDS, CoverageFilterFields } from '../../../coverage-schemas.js';
import { ApiError, missingField } from '../../../errors.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { readUpload } from '../../../uploads.js';

export async function compatReportRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  /** The stored report of a finished job, sent as is. */
  async function sendReport(reply: FastifyReply, status: Pick<JobStatus, 'id'>): Promise<FastifyReply> {
    const report = await services.store.get(compatReportKey(status.id));
    if (report === null) throw new ApiError(404, 'job_not_found', `the report of job ${status.id} is no longer stored; POST /api/v1/compat makes it again`);
    return reply.type('application/json; charset=utf-8').header('x-btfhub-job', status.id).send(Buffer.from(report));
  }

  app.post('/api/v1/compat', async (request, reply) => {
    const upload = await readUpload(request, { fileFields: ['object'], textFields: COVERAGE_FILTER_FIELDS, rejectUnknown: true, decompress: true });
    const filter = filterFromFields(parseInput(CoverageFilterFields, upload.fields));
    if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
    const { status } = await submitObjectsJob(services, 'compat', upload.files, filter, services.config.requestWaitMs);
    if (status.state === 'completed') return sendReport(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendJobPending(reply, status);
  });

  app.get<{ Params: { id: string } }>('/api/v1/compat/:id', { schema: { params: CompatResultParams } }, async (request, reply) => {
    const { id } = request.params;
    const status = await services.queue.status('compat', id);
    if (status.state === 'waiting' || status.state === 'active') return sendJobPending(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendReport(reply, { id });
  });
}
