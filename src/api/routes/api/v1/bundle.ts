/**
 * Bundles: the trimmed BTF of some objects for every matching kernel, as the `.tar.gz` of
 * `<distro>/<distro_version>/<arch>/<kernel>.btf` an agent image ships (what
 * `btfhub fetch --dir` and libbpf-tools' btf_helpers read).
 *
 *   POST /api/v1/bundle        multipart: `object` (1..N files) + optional filter fields distro,
 *                              distro_version, arch, kernel_version (a release prefix). Runs as
 *                              a job; answers the .tar.gz (200) when it ends within
 *                              BTFHUB_REQUEST_WAIT_MS, else 202 with Location /api/v1/jobs/{id}.
 *   GET  /api/v1/bundle/{id}   the .tar.gz of a finished job
 *
 * Trimmed results are stored content-addressed (`trimmed/<sha256>.btf`), identical ones once;
 * `X-BTFHub-Distinct` (and the job's result) says how many distinct BTFs there were.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { BundleMeta } from '../../../../queue/kinds.js';
import { answerJobResult, answerObjectsJob, readJobFiles } from '../../../coverage-service.js';
import { BundleResultParams, CoverageUpload } from '../../../coverage-schemas.js';
import { etagOf, sendBinary } from '../../../http.js';
import { JOB_RESULT_ANSWERS, response, UPLOAD_FAILURES } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';

const BUNDLE_MEDIA_TYPE = 'application/gzip';

const buildBundleOperation = defineOperation({
  method: 'post',
  path: '/api/v1/bundle',
  operationId: 'buildBundle',
  tags: ['coverage'],
  summary: 'A .tar.gz of trimmed BTFs for every matching kernel',
  description: `The BTF of every registered kernel matching the filter (all of them without one),
trimmed for the objects, as \`<distro>/<distro_version>/<arch>/<kernel>.btf\` in a
\`.tar.gz\`: the directory an agent image ships (\`btfhub fetch --dir\`, libbpf-tools'
btf_helpers, BTFHub's btfgen layout). Each BTF is what \`POST /api/v1/btf\` (and
\`bpftool gen min_core_btf\`) gives for that kernel. Trimmed results are stored
content-addressed, identical ones once; \`X-BTFHub-Distinct\` says how many distinct
BTFs there were. A kernel whose BTF does not load, or where libbpf would refuse the
objects (an ambiguous relocation), is left out and counted in \`X-BTFHub-Failed\`;
the job's result lists them.

Runs as a job. The answer is the archive when the job ends within
BTFHUB_REQUEST_WAIT_MS, otherwise 202 with the job's URL; \`GET /api/v1/jobs/{id}\`
shows its progress and, once completed, \`result.url\`, where the archive is.
`,
  request: {
    body: {
      required: true,
      content: { 'multipart/form-data': { schema: CoverageUpload, encoding: { object: { contentType: 'application/octet-stream' } } } },
    },
  },
  responses: {
    '200': response('Bundle'),
    '202': response('JobAccepted'),
    '404': response('NoMatchingKernel'),
    ...UPLOAD_FAILURES,
  },
});

const getBundleOperation = defineOperation({
  method: 'get',
  path: '/api/v1/bundle/{id}',
  operationId: 'getBundle',
  tags: ['coverage'],
  summary: 'The .tar.gz of a bundle job',
  request: { params: BundleResultParams },
  responses: {
    '200': response('Bundle'),
    ...JOB_RESULT_ANSWERS,
  },
});

export const bundleOperations = [buildBundleOperation, getBundleOperation];

export async function bundleRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  async function sendBundle(reply: FastifyReply, jobId: string): Promise<FastifyReply> {
    // Both checked against the sha256 the catalog recorded: never a damaged archive, nor wrong headers.
    const [archive, metaBytes] = (await readJobFiles(services, 'bundle', jobId, ['bundle', 'bundle_meta'])) as [Uint8Array, Uint8Array];
    const meta = JSON.parse(Buffer.from(metaBytes).toString('utf8')) as BundleMeta;
    reply
      .header('etag', etagOf(meta.sha256))
      .header('x-btfhub-job', jobId)
      .header('x-btfhub-kernels', String(meta.kernels))
      .header('x-btfhub-distinct', String(meta.distinct))
      .header('x-btfhub-failed', String(meta.failed));
    return sendBinary(reply, archive, BUNDLE_MEDIA_TYPE, 'btfhub-bundle.tar.gz');
  }

  addRoute(app, buildBundleOperation, {}, (request, reply) => answerObjectsJob(request, reply, 'bundle', sendBundle));
  addRoute(app, getBundleOperation, {}, (request, reply) => answerJobResult(request, reply, 'bundle', request.params.id, sendBundle));
}
