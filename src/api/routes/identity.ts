/**
 * POST /api/v1/identity: the archive identity of a host from its os-release text and uname,
 * by the same rules `btfhub fetch` applies (src/identity/host.ts), so that agents written
 * in other languages need not reimplement them. Pure: no catalog, store or queue.
 */
import type { FastifyInstance } from 'fastify';
import { IdentityError } from '../../identity/kernel-identity.js';
import { resolveHostIdentity } from '../../identity/host.js';
import { ApiError } from '../errors.js';
import { kernelPath } from '../http.js';
import { IdentityAnswer, IdentityRequest, type IdentityAnswerBody, type IdentityRequestBody } from '../identity-schema.js';
import { response } from '../openapi/components.js';
import { addRoute, defineOperation } from '../openapi/operation.js';
import { ErrorBody } from '../schemas.js';

const resolveIdentityOperation = defineOperation({
  method: 'post',
  path: '/api/v1/identity',
  operationId: 'resolveIdentity',
  tags: ['kernels'],
  summary: "A host's archive identity from its os-release and uname",
  description: `The rules \`btfhub fetch\` applies (src/identity/host.ts), for agents written in other
languages: os-release first, the kernel release as the fallback (a Debian container
on an Amazon Linux host runs Amazon's kernel), overrides when given. \`notes\` explains
every fallback and guess. Pure: no catalog lookup; \`kernel_url\` answers 404 when the
service has no BTF for the kernel.
`,
  request: { body: { required: true, content: { 'application/json': { schema: IdentityRequest } } } },
  responses: {
    '200': { description: 'The identity.', content: { 'application/json': { schema: IdentityAnswer } } },
    '400': response('BadRequest'),
    '413': response('PayloadTooLarge'),
    '415': {
      description: 'The body is not `application/json` (`unsupported_media_type`).',
      content: { 'application/json': { schema: ErrorBody } },
    },
  },
});

export const identityOperations = [resolveIdentityOperation];

/** The request field behind each identity field, when the value came from the request as is. */
function requestField(err: IdentityError, body: IdentityRequestBody): string {
  switch (err.field) {
    case 'arch':
      return 'uname_machine';
    case 'kernel_version':
      return 'uname_release';
    case 'distro':
      return body.distro !== undefined ? 'distro' : 'os_release';
    case 'distro_version':
      // With a distro given, the release is what is missing; otherwise the host's facts are.
      return body.distro_version !== undefined || body.distro !== undefined ? 'distro_version' : 'os_release';
  }
}

function identityAnswer(body: IdentityRequestBody): IdentityAnswerBody {
  let resolved;
  try {
    resolved = resolveHostIdentity(
      { osRelease: body.os_release ?? null, unameRelease: body.uname_release, unameMachine: body.uname_machine },
      { distro: body.distro, distroVersion: body.distro_version },
    );
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    const field = requestField(err, body);
    throw new ApiError(400, 'invalid_field', err.message.replace(/^[a-z_]+:/, `${field}:`), field);
  }
  const { ref } = resolved;
  return {
    distro: ref.distro,
    distro_version: ref.distroVersion,
    arch: ref.arch,
    kernel_version: ref.kernel,
    key: `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`,
    source: resolved.source,
    notes: resolved.notes,
    kernel_url: `/api/v1/kernels/${kernelPath(ref)}`,
  };
}

export async function identityRoutes(app: FastifyInstance): Promise<void> {
  addRoute(
    app,
    resolveIdentityOperation,
    {
      // Fastify also parses text/plain; this route takes JSON only (before validation: a 415, not a 400).
      preValidation: async (request) => {
        if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
          throw new ApiError(415, 'unsupported_media_type', 'expected a JSON body (Content-Type: application/json)');
        }
      },
    },
    async (request) => identityAnswer(request.body),
  );
}
