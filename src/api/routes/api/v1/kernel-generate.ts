/**
 * POST /api/v1/kernels/generate (admin): make a kernel's BTF from its debug package.
 *
 * Multipart: the identity fields distro, distro_version, arch, kernel_version and a `package`
 * file part (.deb/.ddeb, RPM or a vmlinux with DWARF), which may be left out when debug
 * repositories are configured for the distro. The package streams to a temporary file (it
 * can be hundreds of MB; never held in memory), bounded by BTFHUB_MAX_PACKAGE_BYTES, is put
 * in the object store under `packages/<sha256>.pkg` (so any worker can run the job; the job
 * deletes it), and a generate job is enqueued: 202 with `Location: /api/v1/jobs/{id}`.
 *
 * The same package for the same kernel is one job: while it is waiting, running or done, the
 * upload is not stored again.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { generateJobId, type GenerateJobData, type UploadedPackageRef } from '../../../../queue/kinds.js';
import { putFileStreaming } from '../../../../storage/file-transfer.js';
import { packageKey } from '../../../../storage/keys.js';
import { GENERATE_DEFAULTS } from '../../../../config/schema.js';
import { ApiError } from '../../../errors.js';
import { GenerateAccepted, GenerateFields, GenerateForm } from '../../../generate-schemas.js';
import { distrosWithRepositories } from '../../../generate-service.js';
import { kernelRefFromFields } from '../../../http.js';
import { ADMIN_ONLY, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { parseInput } from '../../../plugins/app/zod-validation.js';
import { kernelLabel } from '../../../trim-service.js';

const FIELDS = ['distro', 'distro_version', 'arch', 'kernel_version'] as const;

const generateKernelOperation = defineOperation({
  method: 'post',
  path: '/api/v1/kernels/generate',
  operationId: 'generateKernel',
  tags: ['kernels'],
  summary: "Generate a kernel's BTF from its debug package (admin)",
  description: `Runs pahole on the debug vmlinux of the package (docs/GENERATE.md) in a \`generate\` job,
stores the result as \`<distro>/<distro_version>/<arch>/<kernel_version>.btf.tar.xz\` and registers
the kernel with its provenance (\`GET /api/v1/kernels/...\`); \`POST /api/v1/btf\` and
\`/api/v1/customize\` then serve it. Without a \`package\` part, the package is looked up in the
debug repositories configured for the distro (\`BTFHUB_GENERATE_REPOSITORIES\`). Answers 202 with
the job's URL in \`Location\`. A failed generation leaves a \`.failed\` marker with its reason and
registers nothing; the job's \`error.message\` starts with the cause's code.
`,
  security: ADMIN_ONLY,
  request: {
    body: {
      required: true,
      content: { 'multipart/form-data': { schema: GenerateForm, encoding: { package: { contentType: 'application/octet-stream' } } } },
    },
  },
  responses: {
    '202': {
      description: 'The generate job is queued (or was already); follow `Location` (`GET /api/v1/jobs/{id}`).',
      headers: { Location: { $ref: '#/components/headers/Location' } },
      content: { 'application/json': { schema: GenerateAccepted } },
    },
    '400': response('BadRequest'),
    '401': response('Unauthorized'),
    '403': response('AdminDisabled'),
    '413': response('PayloadTooLarge'),
    '415': response('UnsupportedMediaType'),
    '429': response('RateLimited'),
    '503': response('Unavailable'),
  },
});

export const kernelGenerateOperations = [generateKernelOperation];

interface ReceivedPackage {
  path: string;
  fileName: string;
  sha256: string;
  size: number;
}

/** Headroom over the package for the identity fields and the multipart framing. */
const FORM_OVERHEAD_BYTES = 64 * 1024;

