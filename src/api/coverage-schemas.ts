/**
 * Request and response shapes of the kernel coverage routes (issue 4): coverage, kernel
 * upload, sync, compat reports, bundles, and the coverage page's assets. Beside
 * src/api/schemas.ts (whose identity fields these reuse) and checked against openapi.yaml
 * the same way by test/api/openapi.test.ts, through COVERAGE_COMPONENT_SCHEMAS and
 * COVERAGE_OPERATION_SCHEMAS.
 */
import { z } from 'zod';
import { RELOCATION_CLASSES } from '../coverage/compat.js';
import { Arch, Distro, DistroVersion, JOB_STATES, KernelInfo, KernelVersion, type OperationSchemas } from './schemas.js';

// ---------------------------------------------------------------------------------------
// Requests

/** `{distro}/{distro_version}/{arch}` path parameters. */
export const CoverageParams = z.object({ distro: Distro, distro_version: DistroVersion, arch: Arch });

/** Multipart fields of `POST /api/v1/kernels`, besides the `btf` file part. */
export const KernelUploadFields = z.object({
  distro: Distro,
  distro_version: DistroVersion,
  arch: Arch,
  kernel_version: KernelVersion,
});

const KernelPrefix = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._+~-]*$/, 'may only contain letters, digits and . _ + ~ -')
  .describe('Only kernels whose release starts with this.');

/** Multipart fields of `POST /api/v1/compat` and `POST /api/v1/bundle`, besides the `object` file parts: a kernel filter. */
export const CoverageFilterFields = z.object({
  distro: Distro.optional(),
  distro_version: DistroVersion.optional(),
  arch: Arch.optional(),
  kernel_version: KernelPrefix.optional(),
});

/** The text fields of those routes. */
export const COVERAGE_FILTER_FIELDS = ['distro', 'distro_version', 'arch', 'kernel_version'] as const satisfies readonly (keyof typeof CoverageFilterFields.shape)[];

/** `GET /api/v1/sync` query string. */
export const SyncListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Runs listed, newest first.'),
});

const jobIdOf = (kind: string) =>
  z
    .string()
    .regex(new RegExp(`^${kind}-[0-9a-f]{64}$`), `must be a ${kind} job id (${kind}- and 64 hexadecimal digits)`)
    .describe(`A ${kind} job id, as POST /api/v1/${kind} returns it.`);

export const CompatResultParams = z.object({ id: jobIdOf('compat') });
export const BundleResultParams = z.object({ id: jobIdOf('bundle') });

export const PAGE_ASSETS = ['app.js', 'app.css'] as const;
export const PageAssetParams = z.object({ file: z.enum(PAGE_ASSETS).describe('A file of the coverage page.') });

// ---------------------------------------------------------------------------------------
// Responses

const count = () => z.number().int().min(0);

export const ClassCounts = z
  .object(Object.fromEntries(RELOCATION_CLASSES.map((c) => [c, count()])) as Record<(typeof RELOCATION_CLASSES)[number], ReturnType<typeof count>>)
  .describe('A count per relocation outcome.');

export const CoverageEntry = z.object({
  distro: z.string(),
  distro_version: z.string(),
  arch: z.string(),
  kernels: count().describe('Kernels with BTF.'),
  oldest_kernel: z.string().optional().describe('Lowest kernel release (version order).'),
  newest_kernel: z.string().optional().describe('Highest kernel release (version order).'),
  last_added: z.string().optional().describe('RFC 3339 time the last kernel was registered.'),
  last_added_kernel: z.string().optional(),
  markers: z.object({ failed: count(), hasbtf: count() }).describe('BTFHub marker files: kernels without BTF (failed), kernels shipping their own (hasbtf).'),
  url: z.string().describe('The kernels of this distro, release and arch.'),
});

export const Coverage = z.object({
  items: z.array(CoverageEntry),
  totals: z.object({ kernels: count(), groups: count(), failed: count(), hasbtf: count() }),
});

export const KernelMarkerInfo = z.object({
  kernel_version: z.string(),
  marker: z.enum(['failed', 'hasbtf']),
});

export const CoverageKernels = z.object({
  distro: z.string(),
  distro_version: z.string(),
  arch: z.string(),
  items: z.array(KernelInfo),
  markers: z.array(KernelMarkerInfo),
});

export const KernelUploaded = z.object({
  ...KernelInfo.shape,
  outcome: z.enum(['added', 'updated', 'unchanged']).describe('added: a new kernel; updated: its BTF replaced; unchanged: the same bytes were registered.'),
});

export const JobProgressBody = z.object({
  done: count(),
  total: count().optional(),
  failed: count(),
});

export const SyncSummary = z.object({
  source: z.string(),
  added: count(),
  updated: count(),
  unchanged: count(),
  invalid: count().describe('Kernel files not registered.'),
  invalid_files: z.array(z.object({ key: z.string(), reason: z.string() })).describe('The first 50 of them, with why.'),
  markers: count(),
  aliases: count(),
  ignored: count(),
  unread: count().describe('Files not read again: same size and mtime as on the last run.'),
  copied: count(),
  duration_ms: count(),
});

const JobError = z.object({ message: z.string(), client_error: z.boolean() });

