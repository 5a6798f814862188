/**
 * `POST /api/v1/identity`: a host's raw facts in, its archive identity out. The zod schemas
 * of its JSON body (validated by the route) and answer, named in the OpenAPI document.
 */
import { z } from './zod.js';
import { Arch, Distro, DistroVersion, KernelVersion } from './schemas.js';

/** os-release files are a few hundred bytes. */
export const MAX_OS_RELEASE_LENGTH = 64 * 1024;

export const IdentityRequest = z
  .object({
    os_release: z
      .string()
      .max(MAX_OS_RELEASE_LENGTH, `must be at most ${MAX_OS_RELEASE_LENGTH} characters`)
      .nullable()
      .optional()
      .describe('The text of the host’s /etc/os-release (or /usr/lib/os-release) as read; null or absent when the host has none.'),
    uname_release: KernelVersion.describe('The kernel release, as `uname -r` prints it.'),
    uname_machine: Arch.describe('The machine, as `uname -m` prints it (x86_64, aarch64...).'),
    distro: Distro.optional().describe('Override: the distribution, when the host’s own facts should not decide it.'),
    distro_version: DistroVersion.optional().describe('Override: the release (with `distro`, detection is skipped).'),
  })
  .openapi('IdentityRequest');

const IDENTITY_SOURCES = ['os-release', 'kernel-release', 'override'] as const;

export const IdentityAnswer = z
  .strictObject({
    distro: z.string(),
    distro_version: z.string(),
    arch: z.string(),
    kernel_version: z.string(),
    key: z
      .string()
      .describe(
        '`distro/distro_version/arch/kernel_version`: the kernel’s place in the BTFHub archive layout, and with `.btf` the path of its trimmed BTF in a bundle.',
      ),
    source: z.enum(IDENTITY_SOURCES).describe('What named the distro and release: os-release, the kernel release, or the overrides.'),
    notes: z.array(z.string()).describe('Every fallback, guess and override, in the order made; empty when os-release simply applied.'),
    kernel_url: z.string().describe('GET it for the kernel’s metadata (404 when the service has no BTF for it).'),
  })
  .openapi('IdentityAnswer');

export type IdentityRequestBody = z.output<typeof IdentityRequest>;
export type IdentityAnswerBody = z.output<typeof IdentityAnswer>;
