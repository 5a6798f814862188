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
import {
  normalizeArch,
  normalizeDistro,
  normalizeDistroVersion,
  validateIdentityValue,
} from '../../../../identity/kernel-identity.js';
import { kernelRefFromFields, negotiate, sendBinary } from '../../../http.js';
import { kernelBtf, kernelInfo } from '../../../kernel-files.js';
import { KernelListQuery, type KernelListQueryInput, KernelParams, type KernelParamsInput } from '../../../schemas.js';
import { requireKernel } from '../../../trim-service.js';

export const XZ_MEDIA_TYPE = 'application/x-xz';
export const RAW_MEDIA_TYPE = 'application/octet-stream';

/** The list filters, normalized like every identity (so `amd64` finds x86_64 kernels). */
function kernelFilter(query: KernelListQueryInput): KernelFilter {
  const filter: KernelFilter = {};
  let distro: ReturnType<typeof normalizeDistro> | undefined;
  if (query.distro !== undefined) filter.distro = distro = normalizeDistro(query.distro);
  if (query.distro_version !== undefined) {
    filter.distroVersion =
      distro === undefined ? validateIdentityValue('distro_version', query.distro_version) : normalizeDistroVersion(distro, query.distro_version);
  }
  if (query.arch !== undefined) filter.arch = normalizeArch(query.arch);
  if (query.kernel_prefix !== undefined && query.kernel_prefix !== '') filter.kernelPrefix = query.kernel_prefix;
  return filter;
}

export async function kernelRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  app.get<{ Querystring: KernelListQueryInput }>('/api/v1/kernels', { schema: { querystring: KernelListQuery } }, async (request) => {
    const { limit, offset } = request.query;
    const page = await services.catalog.listKernels(kernelFilter(request.query), { limit, offset });
    return { items: page.items.map(kernelInfo), total: page.total, limit, offset };
  });

  app.get<{ Params: KernelParamsInput }>(
    '/api/v1/kernels/:distro/:distro_version/:arch/:kernel_version',
    { schema: { params: KernelParams } },
    async (request) => kernelInfo(await requireKernel(services.catalog, kernelRefFromFields(request.params))),
  );

  app.get<{ Params: KernelParamsInput }>(
    '/api/v1/kernels/:distro/:distro_version/:arch/:kernel_version/btf',
    { schema: { params: KernelParams } },
    async (request, reply) => {
      const record = await requireKernel(services.catalog, kernelRefFromFields(request.params));
      const type = negotiate(request.headers.accept, [RAW_MEDIA_TYPE, XZ_MEDIA_TYPE], RAW_MEDIA_TYPE);
      reply.header('vary', 'Accept');
      if (type === XZ_MEDIA_TYPE) {
        return sendBinary(reply, await kernelBtf(services.store, record, 'btf.tar.xz'), XZ_MEDIA_TYPE, `${record.kernel}.btf.tar.xz`);
      }
      return sendBinary(reply, await kernelBtf(services.store, record, 'btf', services.limits), RAW_MEDIA_TYPE, `${record.kernel}.btf`);
    },
  );
}
