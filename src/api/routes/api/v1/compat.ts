/**
 * The routes of the original BTFHub Online (Go, 2021-22), kept so its clients work
 * unchanged: same paths, parameters, fields and formats. Where it answered a bad request
 * with an empty 500, these answer the API's JSON errors (400, 404, 413, 422...).
 *
 *   GET  /api/v1/list                     JSON array of {distribution, distribution_version, kernel_version, arch}
 *   GET  /api/v1/download?distribution=&distribution_version=&kernel_version=&arch=
 *                                         the kernel's .btf.tar.xz
 *   POST /api/v1/customize?<same four>    multipart field `bpf`: a .tar.xz holding the trimmed <kernel>.btf
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { makeBtfTarXz } from '../../../../archive/kernel-btf.js';
import { missingField } from '../../../errors.js';
import { kernelRefFromCompat, sendBinary, sendPending } from '../../../http.js';
import { kernelBtf } from '../../../kernel-files.js';
import { binary, describedHeader, header, response, UPLOAD_FAILURES } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { CompatList, CompatQuery, CustomizeForm, MAX_PAGE_LIMIT } from '../../../schemas.js';
import { kernelLabel, requireKernel, trimObjects, uploadedObject } from '../../../trim-service.js';
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

const compatCustomizeOperation = defineOperation({
  method: 'post',
  path: '/api/v1/customize',
  operationId: 'compatCustomize',
  tags: ['compatibility'],
  summary: 'Trim a kernel BTF for one BPF object (BTFHub Online)',
  description: `The object in the multipart field \`bpf\`; the kernel in the query. Answers a
\`.tar.xz\` holding the trimmed \`<kernel>.btf\`. Runs like \`POST /api/v1/btf\`
(same cache, same job, same wait; 202 when the job outlasts the wait).
`,
  request: { query: CompatQuery, body: { required: true, content: { 'multipart/form-data': { schema: CustomizeForm } } } },
  responses: {
    '200': {
      description: 'An xz-compressed tar holding `<kernel>.btf`, the trimmed BTF.',
      headers: {
        'X-BTFHub-Kernel': header('X-BTFHub-Kernel'),
        'X-BTFHub-Objects-Hash': header('X-BTFHub-Objects-Hash'),
        'Content-Disposition': describedHeader('`attachment; filename="<kernel>.btf.tar.xz"`.'),
      },
      content: { 'application/octet-stream': binary('application/octet-stream') },
    },
    '202': response('Accepted'),
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
    const record = await requireKernel(services.catalog, kernelRefFromCompat(request.query));
    const archive = await kernelBtf(services, record, 'btf.tar.xz');
    return sendBinary(fileTransfer(reply), archive, 'application/octet-stream', `${record.kernel}.btf.tar.xz`);
  });

  addRoute(app, compatCustomizeOperation, {}, async (request, reply) => {
    const kernel = kernelRefFromCompat(request.query);
    const upload = await readUpload(request, { fileFields: ['bpf'], textFields: [], rejectUnknown: false, decompress: true });
    if (upload.files.length === 0) throw missingField('bpf', 'the BPF object is required, as a file part named "bpf"');
    const objects = upload.files.map(uploadedObject);
    const answer = await trimObjects(services, kernel, objects, services.config.requestWaitMs);
    if (answer.kind === 'pending') return sendPending(reply, answer);
    const archive = await makeBtfTarXz(answer.kernel.kernel, answer.btf);
    reply.header('x-btfhub-kernel', kernelLabel(answer.kernel)).header('x-btfhub-objects-hash', answer.objectsHash);
    return sendBinary(fileTransfer(reply), archive, 'application/octet-stream', `${answer.kernel.kernel}.btf.tar.xz`);
  });
}
