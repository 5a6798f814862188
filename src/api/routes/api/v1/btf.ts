/**
 * /api/v1/btf: upload BPF objects, get the kernel BTF trimmed to what they need.
 *
 *   POST /api/v1/btf                      multipart: `object` (1..N files) + distro, distro_version, arch, kernel_version
 *   GET  /api/v1/btf/{objectsHash}/{distro}/{distro_version}/{arch}/{kernel_version}
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, missingField } from '../../../errors.js';
import { etagOf, ifNoneMatchMatches, kernelRefFromFields, sendBinary, sendPending, setTrimHeaders } from '../../../http.js';
import { BtfUploadFields, TrimParams, type TrimParamsInput } from '../../../schemas.js';
import { countHit, kernelLabel, trimObjects, type TrimAnswer, uploadedObject } from '../../../trim-service.js';
import { readUpload } from '../../../uploads.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';

const UPLOAD_FIELDS = ['distro', 'distro_version', 'arch', 'kernel_version'] as const;

type ReadyAnswer = Extract<TrimAnswer, { kind: 'ready' }>;

function sendReady(reply: FastifyReply, answer: ReadyAnswer): FastifyReply {
  setTrimHeaders(reply, answer.sha256, answer.kernel, answer.objectsHash, answer.cached ? 'hit' : 'miss');
  return sendBinary(reply, answer.btf, 'application/octet-stream');
}

export async function btfRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  app.post('/api/v1/btf', async (request, reply) => {
    const upload = await readUpload(request, { fileFields: ['object'], textFields: UPLOAD_FIELDS, rejectUnknown: true, decompress: true });
    const fields = parseInput(BtfUploadFields, upload.fields);
    if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
    const kernel = kernelRefFromFields(fields);
    const objects = upload.files.map(uploadedObject);
    const answer = await trimObjects(services, kernel, objects, services.config.requestWaitMs);
    return answer.kind === 'pending' ? sendPending(reply, answer) : sendReady(reply, answer);
  });

  app.get<{ Params: TrimParamsInput }>(
    '/api/v1/btf/:objectsHash/:distro/:distro_version/:arch/:kernel_version',
    { schema: { params: TrimParams } },
    async (request, reply) => {
      const { objectsHash } = request.params;
      const kernel = kernelRefFromFields(request.params);
      // From memory when the API has it; else the catalog's row now and the store only if the bytes are wanted.
      const remembered = services.trimCache.get(objectsHash, kernel);
      const trim = remembered === undefined ? await services.catalog.getTrim(objectsHash, kernel) : null;
      const sha256 = remembered?.sha256 ?? trim?.resultSha256;
      if (sha256 === undefined) {
        throw new ApiError(404, 'trim_not_found', `no trimmed BTF for objects ${objectsHash} and kernel ${kernelLabel(kernel)}; POST /api/v1/btf builds it`);
      }
      const etag = etagOf(sha256);
      if (ifNoneMatchMatches(request.headers['if-none-match'], etag)) {
        services.metrics.recordTrim('hit');
        return reply.code(304).header('etag', etag).send();
      }
      const btf = remembered?.btf ?? (trim === null ? null : await services.store.get(trim.resultKey));
      if (btf === null) {
        throw new ApiError(404, 'trim_not_found', `the trimmed BTF for objects ${objectsHash} is no longer stored; POST /api/v1/btf builds it again`);
      }
      if (remembered === undefined) services.trimCache.set(objectsHash, kernel, btf, sha256);
      await countHit(services, objectsHash, kernel);
      services.metrics.recordTrim('hit');
      setTrimHeaders(reply, sha256, kernel, objectsHash, 'hit');
      return sendBinary(reply, btf, 'application/octet-stream');
    },
  );
}
