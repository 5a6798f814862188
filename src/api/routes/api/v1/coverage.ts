/**
 * What the service covers, per distro / release / arch.
 *
 *   GET /api/v1/coverage                                  every group: kernel count, oldest and newest
 *                                                         kernel (version order), last added, BTFHub markers
 *   GET /api/v1/coverage/{distro}/{distro_version}/{arch} the group's kernels and markers
 *
 * JSON by default, CSV with `Accept: text/csv`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Catalog, KernelFilter, KernelMarkerRecord, KernelProvenance, KernelRecord } from '../../../../catalog/catalog.js';
import { matchingKernels } from '../../../coverage-service.js';
import { Coverage, type CoverageBody, type CoverageEntryBody, CoverageKernels, CoverageParams } from '../../../coverage-schemas.js';
import { ApiError } from '../../../errors.js';
import { negotiate } from '../../../http.js';
import { normalizeArch, normalizeDistro, normalizeDistroVersion } from '../../../../identity/kernel-identity.js';
import { kernelInfo, provenanceByKernel } from '../../../kernel-files.js';
import { kernelLabel } from '../../../trim-service.js';
import { header, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { ErrorBody, MAX_PAGE_LIMIT } from '../../../schemas.js';
import { z } from '../../../zod.js';

const JSON_TYPE = 'application/json';
const CSV_TYPE = 'text/csv';

/** The Accept header of routes that answer JSON or CSV. */
const AcceptCsv = z.object({
  Accept: z
    .string()
    .optional()
    .default(JSON_TYPE)
    .openapi({ description: '`text/csv` for CSV; JSON otherwise.', examples: [CSV_TYPE, JSON_TYPE] }),
});

const getCoverageOperation = defineOperation({
  method: 'get',
  path: '/api/v1/coverage',
  operationId: 'getCoverage',
  tags: ['coverage'],
  summary: 'What the service covers, per distro / release / arch',
  description: `Per distro, release and arch: how many kernels the service has BTF for, the oldest
and newest kernel release (version order: \`5.4.0-42\` before \`5.4.0-100\`), when the
last one was registered, and BTFHub's marker files (\`failed\`: BTFHub has no BTF for
the kernel; \`hasbtf\`: it ships its own). \`generated\` counts the kernels whose BTF the
service made itself from a debug package (the rest come from an archive). JSON, or CSV with
\`Accept: text/csv\`.
`,
  request: { headers: AcceptCsv },
  responses: {
    '200': {
      description: 'The coverage.',
      headers: { Vary: header('VaryAccept') },
      content: {
        [JSON_TYPE]: { schema: Coverage },
        [CSV_TYPE]: {
          schema: {
            type: 'string',
            description:
              'Header `distro,distro_version,arch,kernels,oldest_kernel,newest_kernel,last_added,last_added_kernel,failed,hasbtf`, a row per entry.',
          },
        },
      },
    },
    '503': response('Unavailable'),
  },
});

const getCoverageGroupOperation = defineOperation({
  method: 'get',
  path: '/api/v1/coverage/{distro}/{distro_version}/{arch}',
  operationId: 'getCoverageGroup',
  tags: ['coverage'],
  summary: 'The kernels of one distro / release / arch',
  description: `Its kernels in version order, and its marker files. JSON, or CSV with
\`Accept: text/csv\`.
`,
  request: { params: CoverageParams, headers: AcceptCsv },
  responses: {
    '200': {
      description: 'The kernels.',
      headers: { Vary: header('VaryAccept') },
      content: {
        [JSON_TYPE]: { schema: CoverageKernels },
        [CSV_TYPE]: {
          schema: {
            type: 'string',
            description:
              'Header `kernel_version,status,format,size,sha256,added_at`; `status` is `btf`, or the marker (`failed`, `hasbtf`).',
          },
        },
      },
    },
    '400': response('BadRequest'),
    '404': {
      description: 'No kernel and no marker for this distro / release / arch (`kernel_not_found`).',
      content: { 'application/json': { schema: ErrorBody } },
    },
    '503': response('Unavailable'),
  },
});

export const coverageOperations = [getCoverageOperation, getCoverageGroupOperation];

/**
 * Kernel releases in version order: digit runs compare as numbers, the rest as text
 * (`5.4.0-42-generic` < `5.4.0-100-generic` < `5.15.0-1-generic`).
 */
