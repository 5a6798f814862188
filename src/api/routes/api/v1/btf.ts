/**
 * /api/v1/btf: upload BPF objects, get the kernel BTF trimmed to what they need.
 *
 *   POST /api/v1/btf                      multipart: `object` (1..N files) + distro, distro_version, arch, kernel_version
 *   GET  /api/v1/btf/{objectsHash}/{distro}/{distro_version}/{arch}/{kernel_version}
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, missingField } from '../../../errors.js';
import { etagOf, ifNoneMatchMatches, kernelRefFromFields, sendBinary, sendPending, setTrimHeaders } from '../../../http.js';
import { binary, header, response, UPLOAD_FAILURES } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { BtfUploadFields, BtfUploadForm, ErrorBody, TrimParams } from '../../../schemas.js';
import { trimOrGenerate } from '../../../generate-service.js';
import { readVerified, reportDamage } from '../../../../storage/integrity.js';
import { countHit, currentKernelSha256, kernelLabel, type TrimAnswer, uploadedObject } from '../../../trim-service.js';
import { StageTimings } from '../../../stage-timings.js';
import { readUpload } from '../../../uploads.js';
import { z } from '../../../zod.js';

const UPLOAD_FIELDS = ['distro', 'distro_version', 'arch', 'kernel_version'] as const;

/** The answer holding a trimmed BTF, and the headers saying what it is. */
const TRIMMED_BTF_HEADERS = {
  ETag: header('ETag'),
  'X-BTFHub-Kernel': header('X-BTFHub-Kernel'),
  'X-BTFHub-Objects-Hash': header('X-BTFHub-Objects-Hash'),
  'X-BTFHub-Cache': header('X-BTFHub-Cache'),
};

/** The POST answers (200 and 202) say where their time went. */
const SERVER_TIMING = { 'Server-Timing': header('Server-Timing') };

const trimBtfOperation = defineOperation({
  method: 'post',
  path: '/api/v1/btf',
  operationId: 'trimBtf',
  tags: ['trim'],
  summary: 'Trim a kernel BTF for BPF objects',
  description: `Stores the objects, queues a trim job and waits for it up to the configured time
(BTFHUB_REQUEST_WAIT_MS, 10 s by default). A trim already built for the same
objects and kernel is answered at once from the cache (\`X-BTFHub-Cache: hit\`).

Concurrent identical requests share one job. When the job is not done in time the
answer is 202 with the job's URL in \`Location\`; follow it with
\`GET /api/v1/jobs/{id}\`, then fetch the result from its \`result.url\`.

With \`BTFHUB_GENERATE=on-miss\` and debug repositories configured for the distro, an
unknown kernel is not a 404: a \`generate\` job makes its BTF from the distribution's debug
package, registers it and then trims (202 with that job's URL while it runs; its
\`result.url\` is the trimmed BTF). A kernel that cannot be generated is a 404 naming why.

The objects hash (\`X-BTFHub-Objects-Hash\`, and the key of
\`GET /api/v1/btf/{objectsHash}/...\`) is the sha256 of the objects' distinct
sha256s in lowercase hex, sorted, joined by a line feed (\`\\n\`, none at the end).
For one object it is \`sha256(hex(sha256(object)))\`. In a shell:
\`printf '%s' "$(sha256sum a.o b.o | cut -d' ' -f1 | LC_ALL=C sort -u)" | sha256sum\`.
`,
  request: {
    body: {
      required: true,
      content: { 'multipart/form-data': { schema: BtfUploadForm, encoding: { object: { contentType: 'application/octet-stream' } } } },
    },
  },
  responses: {
    '200': {
      description: 'The trimmed BTF (raw BTF, magic 0xEB9F).',
      headers: { ...TRIMMED_BTF_HEADERS, ...SERVER_TIMING },
      content: { 'application/octet-stream': binary('application/octet-stream') },
    },
    '202': response('Accepted'),
    '404': response('KernelNotFound'),
    ...UPLOAD_FAILURES,
  },
});

