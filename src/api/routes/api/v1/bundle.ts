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
import type { JobStatus } from '../../../../queue/job.js';
import type { BundleMeta } from '../../../../queue/kinds.js';
import { bundleKey, bundleMetaKey } from '../../../../storage/keys.js';
import {
  coverageJobFailure, filterFromFields, sendJobPending, submitObjectsJob,
} from '../../../coverage-service.js';
import { BundleResultParams, COVERAGE_FILTER_FIELDS, CoverageFilterFields } from '../../../coverage-schemas.js';
import { ApiError, missingField } from '../../../errors.js';
import { etagOf, sendBinary } from '../../../http.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { readUpload } from '../../../uploads.js';

export const BUNDLE_MEDIA_TYPE = 'application/gzip';

export async function bundleRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  async function sendBundle(reply: FastifyReply, status: Pick<JobStatus, 'id'>): Promise<FastifyReply> {
    const [archive, metaBytes] = await Promise.all([services.store.get(bundleKey(status.id)), services.store.get(bundleMetaKey(status.id))]);
    if (archive === null || metaBytes === null) {
      throw new ApiError(404, 'job_not_found', `the bundle of job ${status.id} is no longer stored; POST /api/v1/bundle makes it again`);
    }
    const meta = JSON.parse(Buffer.from(metaBytes).toString('utf8')) as BundleMeta;
    reply
      .header('etag', etagOf(meta.sha256))
      .header('x-btfhub-job', status.id)
      .header('x-btfhub-kernels', String(meta.kernels))
      .header('x-btfhub-distinct', String(meta.distinct))
      .header('x-btfhub-failed', String(meta.failed));
    return sendBinary(reply, archive, BUNDLE_MEDIA_TYPE, 'btfhub-bundle.tar.gz');
  }

  app.post('/api/v1/bundle', async (request, reply) => {
    const upload = await readUpload(request, { fileFields: ['object'], textFields: COVERAGE_FILTER_FIELDS, rejectUnknown: true, decompress: true });
    const filter = filterFromFields(parseInput(CoverageFilterFields, upload.fields));
    if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
    const { status } = await submitObjectsJob(services, 'bundle', upload.files, filter, services.config.requestWaitMs);
    if (status.state === 'completed') return sendBundle(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendJobPending(reply, status);
  });

  app.get<{ Params: { id: string } }>('/api/v1/bundle/:id', { schema: { params: BundleResultParams } }, async (request, reply) => {
    const { id } = request.params;
    const status = await services.queue.status('bundle', id);
    if (status.state === 'waiting' || status.state === 'active') return sendJobPending(reply, status);
    if (status.state === 'failed') throw coverageJobFailure(status);
    return sendBundle(reply, { id });
  });
}