export function compareKernelVersions(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

async function allMarkers(catalog: Pick<Catalog, 'listKernelMarkers'>, filter: KernelFilter): Promise<KernelMarkerRecord[]> {
  const markers: KernelMarkerRecord[] = [];
  for (let offset = 0; ; offset += MAX_PAGE_LIMIT) {
    const page = await catalog.listKernelMarkers(filter, { limit: MAX_PAGE_LIMIT, offset });
    markers.push(...page.items);
    if (page.items.length < MAX_PAGE_LIMIT || markers.length >= page.total) return markers;
  }
}

const groupKey = (r: { distro: string; distroVersion: string; arch: string }) => `${r.distro}\0${r.distroVersion}\0${r.arch}`;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The coverage groups of these kernels and markers, sorted by distro, release, arch. */
export function coverageOf(
  kernels: readonly KernelRecord[],
  markers: readonly KernelMarkerRecord[],
  provenance: ReadonlyMap<string, KernelProvenance> = new Map(),
): CoverageBody {
  const groups = new Map<
    string,
    {
      ref: { distro: string; distroVersion: string; arch: string };
      kernels: KernelRecord[];
      generated: number;
      failed: number;
      hasbtf: number;
    }
  >();
  const group = (r: { distro: string; distroVersion: string; arch: string }) => {
    let g = groups.get(groupKey(r));
    if (g === undefined)
      groups.set(
        groupKey(r),
        (g = { ref: { distro: r.distro, distroVersion: r.distroVersion, arch: r.arch }, kernels: [], generated: 0, failed: 0, hasbtf: 0 }),
      );
    return g;
  };
  const isGenerated = (k: KernelRecord) => provenance.get(kernelLabel(k))?.kernelSha256 === k.sha256;
  for (const k of kernels) {
    const g = group(k);
    g.kernels.push(k);
    if (isGenerated(k)) g.generated++;
  }
  for (const m of markers) group(m)[m.marker]++;
  const items: CoverageEntryBody[] = [...groups.values()]
    .sort((a, b) => cmp(a.ref.distro, b.ref.distro) || cmp(a.ref.distroVersion, b.ref.distroVersion) || cmp(a.ref.arch, b.ref.arch))
    .map((g) => {
      const entry: CoverageEntryBody = {
        distro: g.ref.distro,
        distro_version: g.ref.distroVersion,
        arch: g.ref.arch,
        kernels: g.kernels.length,
        generated: g.generated,
        markers: { failed: g.failed, hasbtf: g.hasbtf },
        url: `/api/v1/coverage/${[g.ref.distro, g.ref.distroVersion, g.ref.arch].map(encodeURIComponent).join('/')}`,
      };
      if (g.kernels.length > 0) {
        const byVersion = g.kernels.map((k) => k.kernel).sort(compareKernelVersions);
        const last = g.kernels.reduce((a, b) =>
          b.addedAt > a.addedAt || (b.addedAt.getTime() === a.addedAt.getTime() && compareKernelVersions(b.kernel, a.kernel) > 0) ? b : a,
        );
        entry.oldest_kernel = byVersion[0]!;
        entry.newest_kernel = byVersion.at(-1)!;
        entry.last_added = last.addedAt.toISOString();
        entry.last_added_kernel = last.kernel;
      }
      return entry;
    });
  return {
    items,
    totals: {
      kernels: kernels.length,
      generated: items.reduce((sum, g) => sum + g.generated, 0),
      groups: items.length,
      failed: markers.filter((m) => m.marker === 'failed').length,
      hasbtf: markers.filter((m) => m.marker === 'hasbtf').length,
    },
  };
}

/** One CSV field (RFC 4180). */
function csvField(value: string | number | undefined): string {
  const text = value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(header: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function sendCsv(reply: FastifyReply, csv: string, filename: string): FastifyReply {
  return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`).send(csv);
}

export async function coverageRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;

  addRoute(app, getCoverageOperation, {}, async (request, reply) => {
    const [kernels, markers, provenance] = await Promise.all([
      matchingKernels(services.catalog, {}),
      allMarkers(services.catalog, {}),
      provenanceByKernel(services.catalog, {}),
    ]);
    const body = coverageOf(kernels, markers, provenance);
    reply.header('vary', 'Accept');
    if (negotiate(request.headers.accept, [JSON_TYPE, CSV_TYPE], JSON_TYPE) === CSV_TYPE) {
      const header = [
        'distro',
        'distro_version',
        'arch',
        'kernels',
        'oldest_kernel',
        'newest_kernel',
        'last_added',
        'last_added_kernel',
        'failed',
        'hasbtf',
      ];
      const rows = body.items.map((g) => [
        g.distro,
        g.distro_version,
        g.arch,
        g.kernels,
        g.oldest_kernel,
        g.newest_kernel,
        g.last_added,
        g.last_added_kernel,
        g.markers.failed,
        g.markers.hasbtf,
      ]);
      return sendCsv(reply, toCsv(header, rows), 'coverage.csv');
    }
    return body;
  });

  addRoute(app, getCoverageGroupOperation, {}, async (request, reply) => {
    const distro = normalizeDistro(request.params.distro);
    const filter: KernelFilter = {
      distro,
      distroVersion: normalizeDistroVersion(distro, request.params.distro_version),
      arch: normalizeArch(request.params.arch),
    };
    const [kernels, markers, provenance] = await Promise.all([
      matchingKernels(services.catalog, filter),
      allMarkers(services.catalog, filter),
      provenanceByKernel(services.catalog, filter),
    ]);
    const label = `${filter.distro}/${filter.distroVersion}/${filter.arch}`;
    if (kernels.length === 0 && markers.length === 0) {
      throw new ApiError(404, 'kernel_not_found', `no kernels for ${label} (GET /api/v1/coverage lists what there is)`);
    }
    kernels.sort((a, b) => compareKernelVersions(a.kernel, b.kernel));
    markers.sort((a, b) => compareKernelVersions(a.kernel, b.kernel) || cmp(a.marker, b.marker));
    reply.header('vary', 'Accept');
    if (negotiate(request.headers.accept, [JSON_TYPE, CSV_TYPE], JSON_TYPE) === CSV_TYPE) {
      const rows = [
        ...kernels.map((k) => {
          const i = kernelInfo(k, provenance.get(kernelLabel(k)));
          return [i.kernel_version, 'btf', i.format, i.size, i.sha256, i.added_at];
        }),
        ...markers.map((m) => [m.kernel, m.marker, '', '', '', m.recordedAt.toISOString()]),
      ];
      return sendCsv(
        reply,
        toCsv(['kernel_version', 'status', 'format', 'size', 'sha256', 'added_at'], rows),
        `${label.replace(/\//g, '_')}.csv`,
      );
    }
    return {
      distro: filter.distro,
      distro_version: filter.distroVersion,
      arch: filter.arch,
      items: kernels.map((k) => kernelInfo(k, provenance.get(kernelLabel(k)))),
      markers: markers.map((m) => ({ kernel_version: m.kernel, marker: m.marker })),
    };
  });
}
