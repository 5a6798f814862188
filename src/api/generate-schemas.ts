/**
 * Request and response shapes of kernel generation: `POST /api/v1/kernels/generate`, a
 * generate job's status (`GET /api/v1/jobs/generate-...`) and a generated kernel's
 * provenance (in KernelInfo). Validation and the OpenAPI document alike.
 */
import { FilePart, JOB_STATES, KernelFields, KernelIdentity, Provenance } from './schemas.js';
import { z } from './zod.js';

const Timestamp = z.iso.datetime();

/** Multipart fields of `POST /api/v1/kernels/generate`, besides the `package` file part. */
export const GenerateFields = KernelFields;

export const GenerateForm = z.object({
  package: FilePart.optional().openapi({
    description: `The debug package: an Ubuntu \`.ddeb\` / Debian \`.deb\` (\`linux-image-*-dbg\`, \`*-dbgsym\`), an RPM
(\`kernel-debuginfo\`, \`kernel-uek-debuginfo\`, \`kernel-default-debuginfo\`), or a vmlinux with DWARF. Optional when
debug repositories are configured for the distro (\`BTFHUB_GENERATE_REPOSITORIES\`): the package is then looked up there.`,
  }),
  ...GenerateFields.shape,
});

export const GenerateAccepted = z.strictObject({ job_id: z.string(), state: z.enum(JOB_STATES) }).openapi('GenerateAccepted');

export const GenerateJobStatus = z
  .strictObject({
    job_id: z.string(),
    kind: z.literal('generate'),
    state: z.enum(JOB_STATES),
    kernel: KernelIdentity.optional(),
    source: z.enum(['upload', 'repository']).optional().describe('An uploaded package, or one looked up in the configured repositories.'),
    attempts: z.number().int().optional(),
    created_at: Timestamp.optional(),
    started_at: Timestamp.optional(),
    finished_at: Timestamp.optional(),
    error: z
      .strictObject({
        message: z
          .string()
          .describe(
            "Starts with the cause's code (NOT_A_PACKAGE, NO_VMLINUX, NO_DWARF, TRUNCATED, CHECKSUM, PAHOLE, PAHOLE_TIMEOUT, NOT_FOUND, RECENTLY_FAILED...).",
          ),
        client_error: z.boolean().describe('True when the uploaded package was at fault.'),
      })
      .optional(),
    result: z
      .strictObject({
        kernel_url: z.string().describe('The registered kernel (GET it for its provenance).'),
        kernel_sha256: z.string().describe('sha256 of the stored `.btf.tar.xz`.'),
        kernel_size: z.number().int(),
        generated: z.boolean().describe('False when another job registered the kernel meanwhile.'),
        type_count: z.number().int(),
        provenance: Provenance.omit({ generated_at: true })
          .extend({
            pahole: z.strictObject({
              version: z.string(),
              flags: z.array(z.string()),
              duration_ms: z.number(),
              peak_rss_bytes: z.number().nullable(),
            }),
          })
          .nullable(),
        duration_ms: z.number(),
        sha256: z.string().optional().describe("When the job also trimmed (a miss on POST /api/v1/btf): the trimmed BTF's sha256."),
        size: z.number().int().optional(),
        url: z.string().optional().describe('When the job also trimmed: GET it for the trimmed BTF.'),
      })
      .optional(),
  })
  .openapi('GenerateJobStatus');

export type GenerateJobStatusBody = z.output<typeof GenerateJobStatus>;

/** The named schemas of this module, for the OpenAPI document's components. */
export const GENERATE_COMPONENT_SCHEMAS = { GenerateAccepted, GenerateJobStatus };
