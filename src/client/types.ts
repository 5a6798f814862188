/**
 * The shapes the client sends and receives. Wire shapes (snake_case, as the JSON is) come
 * from the API's zod schemas, as types only: importing the client loads neither zod nor the
 * server. Inputs take the library's camelCase `KernelRef` as well as the wire form.
 */
import type { z } from 'zod';
import type { CompatReport, CoverageJobStatus } from '../api/coverage-schemas.js';
import type { IdentityAnswer } from '../api/identity-schema.js';
import type { JobStatus, KernelIdentity, KernelInfo, KernelList } from '../api/schemas.js';
import type { KernelRef } from '../catalog/catalog.js';

export type { KernelRef };

/** `{distro, distro_version, arch, kernel_version}`, as the API writes a kernel. */
export type KernelIdentityBody = z.output<typeof KernelIdentity>;
/** `GET /api/v1/kernels/...`: a kernel's metadata. */
export type KernelInfoBody = z.output<typeof KernelInfo>;
/** `GET /api/v1/kernels`: one page. */
export type KernelListBody = z.output<typeof KernelList>;
/** `GET /api/v1/jobs/{id}`. */
export type JobStatusBody = z.output<typeof JobStatus>;
/** `POST /api/v1/identity`. */
export type IdentityAnswerBody = z.output<typeof IdentityAnswer>;

/** `GET /api/v1/compat/{id}` (and a 200 from `POST /api/v1/compat`): a compatibility report. */
export type CompatReportBody = z.output<typeof CompatReport>;
/** `GET /api/v1/jobs/{id}` of a compat, bundle or sync job: state and progress. */
export type CoverageJobStatusBody = z.output<typeof CoverageJobStatus>;

/** A kernel, in either spelling: `{distro, distroVersion, arch, kernel}` or the wire form. */
export type KernelSpec = KernelRef | KernelIdentityBody;

/** A BPF object to upload: its bytes, or its bytes and a file name (shown in the server's messages). */
export type TrimObject = Uint8Array | { name?: string; bytes: Uint8Array };

/** A trimmed BTF, from `trim` or `getTrimmed`. */
export interface TrimmedBtf {
  /** Raw BTF (magic 0xEB9F). */
  btf: Uint8Array;
  /** sha256 of `btf` (the ETag), checked against the bytes received. */
  sha256: string;
  /** The kernel it was trimmed from, normalized: `distro/distro_version/arch/kernel_version`. */
  kernel: string;
  /** The objects hash (see `objectsHash`). */
  objectsHash: string;
  /** `hit` when the service had it already, `miss` when a job built it. */
  cache: 'hit' | 'miss' | undefined;
  /** The job that built it, when the answer was a 202 followed to its end. */
  jobId?: string;
}

/** `getTrimmed` with `ifNoneMatch` equal to the current sha256. */
export interface NotModified {
  notModified: true;
  sha256: string;
}

/** `POST /api/v1/btf` answered at once, or with a job still running. */
export type TrimSubmission =
  { state: 'ready'; result: TrimmedBtf } | { state: 'pending'; jobId: string; location: string; objectsHash: string; kernel: string };

export interface KernelFilterInput {
  distro?: string;
  /** Also accepted as `distro_version`. */
  distroVersion?: string;
  distro_version?: string;
  arch?: string;
  /** Only kernels whose release starts with this. Also accepted as `kernel_prefix`. */
  kernelPrefix?: string;
  kernel_prefix?: string;
  limit?: number;
  offset?: number;
}

/** The host facts `identity` sends: what agents read from /etc/os-release and uname. */
export interface IdentityInput {
  /** The text of /etc/os-release; null when the host has none. */
  osRelease: string | null;
  /** `uname -r` */
  unameRelease: string;
  /** `uname -m` */
  unameMachine: string;
  /** Overrides, as `btfhub fetch --distro --distro-version` takes them. */
  distro?: string;
  distroVersion?: string;
}

/**
 * `GET /api/v1/coverage` (issue 4): per distro, release and arch, what the service can
 * serve. Provisional: typed here from the description until the route and its zod
 * schema land; then it will be `z.output<typeof Coverage>` from src/api/schemas.ts.
 */
export interface CoverageEntry {
  distro: string;
  distro_version: string;
  arch: string;
  /** Kernels with BTF for this distro, release and arch. */
  kernels: number;
  /** Oldest and newest kernel release (version order). */
  oldest_kernel?: string;
  newest_kernel?: string;
  /** RFC 3339 time the last kernel was added. */
  last_added?: string;
}

export interface CoverageBody {
  items: CoverageEntry[];
  /** Other members the service may add are kept as sent. */
  [extra: string]: unknown;
}

/** Which kernels a compatibility report covers; every field optional (all kernels). */
export interface CompatFilterInput {
  distro?: string;
  distroVersion?: string;
  arch?: string;
  /** Only kernels whose release starts with this (the API's `kernel_version` field). */
  kernelPrefix?: string;
}

/** `POST /api/v1/compat` answered at once, or with a job still running. */
export type CompatSubmission = { state: 'ready'; report: CompatReportBody } | { state: 'pending'; jobId: string; location: string };

/** `GET /readyz` when the service is ready (a 503 is a BtfhubHttpError naming the failed checks). */
export interface ReadinessBody {
  status: 'ok';
  checks: Record<string, { ok: boolean; error?: string }>;
}

/** `POST /api/v1/customize` (the original BTFHub Online route): a .tar.xz holding `<kernel>.btf`. */
export interface CustomizedBtf {
  /** The .tar.xz as received. */
  archive: Uint8Array;
  /** `distro/distro_version/arch/kernel_version` (the X-Btfhub-Kernel header), when sent. */
  kernel: string | undefined;
  /** The job that built it, when the first answer was a 202. */
  jobId?: string;
}
