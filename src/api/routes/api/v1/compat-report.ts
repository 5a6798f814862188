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
import { answerJobResult, answerObjectsJob, readJobFiles } from '../../../coverage-service.js';
import { CompatReport, CompatResultParams, CoverageUpload } from '../../../coverage-schemas.js';
import { header, JOB_RESULT_ANSWERS, response, UPLOAD_FAILURES } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';

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
    body: {
      required: true,
      content: { 'multipart/form-data': { schema: CoverageUpload, encoding: { object: { contentType: 'application/octet-stream' } } } },
    },
  },
  responses: {
    '200': REPORT,
    '202': response('JobAccepted'),
    '404': response('NoMatchingKernel'),
    ...UPLOAD_FAILURES,
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
    ...JOB_RESULT_ANSWERS,
  },
});

export const compatReportOperations = [compatReportOperation, getCompatReportOperation];

export async function compatReportRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  /** The stored report of a finished job, sent as is once it hashes to the sha256 the catalog recorded. */
  async function sendReport(reply: FastifyReply, jobId: string): Promise<FastifyReply> {
    const [report] = (await readJobFiles(services, 'compat', jobId, ['report'])) as [Uint8Array];
    return reply.type('application/json; charset=utf-8').header('x-btfhub-job', jobId).send(Buffer.from(report));
  }

  addRoute(app, compatReportOperation, {}, (request, reply) => answerObjectsJob(request, reply, 'compat', sendReport));
  addRoute(app, getCompatReportOperation, {}, (request, reply) => answerJobResult(request, reply, 'compat', request.params.id, sendReport));
}