export async function kernelGenerateRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  const maxPackageBytes = services.config.generate?.maxPackageBytes ?? GENERATE_DEFAULTS.maxPackageBytes;

  addRoute(app, generateKernelOperation, { preHandler: app.adminOnly }, async (request, reply) => {
    if (!request.isMultipart()) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        `expected multipart/form-data, got ${request.headers['content-type'] ?? 'no Content-Type'}`,
      );
    }
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxPackageBytes + FORM_OVERHEAD_BYTES) throw packageTooLarge(maxPackageBytes);

    const dir = await mkdtemp(join(tmpdir(), 'btfhub-package-'));
    try {
      const { fields, pkg } = await receive(request, dir, maxPackageBytes);
      const ref = kernelRefFromFields(parseInput(GenerateFields, fields));
      if (pkg === undefined && !distrosWithRepositories(services).has(ref.distro)) {
        throw new ApiError(
          400,
          'missing_field',
          `the debug package is required, as a file part named "package": no debug repositories are configured for ${ref.distro}`,
          'package',
        );
      }
      const id = generateJobId(ref, pkg?.sha256 ?? null);
      const data: GenerateJobData = { kind: 'generate', kernel: ref };
      const existing = await services.queue.status('generate', id);
      const runs =
        existing.state === 'waiting' ||
        existing.state === 'active' ||
        existing.state === 'completed' ||
        (existing.state === 'failed' && existing.error?.clientError === true);
      if (pkg !== undefined) {
        const ref: UploadedPackageRef = { key: packageKey(pkg.sha256), sha256: pkg.sha256, fileName: pkg.fileName, size: pkg.size };
        data.package = ref;
        // A job that will not run again needs no copy (it would never be deleted).
        if (!runs) await putFileStreaming(services.store, ref.key, pkg.path);
      }
      await services.queue.enqueue('generate', id, data);
      const state = runs ? existing.state : 'waiting';
      request.log.info({ kernel: kernelLabel(ref), jobId: id, package: pkg?.fileName, bytes: pkg?.size }, 'generation requested');
      return reply
        .code(202)
        .header('location', `/api/v1/jobs/${encodeURIComponent(id)}`)
        .send({ job_id: id, state });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/** The form: text fields in memory, the `package` part streamed to a file in `dir`, hashed on the way. */
async function receive(
  request: FastifyRequest,
  dir: string,
  maxPackageBytes: number,
): Promise<{ fields: Record<string, string>; pkg?: ReceivedPackage }> {
  const fields: Record<string, string> = {};
  let pkg: ReceivedPackage | undefined;
  try {
    for await (const part of request.parts({ limits: { fileSize: maxPackageBytes, files: 1 } })) {
      const name = part.fieldname;
      if (part.type === 'file') {
        if (name !== 'package') {
          part.file.resume();
          throw unexpectedPart(name);
        }
        const fileName = part.filename || 'package';
        const path = join(dir, 'package');
        const hash = createHash('sha256');
        let size = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(part.file, counter, createWriteStream(path, { flags: 'wx' }));
        if (part.file.truncated) throw packageTooLarge(maxPackageBytes);
        pkg = { path, fileName, sha256: hash.digest('hex'), size };
        continue;
      }
      if (name === 'package')
        throw new ApiError(400, 'invalid_field', 'package must be a file part (with a filename), not a text field', 'package');
      if (!(FIELDS as readonly string[]).includes(name)) throw unexpectedPart(name);
      if (part.valueTruncated) throw new ApiError(413, 'payload_too_large', `field ${name} is too long`, name);
      if (name in fields) throw new ApiError(400, 'invalid_field', `field ${name} given more than once`, name);
      fields[name] = String(part.value);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw packageTooLarge(maxPackageBytes);
    if (code === 'FST_FILES_LIMIT') throw new ApiError(400, 'invalid_field', 'one package per request', 'package');
    if (typeof (err as { statusCode?: unknown } | null)?.statusCode === 'number') throw err;
    throw new ApiError(400, 'bad_request', `malformed multipart body: ${err instanceof Error ? err.message : String(err)}`, undefined, {
      cause: err,
    });
  }
  return pkg === undefined ? { fields } : { fields, pkg };
}

function packageTooLarge(maxPackageBytes: number): ApiError {
  return new ApiError(
    413,
    'payload_too_large',
    `the package is larger than ${maxPackageBytes} bytes (BTFHUB_MAX_PACKAGE_BYTES)`,
    'package',
    {
      headers: { connection: 'close' },
    },
  );
}

function unexpectedPart(name: string): ApiError {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  return new ApiError(400, 'invalid_field', `unexpected part ${shown}; expected package, ${FIELDS.join(', ')}`, name);
}
