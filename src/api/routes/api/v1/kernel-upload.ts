/**
 * POST /api/v1/kernels (admin): register one kernel's full BTF.
 *
 * Multipart: a `btf` file part (raw BTF, an ELF with .BTF, or a BTFHub `.btf.tar.xz`) and
 * the identity fields distro, distro_version, arch, kernel_version. The file is validated
 * as `btfhub import` validates archive files (unpacked, decoded on the codec executor, at
 * least one type) before anything is written: a file that does not decode is a 422 naming why, and nothing is
 * stored or registered. A `.btf.tar.xz` is stored as is, anything else as raw BTF (`.btf`,
 * the .BTF section of an ELF), under its sha256 (`kernelContentKey`): a
 * replacement is written beside the old content, then the catalog switches to it, and an
 * uploaded kernel wins over a `--archive` copy of the same identity on every restart.
 *
 * 201 for a new kernel, 200 when it replaced (`updated`) or equalled (`unchanged`) the
 * registered one.
 */
import type { FastifyInstance } from 'fastify';
import { isXz } from '../../../../archive/xz.js';
import { isKernelFileError, unpackKernelFile } from '../../../../coverage/kernel-source.js';
import { CodecTaskError, type KernelCheck } from '../../../../executor/codec-executor.js';
import { NO_TYPES } from '../../../../kernels/registry.js';
import { putContentAddressed } from '../../../../storage/content-addressed.js';
import { kernelContentKey } from '../../../../storage/keys.js';
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
raw BTF or an ELF's \`.BTF\` section as raw BTF, under a key made of its sha256
(docs/ARCHITECTURE.md, object-store layout); replacing a kernel writes the new content
beside the old, then switches the catalog to it, and trims are keyed by the kernel's
content, so nothing made from the old content is answered after. An uploaded kernel
wins over a \`--archive\` copy of the same identity, on every restart. 201 for a new
kernel; 200 when it replaced (\`updated\`) or equalled (\`unchanged\`) the registered one.
`,
  security: ADMIN_ONLY,
  request: {
    body: {
      required: true,
      content: { 'multipart/form-data': { schema: KernelUploadForm, encoding: { btf: { contentType: 'application/octet-stream' } } } },
    },
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

    // Unpacked here (xz runs as a child process), decoded on the codec executor: a hostile
    // kernel file never decodes on the event loop that answers /healthz.
    const invalid = (message: string) =>
      new ApiError(422, 'invalid_kernel', message.startsWith(file.filename) ? message : `${file.filename}: ${message}`, 'btf');
    let check: KernelCheck;
    let raw: Uint8Array;
    try {
      raw = await unpackKernelFile(file.bytes, file.filename);
      check = await services.codec.checkKernel(raw);
    } catch (error) {
      if (isKernelFileError(error) || (error instanceof CodecTaskError && error.stage === 'kernel')) throw invalid(error.message);
      throw error; // a thread's bound (memory, time) is answered as such
    }
    if (check.typeCount === 0) throw invalid(NO_TYPES);

    const packed = isXz(file.bytes);
    const bytes = packed ? file.bytes : (check.rawBtf ?? raw);
    const sha256 = sha256Hex(bytes);
    // Content first, under its own sha256 (beside any older content, never over it), then the
    // catalog switches to it in one statement: a crash in between leaves the old kernel whole,
    // and jobs still trimming the old content find it.
    const key = kernelContentKey(sha256, packed ? 'btf.tar.xz' : 'btf');
    await putContentAddressed(services.store, key, bytes, 'kernel');
    const outcome = await services.catalog.upsertKernel({ ...ref, storageKey: key, size: bytes.length, sha256 });
    request.log.info({ kernel: kernelLabel(ref), key, outcome }, 'kernel uploaded');
    const record = await requireKernel(services.catalog, ref);
    return reply.code(outcome === 'added' ? 201 : 200).send({ ...kernelInfo(record), outcome });
  });
}
