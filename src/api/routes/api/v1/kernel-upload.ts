/**
 * POST /api/v1/kernels (admin): register one kernel's full BTF.
 *
 * Multipart: a `btf` file part (raw BTF, an ELF with .BTF, or a BTFHub `.btf.tar.xz`) and
 * the identity fields distro, distro_version, arch, kernel_version. The file is validated
 * as `btfhub import` validates archive files (unpacked, decoded, at least one type) before
 * anything is written: a file that does not decode is a 422 naming why, and nothing is
 * stored or registered. A `.btf.tar.xz` is stored as is, anything else as raw BTF (`.btf`,
 * the .BTF section of an ELF), under the archive layout's key.
 *
 * 201 for a new kernel, 200 when it replaced (`updated`) or equalled (`unchanged`) the
 * registered one.
 */
import type { FastifyInstance } from 'fastify';
import { isXz } from '../../../../archive/xz.js';
import type { Btf } from '../../../../btf/btf.js';
import { decodeKernelFile, isKernelFileError } from '../../../../coverage/kernel-source.js';
import { kernelKey } from '../../../../storage/keys.js';
import { KernelUploaded, KernelUploadFields, KernelUploadForm } from '../../../coverage-schemas.js';
import { ApiError, missingField } from '../../../errors.js';
import { kernelRefFromFields } from '../../../http.js';
import { kernelInfo } from '../../../kernel-files.js';
import { ADMIN_ONLY, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { ErrorBody } from '../../../schemas.js';
import { kernelLabel, requireKernel, sha256Hex } from '../../../trim-service.js';
import { readUpload } from '../../../uploads.js';

const FIELDS = ['distro', 'distro_version', 'arch', 'kernel_version'] as const;

const uploadKernelOperation = defineOperation({
  method: 'post',
  path: '/api/v1/kernels',
  operationId: 'uploadKernel',
  tags: ['kernels'],
  summary: "Register one kernel's full BTF (admin)",
  description: `The file is validated as \`btfhub import\` validates archive files (unpacked, decoded,
at least one type) before anything is written: one that does not decode is a 422
naming why, and nothing is stored or registered. A \`.btf.tar.xz\` is stored as is,
raw BTF or an ELF's \`.BTF\` section as raw BTF, under
\`<distro>/<distro_version>/<arch>/<kernel_version>.btf[.tar.xz]\`. 201 for a new
kernel; 200 when it replaced (\`updated\`) or equalled (\`unchanged\`) the registered one.
`,
  security: ADMIN_ONLY,
  request: {
    body: { required: true, content: { 'multipart/form-data': { schema: KernelUploadForm, encoding: { btf: { contentType: 'application/octet-stream' } } } } },
  },
  responses: {
    '200': {
      description: 'The kernel was registered already; replaced (`updated`) or the same (`unchanged`).',
      content: { 'application/json': { schema: KernelUploaded } },
    },
    '201': { description: 'A new kernel (`added`).', content: { 'application/json': { schema: KernelUploaded } } },
    '400': response('BadRequest'),
    '401': response('Unauthorized'),
    '403': response('AdminDisabled'),
    '413': response('PayloadTooLarge'),
    '415': response('UnsupportedMediaType'),
    '422': {
      description: 'The file does not decode as kernel BTF (`invalid_kernel`, `field` is `btf`); the message says why.',
      content: { 'application/json': { schema: ErrorBody } },
    },
    '429': response('RateLimited'),
    '503': response('Unavailable'),
  },
});

export const kernelUploadOperations = [uploadKernelOperation];

export async function kernelUploadRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, uploadKernelOperation, { preHandler: app.adminOnly }, async (request, reply) => {
    const upload = await readUpload(request, { fileFields: ['btf'], textFields: FIELDS, rejectUnknown: true });
    const fields = parseInput(KernelUploadFields, upload.fields);
    const [file, ...more] = upload.files;
    if (file === undefined) throw missingField('btf', 'the kernel BTF is required, as a file part named "btf"');
    if (more.length > 0) throw new ApiError(400, 'invalid_field', 'one kernel BTF per request', 'btf');
    const ref = kernelRefFromFields(fields);

    let btf: Btf;
    try {
      btf = await decodeKernelFile(file.bytes, file.filename);
    } catch (error) {
      if (isKernelFileError(error)) {
        const message = error.message.startsWith(file.filename) ? error.message : `${file.filename}: ${error.message}`;
        throw new ApiError(422, 'invalid_kernel', message, 'btf');
      }
      throw error;
    }
    if (btf.typeCount <= 1) throw new ApiError(422, 'invalid_kernel', `${file.filename}: the BTF holds no types`, 'btf');

    const packed = isXz(file.bytes);
    const bytes = packed ? file.bytes : btf.bytes;
    const key = kernelKey(ref, packed ? 'btf.tar.xz' : 'btf');
    const sha256 = sha256Hex(bytes);
    const present = await services.store.head(key);
    const same = present !== null && present.size === bytes.length && sha256Hex((await services.store.get(key)) ?? new Uint8Array()) === sha256;
    if (!same) await services.store.put(key, bytes);
    const outcome = await services.catalog.upsertKernel({ ...ref, storageKey: key, size: bytes.length, sha256 });
    request.log.info({ kernel: kernelLabel(ref), key, outcome }, 'kernel uploaded');
    const record = await requireKernel(services.catalog, ref);
    return reply.code(outcome === 'added' ? 201 : 200).send({ ...kernelInfo(record), outcome });
  });
}
