/**
 * Request and response shapes of the kernel coverage routes: coverage, kernel upload, sync,
 * compat reports, bundles, and the coverage page's assets. Beside src/api/schemas.ts (whose
 * identity fields these reuse), and like them both validation and the OpenAPI document.
 */
import { z } from './zod.js';
import { RELOCATION_CLASSES } from '../coverage/compat.js';
import { Arch, Distro, DistroVersion, FilePart, JOB_STATES, KernelFields, KernelInfo } from './schemas.js';

// ---------------------------------------------------------------------------------------
// Requests

/** `{distro}/{distro_version}/{arch}` path parameters. */
export const CoverageParams = z.object({ distro: Distro, distro_version: DistroVersion, arch: Arch });

/** Multipart fields of `POST /api/v1/kernels`, besides the `btf` file part. */
export const KernelUploadFields = KernelFields;

/** The multipart body of `POST /api/v1/kernels`. */
export const KernelUploadForm = z.object({
  btf: FilePart.openapi({
    description: "The kernel's full BTF; raw BTF (`/sys/kernel/btf/vmlinux`), an ELF with `.BTF` (a vmlinux), or a BTFHub `.btf.tar.xz`.",
  }),
  ...KernelUploadFields.shape,
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

/** The multipart body of `POST /api/v1/compat` and `POST /api/v1/bundle`. */
export const CoverageUpload = z
  .object({
    object: z
      .array(FilePart)
      .min(1)
      .openapi({
        description: `A compiled BPF CO-RE object (an ELF with .BTF and .BTF.ext sections), as is or
gzip-compressed. Repeat the part for several objects (BTFHUB_MAX_FILES, 16 by
default), each at most BTFHUB_MAX_FILE_BYTES after decompression.
`,
      }),
    ...CoverageFilterFields.shape,
  })
  .openapi('CoverageUpload', {
    description: 'The multipart body of POST /api/v1/compat and POST /api/v1/bundle; the filter fields combine with AND.',
  });

/** The text fields of those routes. */
export const COVERAGE_FILTER_FIELDS = [
  'distro',
  'distro_version',
  'arch',
  'kernel_version',
] as const satisfies readonly (keyof typeof CoverageFilterFields.shape)[];

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
  .strictObject(
    Object.fromEntries(RELOCATION_CLASSES.map((c) => [c, count()])) as Record<
      (typeof RELOCATION_CLASSES)[number],
      ReturnType<typeof count>
    >,
  )
  .describe('A count per relocation outcome.')
  .openapi('ClassCounts');

export const CoverageEntry = z
  .strictObject({
    distro: z.string(),
    distro_version: z.string(),
    arch: z.string(),
    kernels: count().describe('Kernels with BTF.'),
    generated: count().describe('Of those, kernels whose BTF the service generated from a debug package (the rest come from an archive).'),
    oldest_kernel: z.string().optional().describe('Lowest kernel release (version order).'),
    newest_kernel: z.string().optional().describe('Highest kernel release (version order).'),
    last_added: z.string().optional().describe('RFC 3339 time the last kernel was registered.'),
    last_added_kernel: z.string().optional(),
    markers: z
      .strictObject({ failed: count(), hasbtf: count() })
      .describe('BTFHub marker files: kernels without BTF (failed), kernels shipping their own (hasbtf).'),
    url: z.string().describe('The kernels of this distro, release and arch.'),
  })
  .openapi('CoverageEntry');

export const Coverage = z
  .strictObject({
    items: z.array(CoverageEntry),
    totals: z.strictObject({ kernels: count(), generated: count(), groups: count(), failed: count(), hasbtf: count() }),
  })
  .openapi('Coverage');

const KernelMarkerInfo = z
  .strictObject({
    kernel_version: z.string(),
    marker: z.enum(['failed', 'hasbtf']),
  })
  .openapi('KernelMarkerInfo');

export const CoverageKernels = z
  .strictObject({
    distro: z.string(),
    distro_version: z.string(),
    arch: z.string(),
    items: z.array(KernelInfo),
    markers: z.array(KernelMarkerInfo),
  })
  .openapi('CoverageKernels');

export const KernelUploaded = z
  .strictObject({
    ...KernelInfo.shape,
    outcome: z
      .enum(['added', 'updated', 'unchanged'])
      .describe('added: a new kernel; updated: its BTF replaced; unchanged: the same bytes were registered.'),
  })
  .openapi('KernelUploaded');

const JobProgressBody = z
  .strictObject({
    done: count(),
    total: count().optional(),
    failed: count(),
  })
  .openapi('JobProgress');

const SyncSummary = z
  .strictObject({
    source: z.string(),
    added: count(),
    updated: count(),
    unchanged: count(),
    invalid: count().describe('Kernel files not registered.'),
    invalid_files: z.array(z.strictObject({ key: z.string(), reason: z.string() })).describe('The first 50 of them, with why.'),
    markers: count(),
    aliases: count(),
    ignored: count(),
    unread: count().describe('Files not read again: same size and mtime as on the last run.'),
    copied: count(),
    duration_ms: count(),
  })
  .openapi('SyncSummary');

const JobError = z.strictObject({ message: z.string(), client_error: z.boolean() });

export const SyncRun = z
  .strictObject({
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
  })
  .openapi('SyncRun');

export const SyncRuns = z
  .strictObject({
    source: z.string().nullable().describe('What a sync scans (BTFHUB_SYNC_SOURCE); null when nothing is configured.'),
    interval_ms: count().describe('Between scheduled runs; 0 when off.'),
    next_run_at: z.string().nullable(),
    runs: z.array(SyncRun),
  })
  .openapi('SyncRuns');

const CompatJobSummary = z
  .strictObject({
    kernels: count(),
    unreadable: count(),
    loadable: count(),
    all_resolved: count(),
    relocations: count(),
    duration_ms: count(),
    url: z.string().describe('GET it for the full report.'),
  })
  .openapi('CompatJobSummary');

const BundleJobSummary = z
  .strictObject({
    kernels: count().describe('Kernels in the bundle.'),
    distinct: count().describe('Distinct trimmed BTFs among them, each stored once.'),
    failed: count().describe('Kernels left out.'),
    failures: z.array(z.strictObject({ kernel: z.string(), stage: z.string(), message: z.string() })),
    size: count(),
    sha256: z.string(),
    bytes: z.strictObject({ trimmed: count(), distinct: count() }),
    duration_ms: count(),
    url: z.string().describe('GET it for the .tar.gz.'),
  })
  .openapi('BundleJobSummary');

const CoverageFilterBody = z
  .strictObject({
    distro: z.string().optional(),
    distro_version: z.string().optional(),
    arch: z.string().optional(),
    kernel_version: z.string().optional(),
  })
  .openapi('CoverageFilter');

export const CoverageJobStatus = z
  .strictObject({
    job_id: z.string(),
    kind: z.enum(['compat', 'bundle', 'sync']),
    state: z.enum(JOB_STATES),
    attempts: z.number().int().optional(),
    created_at: z.string().optional(),
    started_at: z.string().optional(),
    finished_at: z.string().optional(),
    progress: JobProgressBody.optional(),
    objects: z.array(z.strictObject({ name: z.string(), sha256: z.string() })).optional(),
    filter: CoverageFilterBody.optional(),
    source: z.string().optional(),
    error: JobError.optional(),
    result: z.union([CompatJobSummary, BundleJobSummary, SyncSummary]).optional(),
  })
  .openapi('CoverageJobStatus');

export const RelocationOutcome = z
  .strictObject({
    class: z.enum(RELOCATION_CLASSES),
    value: z
      .union([z.number(), z.string(), z.null()])
      .describe('What libbpf patches in (a decimal string beyond 2^53); null when poisoned or refused.'),
    reason: z.string().optional(),
  })
  .openapi('RelocationOutcome');

export const CompatReport = z
  .strictObject({
    job_id: z.string(),
    objects: z.array(z.strictObject({ name: z.string(), relocations: count() })),
    filter: CoverageFilterBody,
    totals: z.strictObject({ kernels: count(), unreadable: count(), loadable: count(), all_resolved: count() }),
    summary: z.array(
      z.strictObject({
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
      z.strictObject({
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
      z.strictObject({
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
  })
  .openapi('CompatReport');

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

export type CoverageFilterInput = z.output<typeof CoverageFilterFields>;
export type CoverageEntryBody = z.output<typeof CoverageEntry>;
export type CoverageBody = z.output<typeof Coverage>;
export type CoverageJobStatusBody = z.output<typeof CoverageJobStatus>;
export type SyncRunBody = z.output<typeof SyncRun>;
