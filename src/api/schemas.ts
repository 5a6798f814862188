/**
 * Every request and response shape of the HTTP API, as zod schemas, in one place.
 *
 * Routes validate their path parameters and query strings with these (through the zod
 * validator compiler in plugins/app/zod-validation.ts), the multipart routes validate their
 * form fields with them, and test/api/openapi.test.ts checks that openapi.yaml describes the
 * same fields with the same constraints (`z.toJSONSchema`). Change a schema here and the
 * test says where openapi.yaml must follow.
 *
 * Field syntax only: the identity fields are then normalized by src/identity (aliases such
 * as amd64 -> x86_64, focal -> 20.04), which also rejects unknown distros and arches.
 */
import { z } from 'zod';
import { ERROR_CODES } from './errors.js';

/**
 * The characters an identity field may hold ([A-Za-z0-9._+~-]), with no '..' and no leading
 * '.' or '-': safe as a path segment. src/identity applies the same rules.
 */
export const IDENTITY_PATTERN = /^(?![.-])(?!.*\.\.)[A-Za-z0-9._+~-]+$/;

const IDENTITY_RULES = "may only contain letters, digits and . _ + ~ -, must not contain '..' nor start with '.' or '-'";

function identityField(maxLength: number, description: string) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(maxLength, `must be at most ${maxLength} characters`)
    .regex(IDENTITY_PATTERN, IDENTITY_RULES)
    .describe(description);
}

export const Distro = identityField(64, 'Distribution id as the BTFHub archive names it (ubuntu, debian, centos, fedora, amzn, ol, rhel, sles); aliases accepted.');
export const DistroVersion = identityField(64, 'Distribution release (20.04, focal, 11, bullseye, 2, 2018.03...); aliases accepted.');
export const Arch = identityField(64, 'x86_64 or arm64 (amd64, aarch64 accepted).');
export const KernelVersion = identityField(128, 'Kernel release as `uname -r` prints it.');

export const Sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hexadecimal digits')
  .describe('A sha256 in lowercase hex.');

export const JobId = z
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
  offset: z.coerce.number().int().min(0).default(0).describe('Items to skip.'),
});

/** Multipart form fields of `POST /api/v1/btf`, besides the `object` file parts. */
export const BtfUploadFields = z.object({
  distro: Distro,
  distro_version: DistroVersion,
  arch: Arch,
  kernel_version: KernelVersion,
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

export const ErrorBody = z.object({
  error: z.enum(ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
});

export const KernelIdentity = z.object({
  distro: z.string(),
  distro_version: z.string(),
  arch: z.string(),
  kernel_version: z.string(),
});

export const KernelInfo = z.object({
  ...KernelIdentity.shape,
  format: z.enum(['btf.tar.xz', 'btf']).describe('How the full BTF is stored.'),
  size: z.number().int().min(0).describe('Bytes of the stored object.'),
  sha256: z.string().describe('sha256 of the stored object.'),
  added_at: z.string().describe('RFC 3339 time.'),
  btf_url: z.string().describe('Where to download the full BTF.'),
});

export const KernelList = z.object({
  items: z.array(KernelInfo),
  total: z.number().int().min(0),
  limit: z.number().int(),
  offset: z.number().int(),
});

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed'] as const;

export const JobAccepted = z.object({
  job_id: z.string(),
  state: z.enum(JOB_STATES),
});

export const JobStatus = z.object({
  job_id: z.string(),
  state: z.enum(JOB_STATES),
  objects_hash: z.string().optional(),
  object_hashes: z.array(z.string()).optional(),
  kernel: KernelIdentity.optional(),
  attempts: z.number().int().optional(),
  created_at: z.string().optional(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  error: z.object({ message: z.string(), client_error: z.boolean() }).optional(),
  result: z
    .object({
      sha256: z.string(),
      size: z.number().int(),
      duration_ms: z.number(),
      relocations_verified: z.number().int(),
      url: z.string().optional().describe('GET it for the trimmed BTF.'),
    })
    .optional(),
});

/** The BTFHub Online record (`GET /api/v1/list` items). */
export const CompatRecord = z.object({
  distribution: z.string(),
  distribution_version: z.string(),
  kernel_version: z.string(),
  arch: z.string(),
});

export const CompatList = z.array(CompatRecord);

export const Health = z.object({ status: z.literal('ok') });

/** `/monitoring/health`: the original answered `{}`. */
export const CompatHealth = z.object({});

export const DependencyCheck = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
});

export const ReadinessChecks = z.object({ catalog: DependencyCheck, queue: DependencyCheck, store: DependencyCheck });

export const Ready = z.object({ status: z.literal('ok'), checks: ReadinessChecks });

export const NotReady = z.object({
  error: z.literal('unavailable'),
  message: z.string(),
  failed: z.array(z.enum(['catalog', 'queue', 'store'])),
  checks: ReadinessChecks,
});

/**
 * Named schemas that openapi.yaml must define under `components.schemas` with the same
 * properties, types and constraints.
 */
export const COMPONENT_SCHEMAS = {
  Distro,
  DistroVersion,
  Arch,
  KernelVersion,
  Error: ErrorBody,
  KernelIdentity,
  KernelInfo,
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
} as const satisfies Record<string, z.ZodType>;

/** Request parts of each operation, keyed `METHOD path` as openapi.yaml writes the path. */
export interface OperationSchemas {
  params?: z.ZodObject;
  querystring?: z.ZodObject;
  /** Text fields of a multipart body (file parts are described in openapi.yaml alone). */
  multipartFields?: z.ZodObject;
}

export const OPERATION_SCHEMAS: Readonly<Record<string, OperationSchemas>> = {
  'POST /api/v1/btf': { multipartFields: BtfUploadFields },
  'GET /api/v1/btf/{objectsHash}/{distro}/{distro_version}/{arch}/{kernel_version}': { params: TrimParams },
  'GET /api/v1/jobs/{id}': { params: JobParams },
  'GET /api/v1/kernels': { querystring: KernelListQuery },
  'GET /api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}': { params: KernelParams },
  'GET /api/v1/kernels/{distro}/{distro_version}/{arch}/{kernel_version}/btf': { params: KernelParams },
  'GET /api/v1/download': { querystring: CompatQuery },
  'POST /api/v1/customize': { querystring: CompatQuery },
};

export type KernelParamsInput = z.output<typeof KernelParams>;
export type TrimParamsInput = z.output<typeof TrimParams>;
export type KernelListQueryInput = z.output<typeof KernelListQuery>;
export type CompatQueryInput = z.output<typeof CompatQuery>;
export type JobStatusBody = z.output<typeof JobStatus>;
export type KernelInfoBody = z.output<typeof KernelInfo>;
