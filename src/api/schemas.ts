/**
 * The request and response shapes of the HTTP API's core routes (trims, jobs, kernels, the
 * BTFHub Online routes, operations), as zod schemas; coverage-schemas.ts and
 * identity-schema.ts hold the rest.
 *
 * They are the contract twice over: routes validate their path parameters, query strings and
 * form fields with them (the zod validator compiler in plugins/app/zod-validation.ts), and
 * the OpenAPI document is generated from them (src/api/openapi/: `npm run openapi` writes
 * openapi.yaml). A schema named with `.openapi('Name')` is `components.schemas.Name`.
 * Answers are strict objects: a field the document does not name is not sent.
 *
 * Field syntax only: the identity fields are then normalized by src/identity (aliases such
 * as amd64 -> x86_64, focal -> 20.04), which also rejects unknown distros and arches.
 */
import type { ZodOpenAPIMetadata } from '@asteasolutions/zod-to-openapi';
import { z } from './zod.js';
import { ERROR_CODES } from './errors.js';

/**
 * The characters an identity field may hold ([A-Za-z0-9._+~-]), with no '..' and no leading
 * '.' or '-': safe as a path segment. src/identity applies the same rules.
 */
const IDENTITY_PATTERN = /^(?![.-])(?!.*\.\.)[A-Za-z0-9._+~-]+$/;

const IDENTITY_RULES = "may only contain letters, digits and . _ + ~ -, must not contain '..' nor start with '.' or '-'";

function identityField(maxLength: number, description: string) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(maxLength, `must be at most ${maxLength} characters`)
    .regex(IDENTITY_PATTERN, IDENTITY_RULES)
    .describe(description);
}

export const Distro = identityField(
  64,
  'Distribution id as the BTFHub archive names it (ubuntu, debian, centos, fedora, amzn, ol, rhel, sles); aliases accepted.',
).openapi('Distro', { examples: ['ubuntu'] });
export const DistroVersion = identityField(
  64,
  'Distribution release (20.04, focal, 11, bullseye, 2, 2018.03...); aliases accepted.',
).openapi('DistroVersion', { examples: ['20.04'] });
export const Arch = identityField(64, 'x86_64 or arm64 (amd64, aarch64 accepted).').openapi('Arch', { examples: ['x86_64'] });
export const KernelVersion = identityField(128, 'Kernel release as `uname -r` prints it.').openapi('KernelVersion', {
  examples: ['5.15.0-91-generic'],
});

const Sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hexadecimal digits')
  .describe('A sha256 in lowercase hex.');

const JobId = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/, 'may only contain letters, digits and . _ + ~ -')
  .describe('A trim job id, as returned by POST /api/v1/btf.');

// ---------------------------------------------------------------------------------------
// Requests

/** `{distro}/{distro_version}/{arch}/{kernel_version}` path parameters. */
export const KernelParams = z.object({
  distro: Distro,
  distro_version: DistroVersion,
  arch: Arch,
  kernel_version: KernelVersion,
});

/** The same four fields where a kernel is named in a form (trims, kernel uploads). */
export const KernelFields = KernelParams;

/** `GET /api/v1/btf/{objectsHash}/{distro}/{distro_version}/{arch}/{kernel_version}`. */
export const TrimParams = z.object({
  objectsHash: Sha256Hex.describe('sha256 over the sorted, distinct sha256s (lowercase hex) of the objects, joined by "\\n".'),
  ...KernelParams.shape,
});

export const JobParams = z.object({ id: JobId });

export const MAX_PAGE_LIMIT = 1000;

