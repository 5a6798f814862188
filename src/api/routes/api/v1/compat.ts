/**
 * The routes of the original BTFHub Online (Go, 2021-22), kept so its clients work
 * unchanged: same paths, parameters, fields and formats. Where it answered a bad request
 * with an empty 500, these answer the API's JSON errors (400, 404, 413, 422...).
 *
 *   GET  /api/v1/list                     JSON array of {distribution, distribution_version, kernel_version, arch}
 *   GET  /api/v1/download?distribution=&distribution_version=&kernel_version=&arch=
 *                                         the kernel's .btf.tar.xz
 *   POST /api/v1/customize?<same four>    multipart field `bpf`: a .tar.xz holding the trimmed <kernel>.btf
 *
 * Its clients treat any 2xx as the file, so these never answer 202: customize and download
 * wait for the trim (or, with on-miss generation, the kernel's generation) up to
 * BTFHUB_COMPAT_WAIT_MS, then answer 503 with Retry-After. Errors name the original's
 * fields (`bpf`, `distribution`...), and trailing slashes redirect as its router did
 * (plugins/app/compat-redirects.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { makeBtfTarXz } from '../../../../archive/kernel-btf.js';
import type { KernelRecord, KernelRef } from '../../../../catalog/catalog.js';
import { generateJobId } from '../../../../queue/kinds.js';
import { ApiError, missingField, toErrorReply } from '../../../errors.js';
import { generatesOnMiss, trimOrGenerate } from '../../../generate-service.js';
import { kernelRefFromCompat, sendBinary } from '../../../http.js';
import type { AppServices } from '../../../services.js';
import { kernelBtf } from '../../../kernel-files.js';
import { binary, describedHeader, header, response, UPLOAD_FAILURES } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { CompatList, CompatQuery, CustomizeForm, MAX_PAGE_LIMIT } from '../../../schemas.js';
import { kernelLabel, requireKernel, uploadedObject } from '../../../trim-service.js';
import { StageTimings } from '../../../stage-timings.js';
import { readUpload } from '../../../uploads.js';

const compatListOperation = defineOperation({
  method: 'get',
  path: '/api/v1/list',
  operationId: 'compatList',
  tags: ['compatibility'],
  summary: 'All kernels (BTFHub Online)',
  description: 'Every kernel, as the original BTFHub Online listed them.',
  responses: {
    '200': { description: 'All kernels.', content: { 'application/json': { schema: CompatList } } },
    '503': response('Unavailable'),
  },
});

const compatDownloadOperation = defineOperation({
  method: 'get',
  path: '/api/v1/download',
  operationId: 'compatDownload',
  tags: ['compatibility'],
  summary: "A kernel's .btf.tar.xz (BTFHub Online)",
  request: { query: CompatQuery },
  responses: {
    '200': {
      description: 'The BTFHub archive file, an xz-compressed tar holding `<kernel>.btf`.',
      headers: {
        'Content-Disposition': describedHeader('`attachment; filename="<kernel>.btf.tar.xz"`.'),
        'Content-Description': describedHeader('`File Transfer`, as the original sent.'),
        'Content-Transfer-Encoding': describedHeader('`binary`, as the original sent.'),
      },
      content: { 'application/octet-stream': binary('application/octet-stream') },
    },
    '400': response('BadRequest'),
    '404': response('KernelNotFound'),
    '500': response('InternalError'),
    '503': response('Unavailable'),
  },
});

/** When the service has worked on an answer for BTFHUB_COMPAT_WAIT_MS: come back later. */
const STILL_WORKING_SECONDS = 10;

const compatCustomizeOperation = defineOperation({
  method: 'post',
  path: '/api/v1/customize',
  operationId: 'compatCustomize',
  tags: ['compatibility'],
  summary: 'Trim a kernel BTF for one BPF object (BTFHub Online)',
  description: `The object in the multipart field \`bpf\`; the kernel in the query. Answers a
\`.tar.xz\` holding the trimmed \`<kernel>.btf\`. Runs like \`POST /api/v1/btf\`
(same cache, same job), but never answers 202, which the original's clients would take for the
file: it waits up to BTFHUB_COMPAT_WAIT_MS (60 s by default), then answers 503 with
\`Retry-After\`; asking again later is answered from the cache. Errors about the object name
the field \`bpf\`.
`,
  request: { query: CompatQuery, body: { required: true, content: { 'multipart/form-data': { schema: CustomizeForm } } } },
  responses: {
    '200': {
      description: 'An xz-compressed tar holding `<kernel>.btf`, the trimmed BTF.',
      headers: {
        'X-BTFHub-Kernel': header('X-BTFHub-Kernel'),
        'X-BTFHub-Objects-Hash': header('X-BTFHub-Objects-Hash'),
        'Content-Disposition': describedHeader('`attachment; filename="<kernel>.btf.tar.xz"`.'),
        'Server-Timing': header('Server-Timing'),
      },
      content: { 'application/octet-stream': binary('application/octet-stream') },
    },
    '404': response('KernelNotFound'),
    ...UPLOAD_FAILURES,
  },
});