const getTrimmedBtfOperation = defineOperation({
  method: 'get',
  path: '/api/v1/btf/{objectsHash}/{distro}/{distro_version}/{arch}/{kernel_version}',
  operationId: 'getTrimmedBtf',
  tags: ['trim'],
  summary: 'A trimmed BTF already built',
  description: `The result of an earlier \`POST /api/v1/btf\` for the same objects and kernel,
without uploading the objects again. \`objectsHash\` is defined under
\`POST /api/v1/btf\`. With \`If-None-Match\` holding the ETag, the answer is 304.
`,
  request: {
    params: TrimParams,
    headers: z.object({
      'If-None-Match': z.string().optional().describe('An ETag from an earlier answer (`"<sha256>"`, `W/"<sha256>"` or `*`).'),
    }),
  },
  responses: {
    '200': {
      description: 'The trimmed BTF.',
      headers: TRIMMED_BTF_HEADERS,
      content: { 'application/octet-stream': binary('application/octet-stream') },
    },
    '304': {
      description: "Not modified; the client's copy is current.",
      headers: { ETag: header('ETag') },
    },
    '400': response('BadRequest'),
    '404': { description: 'No such trim (`trim_not_found`).', content: { 'application/json': { schema: ErrorBody } } },
    '503': response('Unavailable'),
  },
});

export const btfOperations = [trimBtfOperation, getTrimmedBtfOperation];

type ReadyAnswer = Extract<TrimAnswer, { kind: 'ready' }>;

function sendReady(reply: FastifyReply, answer: ReadyAnswer): FastifyReply {
  setTrimHeaders(reply, answer.sha256, answer.kernel, answer.objectsHash, answer.cached ? 'hit' : 'miss');
  return sendBinary(reply, answer.btf, 'application/octet-stream');
}

export async function btfRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, trimBtfOperation, {}, async (request, reply) => {
    const timings = new StageTimings();
    const upload = await readUpload(
      request,
      { fileFields: ['object'], textFields: UPLOAD_FIELDS, rejectUnknown: true, decompress: true },
      timings,
    );
    const fields = parseInput(BtfUploadFields, upload.fields);
    if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
    const kernel = kernelRefFromFields(fields);
    const objects = upload.files.map(uploadedObject);
    const answer = await trimOrGenerate(services, kernel, objects, services.config.requestWaitMs, () => request.chargeWork(), timings);
    reply.header('server-timing', timings.header());
    return answer.kind === 'pending' ? sendPending(reply, answer) : sendReady(reply, answer);
  });

  addRoute(app, getTrimmedBtfOperation, {}, async (request, reply) => {
    const { objectsHash } = request.params;
    const kernel = kernelRefFromFields(request.params);
    // The kernel's current content, then from memory when the API has it; else the catalog's
    // row now and the store only if the bytes are wanted.
    const current = await currentKernelSha256(services, kernel, objectsHash);
    const kernelSha256 = current.sha256;
    const remembered = current.remembered ?? services.trimCache.get(objectsHash, kernel, kernelSha256);
    const trim = remembered === undefined ? await services.catalog.getTrim(objectsHash, kernel, kernelSha256) : null;
    const sha256 = remembered?.sha256 ?? trim?.resultSha256;
    if (sha256 === undefined) {
      throw new ApiError(
        404,
        'trim_not_found',
        `no trimmed BTF for objects ${objectsHash} and kernel ${kernelLabel(kernel)}; POST /api/v1/btf builds it`,
      );
    }
    const etag = etagOf(sha256);
    if (ifNoneMatchMatches(request.headers['if-none-match'], etag)) {
      services.metrics.recordTrim('hit');
      return reply.code(304).header('etag', etag).send();
    }
    let btf = remembered?.btf;
    if (btf === undefined && trim !== null) {
      const read = await readVerified(services.store, trim.resultKey, trim.resultSha256);
      if (read.state === 'damaged') {
        // Never sent: the objects are not at hand here, so a POST of them builds it again (and its job replaces the copy).
        reportDamage({ kind: 'trim_result', key: trim.resultKey, expected: trim.resultSha256, actual: read.actual, action: 'refused' });
        throw new ApiError(
          404,
          'trim_not_found',
          `the stored trimmed BTF for objects ${objectsHash} is damaged; POST /api/v1/btf builds it again`,
        );
      }
      if (read.state === 'ok') {
        btf = read.bytes;
        services.trimCache.set(objectsHash, kernel, kernelSha256, btf, sha256);
      }
    }
    if (btf === undefined) {
      throw new ApiError(
        404,
        'trim_not_found',
        `the trimmed BTF for objects ${objectsHash} is no longer stored; POST /api/v1/btf builds it again`,
      );
    }
    await countHit(services, objectsHash, kernel, kernelSha256);
    services.metrics.recordTrim('hit');
    setTrimHeaders(reply, sha256, kernel, objectsHash, 'hit');
    return sendBinary(reply, btf, 'application/octet-stream');
  });
}
