/**
 * What the routes share about HTTP: identity from request fields, binary replies, ETags,
 * content negotiation, the headers of a trimmed BTF and the 202 of a job still running.
 * Routes import these from here, never from each other.
 */
import type { FastifyReply } from 'fastify';
import type { KernelRef } from '../catalog/catalog.js';
import { IdentityError, normalizeKernelRef } from '../identity/kernel-identity.js';
import { ApiError } from './errors.js';
import { kernelLabel, type TrimAnswer } from './trim-service.js';

type PendingAnswer = Extract<TrimAnswer, { kind: 'pending' }>;

/** The archive identity of `{distro, distro_version, arch, kernel_version}` (400 naming a bad field). */
export function kernelRefFromFields(fields: { distro: string; distro_version: string; arch: string; kernel_version: string }): KernelRef {
  return normalizeKernelRef({
    distro: fields.distro,
    distroVersion: fields.distro_version,
    arch: fields.arch,
    kernel: fields.kernel_version,
  });
}

/** The same from the BTFHub Online query (`distribution`, `distribution_version`, ...). */
export function kernelRefFromCompat(query: {
  distribution: string;
  distribution_version: string;
  arch: string;
  kernel_version: string;
}): KernelRef {
  try {
    return normalizeKernelRef({
      distro: query.distribution,
      distroVersion: query.distribution_version,
      arch: query.arch,
      kernel: query.kernel_version,
    });
  } catch (err) {
    // Name the parameter as this route spells it.
    if (err instanceof IdentityError && err.field in COMPAT_FIELDS) {
      const field = COMPAT_FIELDS[err.field];
      throw new ApiError(400, 'invalid_field', err.message.replace(/^[a-z_]+:/, `${field}:`), field);
    }
    throw err;
  }
}

const COMPAT_FIELDS: Readonly<Record<string, string>> = {
  distro: 'distribution',
  distro_version: 'distribution_version',
  arch: 'arch',
  kernel_version: 'kernel_version',
};

/** `/{distro}/{distro_version}/{arch}/{kernel_version}` with each segment escaped. */
export function kernelPath(ref: KernelRef): string {
  return [ref.distro, ref.distroVersion, ref.arch, ref.kernel].map(encodeURIComponent).join('/');
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A strong ETag for a content hash. */
export function etagOf(sha256: string): string {
  return `"${sha256}"`;
}

/** Whether an If-None-Match header (`"a", W/"b"` or `*`) matches the ETag (weak comparison, RFC 9110 13.1.2). */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return value.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === opaque);
}

/** Sends bytes as a download. */
export function sendBinary(reply: FastifyReply, bytes: Uint8Array, contentType: string, filename?: string): FastifyReply {
  reply.type(contentType);
  if (filename !== undefined) reply.header('content-disposition', `attachment; filename="${filename.replace(/["\\]/g, '_')}"`);
  return reply.send(asBuffer(bytes));
}

/** The preferred of `offered` media types for an Accept header; `fallback` when none is named. */
export function negotiate<T extends string>(accept: string | undefined, offered: readonly T[], fallback: T): T {
  if (accept === undefined || accept.trim() === '') return fallback;
  let best: { type: T; q: number; exact: boolean } | undefined;
  for (const entry of accept.split(',')) {
    const [rawType = '', ...params] = entry.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!(q > 0)) continue;
    for (const type of offered) {
      const exact = rawType === type;
      const wildcard = rawType === '*/*' || rawType === `${type.split('/')[0]}/*`;
      if (!exact && !wildcard) continue;
      // Higher q wins; at equal q, a type named outright beats one reached by a wildcard.
      if (best === undefined || q > best.q || (q === best.q && exact && !best.exact)) best = { type, q, exact };
    }
  }
  return best?.type ?? fallback;
}

/** Headers of every trimmed BTF answer: ETag (the BTF's sha256), kernel, objects hash, cache. */
export function setTrimHeaders(reply: FastifyReply, sha256: string, kernel: KernelRef, objectsHash: string, cache: 'hit' | 'miss'): void {
  reply.header('etag', etagOf(sha256));
  reply.header('x-btfhub-kernel', kernelLabel(kernel));
  reply.header('x-btfhub-objects-hash', objectsHash);
  reply.header('x-btfhub-cache', cache);
}

/** 202: the job is still running; Location says where to follow it. */
export function sendPending(reply: FastifyReply, answer: PendingAnswer): FastifyReply {
  return reply
    .code(202)
    .header('location', `/api/v1/jobs/${encodeURIComponent(answer.jobId)}`)
    .header('x-btfhub-kernel', kernelLabel(answer.kernel))
    .header('x-btfhub-objects-hash', answer.objectsHash)
    .send({ job_id: answer.jobId, state: answer.state });
}
