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
import { CompatReport, CompatResultParams, COVERAGE_FILTER_FIELDS, CoverageFilterFields, CoverageUpload } from '../../../coverage-schemas.js';
import { ApiError, missingField } from '../../../errors.js';
import { header, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { readUpload } from '../../../uploads.js';

const REPORT = {
  description: 'The report.',
  headers: { 'X-BTFHub-Job': header('X-BTFHub-Job') },
  content: { 'application/json': { schema: CompatReport } },
};

const compatReportOperation = defineOperation({
  method: 'post',
  path: '/api/v1/compat',
  operationId: 'compatReport',
  tags: ['coverage'],
  summary: 'Which CO-RE relocations of BPF objects resolve on which kernels',
  description: `Resolves every CO-RE relocation of the objects on every registered kernel matching
the filter (all of them without one), with libbpf's rules, and classifies each
outcome: \`resolved\`, \`field_missing\`, \`type_missing\`, \`enum_missing\`, \`ambiguous\`
(libbpf refuses the object), \`error\`. A refused relocation is recorded and the rest
of the object is still resolved, so every problem shows at once.

Runs as a job. The answer is the report when the job ends within
BTFHUB_REQUEST_WAIT_MS, otherwise 202 with the job's URL; \`GET /api/v1/jobs/{id}\`
shows its progress (kernels done of total) and, once completed, \`result.url\`, where
the report is. The same objects and filter over the same kernels are one job.
`,
  request: {
    body: { required: true, content: { 'multipart/form-data': { schema: CoverageUpload, encoding: { object: { contentType: 'application/octet-stream' } } } } },
  },
  responses: {
    '200': REPORT,
    '202': response('JobAccepted'),
    '400': response('BadRequest'),
    '404': response('NoMatchingKernel'),
    '413': response('PayloadTooLarge'),
    '415': response('UnsupportedMediaType'),
    '422': response('InvalidObject'),
    '429': response('RateLimited'),
    '500': response('InternalError'),
    '503': response('Unavailable'),
  },
});

const getCompatReportOperation = defineOperation({
  method: 'get',
  path: '/api/v1/compat/{id}',
  operationId: 'getCompatReport',
  tags: ['coverage'],
  summary: 'The report of a compatibility job',
  request: { params: CompatResultParams },
  responses: {
    '200': REPORT,
    '202': response('JobAccepted'),
    '400': response('BadRequest'),
    '404': response('JobResultNotFound'),
    '422': response('InvalidObject'),
    '500': response('InternalError'),
    '503': response('Unavailable'),
  },
});

export const compatReportOperations = [compatReportOperation, getCompatReportOperation];

export async function compatReportRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  /** The stored report of a finished job, sent as is. */
  async function sendReport(reply: FastifyReply, status: Pick<JobStatus, 'id'>): Promise<FastifyReply> {
    const report = await services.store.get(compatReportKey(status.id));
    if (report === null) throw new ApiError(404, 'job_not_found', `the report of job ${status.id} is no longer stored; POST /api/v1/compat makes it again`);
    return reply.type('application/json; charset=utf-8').header('x-btfhub-job', status.id).send(Buffer.from(report));
  }

  addRoute(app, compatReportOperation, {}, async (request, reply) => {
    const upload = await readUpload(request, { fileFields: ['object'], textFields: COVERAGE_FILTER_FIELDS, rejectUnknown: true, decompress: true });
    const filter = filterFromFields(parseInput(CoverageFilterFields, upload.fields));
    if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
    const { status } = await submitObjectsJob(services, 'compat', upload.files, filter, services.config.requestWaitMs);
    if (status.state === 'completed') return sendReport(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendJobPending(reply, status);
  });

  addRoute(app, getCompatReportOperation, {}, async (request, reply) => {
    const { id } = request.params;
    const status = await services.queue.status('compat', id);
    if (status.state === 'waiting' || status.state === 'active') return sendJobPending(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendReport(reply, { id });
  });
}