/** `GET /api/v1/kernels` query string. */
export const KernelListQuery = z.object({
  distro: Distro.optional(),
  distro_version: DistroVersion.optional(),
  arch: Arch.optional(),
  kernel_prefix: z
    .string()
    .max(128, 'must be at most 128 characters')
    .regex(/^[A-Za-z0-9._+~-]*$/, 'may only contain letters, digits and . _ + ~ -')
    .optional()
    .describe('Only kernels whose release starts with this.'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(100).describe('Page size.'),
  // zod-to-openapi reads coerce's acceptance of null (Number(null) is 0) as nullable, and a query
  // string never holds null: the schema is spelt out (test/api/openapi.test.ts checks it against zod's).
  offset: z.coerce.number().int().min(0).default(0).describe('Items to skip.').openapi({ type: 'integer', minimum: 0, default: 0 }),
});

/** Multipart form fields of `POST /api/v1/btf`, besides the `object` file parts. */
export const BtfUploadFields = KernelFields;

/**
 * A file part of a multipart body, for the document: the routes read parts as bytes
 * (uploads.ts, which bounds them), not through this schema.
 */
export const FilePart = z.string().openapi(contentMediaType('application/octet-stream'));

/**
 * `contentMediaType` metadata (JSON Schema 2020-12, so OpenAPI 3.1): zod-to-openapi copies it
 * into the document, but its types (openapi3-ts) do not list it.
 */
function contentMediaType(mediaType: string): Partial<ZodOpenAPIMetadata> {
  return { contentMediaType: mediaType } as Partial<ZodOpenAPIMetadata>;
}

/** The multipart body of `POST /api/v1/btf`: the objects and the kernel. */
export const BtfUploadForm = z.object({
  object: z
    .array(FilePart)
    .min(1)
    .openapi({
      description: `A compiled BPF CO-RE object (an ELF with .BTF and .BTF.ext sections),
as is or gzip-compressed. Repeat the part for several objects
(BTFHUB_MAX_FILES, 16 by default), each at most BTFHUB_MAX_FILE_BYTES
(64 MiB by default, after decompression), all parts together at most
BTFHUB_MAX_REQUEST_BYTES (128 MiB by default).
`,
    }),
  ...BtfUploadFields.shape,
});

/** The multipart body of `POST /api/v1/customize` (BTFHub Online): one object. */
export const CustomizeForm = z.object({
  bpf: FilePart.openapi({ description: 'The compiled BPF CO-RE object, as is or gzip-compressed. Other parts are ignored.' }),
});

/** Query of the BTFHub Online compatibility routes (`/api/v1/download`, `/api/v1/customize`). */
export const CompatQuery = z.object({
  distribution: Distro,
  distribution_version: DistroVersion,
  kernel_version: KernelVersion,
  arch: Arch,
});

// ---------------------------------------------------------------------------------------
// Responses

/** An RFC 3339 time, as `Date.toISOString()` writes it. */
const Timestamp = z.iso.datetime();

export const ErrorBody = z
  .strictObject({
    error: z.enum(ERROR_CODES),
    message: z.string(),
    field: z.string().optional().describe('The request field at fault, when there is one.'),
    limit: z
      .string()
      .optional()
      .describe(
        'For `limit_exceeded` (and a 503 of a task past its time budget): the bound, e.g. `maxRelocations` (docs/CONFIGURATION.md).',
      ),
    value: z.number().int().optional().describe('The bound in force.'),
    actual: z.number().int().optional().describe('What the input asked for, when known.'),
  })
  .openapi('Error', {
    examples: [
      { error: 'invalid_field', message: "distro_version: must not contain '..'", field: 'distro_version' },
      {
        error: 'limit_exceeded',
        message: 'prog.bpf.o: .BTF.ext CO-RE relocations: 1000000 is over the limit maxRelocations = 262144',
        field: 'object',
        limit: 'maxRelocations',
        value: 262144,
        actual: 1000000,
      },
    ],
  });

export const KernelIdentity = z
  .strictObject({
    distro: z.string(),
    distro_version: z.string(),
    arch: z.string(),
    kernel_version: z.string(),
  })
  .openapi('KernelIdentity');

/** Where a generated kernel's BTF came from (POST /api/v1/kernels/generate, on-miss generation). */
export const Provenance = z
  .strictObject({
    package: z.strictObject({
      file: z.string().describe('The uploaded or downloaded file name.'),
      name: z.string().nullable().describe("The package's own name (null for a bare vmlinux)."),
      version: z.string().nullable(),
      sha256: z.string().describe('sha256 of the package file.'),
      url: z.string().nullable().describe('The repository URL it was downloaded from; null for an upload.'),
    }),
    pahole: z.strictObject({ version: z.string(), flags: z.array(z.string()).describe('The encoding flags pahole ran with.') }),
    generated_at: Timestamp,
  })
  .openapi('Provenance');

export const KernelInfo = z
  .strictObject({
    ...KernelIdentity.shape,
    format: z.enum(['btf.tar.xz', 'btf']).describe('How the full BTF is stored.'),
    size: z.number().int().min(0).describe('Bytes of the stored object.'),
    sha256: z.string().describe('sha256 of the stored object.'),
    added_at: Timestamp.describe('RFC 3339 time.'),
    btf_url: z.string().describe('Where to download the full BTF.'),
    source: z
      .enum(['archive', 'generated'])
      .describe('`generated`: the service made this BTF from a debug package (see `provenance`); `archive`: imported or uploaded.'),
    provenance: Provenance.optional().describe('For a generated kernel: the package, pahole and when.'),
  })
  .openapi('KernelInfo');

export const KernelList = z
  .strictObject({
    items: z.array(KernelInfo),
    total: z.number().int().min(0),
    limit: z.number().int(),
    offset: z.number().int(),
  })
  .openapi('KernelList');

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed'] as const;

export const JobAccepted = z
  .strictObject({
    job_id: z.string(),
    state: z.enum(JOB_STATES),
  })
  .openapi('JobAccepted');

export const JobStatus = z
  .strictObject({
    job_id: z.string(),
    state: z.enum(JOB_STATES),
    objects_hash: z.string().optional(),
    object_hashes: z.array(z.string()).optional(),
    kernel: KernelIdentity.optional(),
    attempts: z.number().int().optional(),
    created_at: Timestamp.optional(),
    started_at: Timestamp.optional(),
    finished_at: Timestamp.optional(),
    error: z
      .strictObject({
        message: z.string(),
        client_error: z.boolean().describe('True when the objects were at fault (the request answered 422).'),
      })
      .optional(),
    result: z
      .strictObject({
        sha256: z.string(),
        size: z.number().int(),
        duration_ms: z.number(),
        relocations_verified: z.number().int(),
        url: z.string().optional().describe('GET it for the trimmed BTF.'),
      })
      .optional(),
  })
  .openapi('JobStatus');

/** The BTFHub Online record (`GET /api/v1/list` items). */
const CompatRecord = z
  .strictObject({
    distribution: z.string(),
    distribution_version: z.string(),
    kernel_version: z.string(),
    arch: z.string(),
  })
  .openapi('CompatRecord');

export const CompatList = z.array(CompatRecord).openapi('CompatList');

export const Health = z.strictObject({ status: z.literal('ok') }).openapi('Health');

/** `/monitoring/health`: the original answered `{}`. */
export const CompatHealth = z.strictObject({}).openapi('CompatHealth');

const DependencyCheck = z
  .strictObject({
    ok: z.boolean(),
    error: z.string().optional(),
  })
  .openapi('DependencyCheck');

const ReadinessChecks = z
  .strictObject({ catalog: DependencyCheck, queue: DependencyCheck, store: DependencyCheck })
  .openapi('ReadinessChecks');

export const Ready = z.strictObject({ status: z.literal('ok'), checks: ReadinessChecks }).openapi('Ready');

export const NotReady = z
  .strictObject({
    error: z.literal('unavailable'),
    message: z.string(),
    failed: z.array(z.enum(['catalog', 'queue', 'store'])),
    checks: ReadinessChecks,
  })
  .openapi('NotReady');

/** The named schemas (components.schemas) of this module. */
/** What `btfhub verify` and POST /api/v1/verify found at one key. */
export const VerifyFinding = z
  .strictObject({
    kind: z
      .enum(['kernel', 'trim_result', 'object', 'derived', 'job_file', 'orphan'])
      .describe('`job_file`: a compat report, a bundle or its metadata, by job (the note names the job).'),
    key: z.string().describe('The object-store key.'),
    problem: z.enum(['missing', 'damaged', 'orphaned']),
    note: z.string().describe('What to do, or what the repair did.'),
    repaired: z.boolean(),
  })
  .openapi('VerifyFinding');

/** What POST /api/v1/verify answers. */
export const VerifyReport = z
  .strictObject({
    checked: z.strictObject({
      kernel: z.number().int(),
      trim_result: z.number().int(),
      object: z.number().int(),
      derived: z.number().int(),
      job_file: z.number().int().describe('Files of compat and bundle jobs (reports, bundles, their metadata).'),
      stored: z.number().int().describe('Files of the store looked at for orphans.'),
    }),
    findings: z.array(VerifyFinding),
    unresolved: z.number().int().describe('Findings not repaired: 0 is a clean (or repaired) store.'),
  })
  .openapi('VerifyReport');

export const COMPONENT_SCHEMAS = {
  Distro,
  DistroVersion,
  Arch,
  KernelVersion,
  Error: ErrorBody,
  KernelIdentity,
  KernelInfo,
  Provenance,
  KernelList,
  JobAccepted,
  JobStatus,
  CompatRecord,
  CompatList,
  CompatHealth,
  Health,
  DependencyCheck,
  ReadinessChecks,
  Ready,
  NotReady,
  VerifyFinding,
  VerifyReport,
} as const satisfies Record<string, z.ZodType>;

export type KernelListQueryInput = z.output<typeof KernelListQuery>;
export type JobStatusBody = z.output<typeof JobStatus>;
export type KernelInfoBody = z.output<typeof KernelInfo>;