export const SyncRun = z.object({
  job_id: z.string(),
  trigger: z.enum(['schedule', 'admin']),
  state: z.enum(JOB_STATES),
  source: z.string(),
  created_at: z.string().optional(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  progress: JobProgressBody.optional(),
  error: JobError.optional(),
  summary: SyncSummary.optional(),
});

export const SyncRuns = z.object({
  source: z.string().nullable().describe('What a sync scans (BTFHUB_SYNC_SOURCE); null when nothing is configured.'),
  interval_ms: count().describe('Between scheduled runs; 0 when off.'),
  next_run_at: z.string().nullable(),
  runs: z.array(SyncRun),
});

export const CompatJobSummary = z.object({
  kernels: count(),
  unreadable: count(),
  loadable: count(),
  all_resolved: count(),
  relocations: count(),
  duration_ms: count(),
  url: z.string().describe('GET it for the full report.'),
});

export const BundleJobSummary = z.object({
  kernels: count().describe('Kernels in the bundle.'),
  distinct: count().describe('Distinct trimmed BTFs among them, each stored once.'),
  failed: count().describe('Kernels left out.'),
  failures: z.array(z.object({ kernel: z.string(), stage: z.string(), message: z.string() })),
  size: count(),
  sha256: z.string(),
  bytes: z.object({ trimmed: count(), distinct: count() }),
  duration_ms: count(),
  url: z.string().describe('GET it for the .tar.gz.'),
});

export const CoverageFilterBody = z.object({
  distro: z.string().optional(),
  distro_version: z.string().optional(),
  arch: z.string().optional(),
  kernel_version: z.string().optional(),
});

export const CoverageJobStatus = z.object({
  job_id: z.string(),
  kind: z.enum(['compat', 'bundle', 'sync']),
  state: z.enum(JOB_STATES),
  attempts: z.number().int().optional(),
  created_at: z.string().optional(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  progress: JobProgressBody.optional(),
  objects: z.array(z.object({ name: z.string(), sha256: z.string() })).optional(),
  filter: CoverageFilterBody.optional(),
  source: z.string().optional(),
  error: JobError.optional(),
  result: z.union([CompatJobSummary, BundleJobSummary, SyncSummary]).optional(),
});

export const RelocationOutcome = z.object({
  class: z.enum(RELOCATION_CLASSES),
  value: z.union([z.number(), z.string(), z.null()]).describe('What libbpf patches in (a decimal string beyond 2^53); null when poisoned or refused.'),
  reason: z.string().optional(),
});

export const CompatReport = z.object({
  job_id: z.string(),
  objects: z.array(z.object({ name: z.string(), relocations: count() })),
  filter: CoverageFilterBody,
  totals: z.object({ kernels: count(), unreadable: count(), loadable: count(), all_resolved: count() }),
  summary: z.array(
    z.object({
      distro: z.string(),
      distro_version: z.string(),
      arch: z.string(),
      kernels: count(),
      unreadable: count(),
      loadable: count().describe('Kernels where every object loads.'),
      all_resolved: count().describe('Kernels where every relocation resolves.'),
      kernels_with: ClassCounts.describe('Per outcome: kernels with at least one relocation of it.'),
      relocations: ClassCounts.describe('Per outcome: relocations over all the kernels.'),
    }),
  ),
  relocations: z.array(
    z.object({
      object: z.string(),
      section: z.string(),
      index: count(),
      insn_off: count(),
      kind: z.string(),
      root: z.string(),
      access: z.string(),
      path: z.string(),
      outcomes: ClassCounts.describe('Per outcome: on how many readable kernels.'),
    }),
  ),
  kernels: z.array(
    z.object({
      distro: z.string(),
      distro_version: z.string(),
      arch: z.string(),
      kernel_version: z.string(),
      load_error: z.string().optional(),
      counts: ClassCounts,
      failed_objects: z.array(z.string()).describe('Objects libbpf would refuse on this kernel.'),
      results: z.array(RelocationOutcome).describe('Aligned with relocations.'),
    }),
  ),
  duration_ms: count(),
});

export const COVERAGE_COMPONENT_SCHEMAS = {
  ClassCounts,
  CoverageEntry,
  Coverage,
  KernelMarkerInfo,
  CoverageKernels,
  KernelUploaded,
  JobProgress: JobProgressBody,
  SyncSummary,
  SyncRun,
  SyncRuns,
  CompatJobSummary,
  BundleJobSummary,
  CoverageFilter: CoverageFilterBody,
  CoverageJobStatus,
  RelocationOutcome,
  CompatReport,
} as const satisfies Record<string, z.ZodType>;

export const COVERAGE_OPERATION_SCHEMAS: Readonly<Record<string, OperationSchemas>> = {
  'POST /api/v1/kernels': { multipartFields: KernelUploadFields },
  'GET /api/v1/coverage/{distro}/{distro_version}/{arch}': { params: CoverageParams },
  'GET /api/v1/sync': { querystring: SyncListQuery },
  'POST /api/v1/compat': { multipartFields: CoverageFilterFields },
  'GET /api/v1/compat/{id}': { params: CompatResultParams },
  'POST /api/v1/bundle': { multipartFields: CoverageFilterFields },
  'GET /api/v1/bundle/{id}': { params: BundleResultParams },
  'GET /assets/{file}': { params: PageAssetParams },
};

export type CoverageParamsInput = z.output<typeof CoverageParams>;
export type SyncListQueryInput = z.output<typeof SyncListQuery>;
export type CoverageFilterInput = z.output<typeof CoverageFilterFields>;
export type CoverageEntryBody = z.output<typeof CoverageEntry>;
export type CoverageBody = z.output<typeof Coverage>;
export type CoverageJobStatusBody = z.output<typeof CoverageJobStatus>;
export type SyncRunBody = z.output<typeof SyncRun>;
export type SyncSummaryBody = z.output<typeof SyncSummary>;
