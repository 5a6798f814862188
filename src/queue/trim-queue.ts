/**
 * The trim queue: what the API uses to have a BTF trimmed, whichever backend runs it
 * (BullMQ on Redis when REDIS_URL is set, an in-process runner for the embedded default).
 *
 * Uploaded objects are stored in the object store first (`objects/<sha256>.o`), so a job
 * carries only hashes and a kernel identity, and any worker process can run it. The job
 * id is derived from the objects hash and the kernel (`trimJobId`), so concurrent
 * identical requests become one job.
 */
import { createHash } from 'node:crypto';
import type { KernelRef } from '../catalog/catalog.js';
import { normalizeKernelRef } from '../identity/kernel-identity.js';

export interface TrimJobData {
  /** sha256 (hex) of each uploaded object, in upload order. */
  objectHashes: string[];
  /** sha256 over the sorted object hashes (hex). */
  objectsHash: string;
  kernel: KernelRef;
}

export interface TrimJobResult {
  /** Object-store key of the trimmed BTF. */
  resultKey: string;
  /** sha256 (hex) of the trimmed BTF; also the ETag. */
  resultSha256: string;
  size: number;
  durationMs: number;
  /** Relocations checked against the trimmed BTF. */
  relocationsVerified: number;
}

export type TrimJobState = 'waiting' | 'active' | 'completed' | 'failed' | 'unknown';

export interface TrimJobStatus {
  id: string;
  state: TrimJobState;
  data?: TrimJobData;
  result?: TrimJobResult;
  /** Set when failed: a client error (bad object, unknown kernel) or a server one. */
  error?: { message: string; clientError: boolean };
  createdAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts?: number;
}

export interface TrimQueue {
  /** Adds the job unless one with the same id exists; returns the job id. */
  enqueue(data: TrimJobData): Promise<string>;
  /** Waits up to `timeoutMs` for the job to finish; returns its status then (maybe still active). */
  waitFor(jobId: string, timeoutMs: number): Promise<TrimJobStatus>;
  status(jobId: string): Promise<TrimJobStatus>;
  /** Jobs waiting + active (for metrics). */
  depth(): Promise<number>;
  /** Throws when the backend is unusable (for /readyz). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The queue backend cannot be reached (Redis down, or not answering in time). The API
 * answers 503 to it; nothing about the request itself is wrong.
 */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * `objectsHash` of a set of uploaded objects: sha256 over their sha256s (lowercase hex),
 * sorted and joined by '\n'. Sorting makes the upload order irrelevant.
 */
export function objectsHashOf(objectHashes: readonly string[]): string {
  return createHash('sha256').update([...objectHashes].sort().join('\n')).digest('hex');
}

/**
 * The job id of a trim: sha256 (hex) over the objects hash and the kernel's normalized
 * identity. Equal requests get equal ids, which is how a queue deduplicates them; hex
 * also keeps ids free of ':', which BullMQ does not allow in custom ids. Throws an
 * IdentityError when `kernel` does not normalize.
 */
export function trimJobId(objectsHash: string, kernel: KernelRef): string {
  const ref = normalizeKernelRef(kernel);
  return createHash('sha256')
    .update(['btfhub-trim-v1', objectsHash, ref.distro, ref.distroVersion, ref.arch, ref.kernel].join('\n'))
    .digest('hex');
}
