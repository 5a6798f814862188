/**
 * The kernels the service can trim for.
 *
 *   GET /api/v1/kernels                                                    list (filters, pages)
 *   GET /api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}  metadata
 *   GET /api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}/btf
 *       the full BTF: `.btf.tar.xz` with `Accept: application/x-xz`, raw BTF otherwise
 */
import type { FastifyInstance } from 'fastify';
import type { KernelFilter } from '../../../../catalog/catalog.js';
import { normalizeArch, normalizeDistro, normalizeDistroVersion, validateIdentityValue } from '../../../../identity/kernel-identity.js';
import { kernelRefFromFields, negotiate, sendBinary } from '../../../http.js';
import { kernelBtf, kernelInfo, provenanceByKernel } from '../../../kernel-files.js';
import { binary, describedHeader, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { KernelInfo, KernelList, KernelListQuery, type KernelListQueryInput, KernelParams } from '../../../schemas.js';
import { kernelLabel, requireKernel } from '../../../trim-service.js';
import { z } from '../../../zod.js';

const XZ_MEDIA_TYPE = 'application/x-xz';
const RAW_MEDIA_TYPE = 'application/octet-stream';

const listKernelsOperation = defineOperation({
  method: 'get',
  path: '/api/v1/kernels',
  operationId: 'listKernels',
  tags: ['kernels'],
  summary: 'Kernels with BTF',
  description: 'Ordered by distro, distro version, arch and kernel; filters combine with AND.',
  request: { query: KernelListQuery },
  responses: {
    '200': { description: 'One page, and the total number of matching kernels.', content: { 'application/json': { schema: KernelList } } },
    '400': response('BadRequest'),
    '503': response('Unavailable'),
  },
});

const getKernelOperation = defineOperation({
  method: 'get',
  path: '/api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}',
  operationId: 'getKernel',
  tags: ['kernels'],
  summary: "A kernel's metadata",
  description:
    "Where its BTF is and, for a kernel the service generated (`source: generated`), its provenance: the package (name, version, sha256, URL), pahole's version and flags, and when.",
  request: { params: KernelParams },
  responses: {
    '200': { description: 'The kernel.', content: { 'application/json': { schema: KernelInfo } } },
    '400': response('BadRequest'),
    '404': response('KernelNotFound'),
    '503': response('Unavailable'),
  },
});

const getKernelBtfOperation = defineOperation({
  method: 'get',
  path: '/api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}/btf',
  operationId: 'getKernelBtf',
  tags: ['kernels'],
  summary: "A kernel's full BTF",
  description: `With \`Accept: application/x-xz\`, the BTFHub archive file \`<kernel>.btf.tar.xz\`
(an xz-compressed tar holding \`<kernel>.btf\`); otherwise the raw BTF. Either is
made from the other when the store holds only one.
`,
  request: {
    params: KernelParams,
    headers: z.object({
      Accept: z
        .string()
        .optional()
        .default(RAW_MEDIA_TYPE)
        .openapi({ examples: [XZ_MEDIA_TYPE, RAW_MEDIA_TYPE] }),
    }),
  },
  responses: {
    '200': {
      description: "The kernel's BTF.",
      headers: {
        'Content-Disposition': describedHeader('`attachment; filename="<kernel>.btf"` or `"<kernel>.btf.tar.xz"`.'),
        Vary: describedHeader('`Accept`.'),
      },
      content: { [RAW_MEDIA_TYPE]: binary(RAW_MEDIA_TYPE), [XZ_MEDIA_TYPE]: binary(XZ_MEDIA_TYPE) },
    },
    '400': response('BadRequest'),
    '404': response('KernelNotFound'),
    '500': response('InternalError'),
    '503': response('Unavailable'),
  },
});

export const kernelOperations = [listKernelsOperation, getKernelOperation, getKernelBtfOperation];

/** The list filters, normalized like every identity (so `amd64` finds x86_64 kernels). */
function kernelFilter(query: KernelListQueryInput): KernelFilter {
  const filter: KernelFilter = {};
  let distro: ReturnType<typeof normalizeDistro> | undefined;
  if (query.distro !== undefined) filter.distro = distro = normalizeDistro(query.distro);
  if (query.distro_version !== undefined) {
    filter.distroVersion =
      distro === undefined
        ? validateIdentityValue('distro_version', query.distro_version)
        : normalizeDistroVersion(distro, query.distro_version);
  }
  if (query.arch !== undefined) filter.arch = normalizeArch(query.arch);
  if (query.kernel_prefix !== undefined && query.kernel_prefix !== '') filter.kernelPrefix = query.kernel_prefix;
  return filter;
}

export async function kernelRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, listKernelsOperation, {}, async (request) => {
    const { limit, offset } = request.query;
    const filter = kernelFilter(request.query);
    const [page, provenance] = await Promise.all([
      services.catalog.listKernels(filter, { limit, offset }),
      provenanceByKernel(services.catalog, filter),
    ]);
    return { items: page.items.map((k) => kernelInfo(k, provenance.get(kernelLabel(k)))), total: page.total, limit, offset };
  });

  addRoute(app, getKernelOperation, {}, async (request) => {
    const ref = kernelRefFromFields(request.params);
    const [record, provenance] = await Promise.all([requireKernel(services.catalog, ref), services.catalog.getKernelProvenance(ref)]);
    return kernelInfo(record, provenance);
  });

  addRoute(app, getKernelBtfOperation, {}, async (request, reply) => {
    const record = await requireKernel(services.catalog, kernelRefFromFields(request.params));
    const type = negotiate(request.headers.accept, [RAW_MEDIA_TYPE, XZ_MEDIA_TYPE], RAW_MEDIA_TYPE);
    reply.header('vary', 'Accept');
    if (type === XZ_MEDIA_TYPE) {
      return sendBinary(reply, await kernelBtf(services, record, 'btf.tar.xz'), XZ_MEDIA_TYPE, `${record.kernel}.btf.tar.xz`);
    }
    return sendBinary(reply, await kernelBtf(services, record, 'btf', services.limits), RAW_MEDIA_TYPE, `${record.kernel}.btf`);
  });
}