export const compatOperations = [compatListOperation, compatDownloadOperation, compatCustomizeOperation];

/** The original's download headers (gin's DataFromReader with these extras). */
function fileTransfer(reply: FastifyReply): FastifyReply {
  return reply.header('content-description', 'File Transfer').header('content-transfer-encoding', 'binary');
}

export async function compatRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, compatListOperation, {}, async () => {
    const records = [];
    for (let offset = 0; ; offset += MAX_PAGE_LIMIT) {
      const page = await services.catalog.listKernels({}, { limit: MAX_PAGE_LIMIT, offset });
      for (const k of page.items) {
        records.push({ distribution: k.distro, distribution_version: k.distroVersion, kernel_version: k.kernel, arch: k.arch });
      }
      if (page.items.length < MAX_PAGE_LIMIT || offset + MAX_PAGE_LIMIT >= page.total) break;
    }
    return records;
  });

  addRoute(app, compatDownloadOperation, {}, async (request, reply) => {
    const record = await kernelOrGenerated(services, kernelRefFromCompat(request.query));
    const archive = await kernelBtf(services, record, 'btf.tar.xz');
    return sendBinary(fileTransfer(reply), archive, 'application/octet-stream', `${record.kernel}.btf.tar.xz`);
  });

  addRoute(app, compatCustomizeOperation, {}, async (request, reply) => {
    const kernel = kernelRefFromCompat(request.query);
    const timings = new StageTimings();
    const upload = await readUpload(request, { fileFields: ['bpf'], textFields: [], rejectUnknown: false, decompress: true }, timings);
    if (upload.files.length === 0) throw missingField('bpf', 'the BPF object is required, as a file part named "bpf"');
    const objects = upload.files.map(uploadedObject);
    const answer = await trimOrGenerate(services, kernel, objects, compatWaitMs(services), () => request.chargeWork(), timings).catch(
      (error: unknown) => {
        throw asBpfField(error);
      },
    );
    if (answer.kind === 'pending') throw stillWorking(`the trim for ${kernelLabel(kernel)} (job ${answer.jobId})`);
    const archiving = performance.now();
    const archive = await makeBtfTarXz(answer.kernel.kernel, answer.btf);
    timings.since('archive', archiving);
    reply.header('server-timing', timings.header());
    reply.header('x-btfhub-kernel', kernelLabel(answer.kernel)).header('x-btfhub-objects-hash', answer.objectsHash);
    return sendBinary(fileTransfer(reply), archive, 'application/octet-stream', `${answer.kernel.kernel}.btf.tar.xz`);
  });
}

function compatWaitMs(services: AppServices): number {
  return services.config.compatWaitMs ?? 60_000;
}

/** 503 with Retry-After: the work goes on, and asking again later is answered from the cache. */
function stillWorking(what: string): ApiError {
  return new ApiError(503, 'unavailable', `${what} is still running; retry later`, undefined, {
    headers: { 'retry-after': String(STILL_WORKING_SECONDS) },
  });
}

/** An error about the uploaded object, named as the original named its part: `bpf`. */
function asBpfField(error: unknown): unknown {
  const reply = toErrorReply(error);
  if (reply.body.field !== 'object') return error;
  return new ApiError(reply.status, reply.body.error, reply.body.message, 'bpf', { headers: reply.headers, cause: error });
}

/**
 * The kernel's record; an unknown kernel is generated first when on-miss generation applies
 * (waiting up to BTFHUB_COMPAT_WAIT_MS, a 503 past it, a 404 naming why when it failed).
 */
async function kernelOrGenerated(services: AppServices, ref: KernelRef): Promise<KernelRecord> {
  const record = await services.catalog.getKernel(ref);
  if (record !== null || !generatesOnMiss(services, ref.distro)) return requireKernel(services.catalog, ref);
  const id = generateJobId(ref, null);
  await services.queue.enqueue('generate', id, { kind: 'generate', kernel: ref });
  const status = await services.queue.waitFor('generate', id, compatWaitMs(services));
  if (status.state === 'failed') {
    throw new ApiError(
      404,
      'kernel_not_found',
      `no BTF for kernel ${kernelLabel(ref)}, and it could not be generated: ${status.error?.message ?? 'unknown error'}`,
    );
  }
  if (status.state !== 'completed') throw stillWorking(`the generation of ${kernelLabel(ref)} (job ${id})`);
  return requireKernel(services.catalog, ref);
}
