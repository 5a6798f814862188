/**
 * The API's error vocabulary. Every failure leaves the service as JSON
 * `{ error, message, field? }` (openapi.yaml `components.schemas.Error`) with one of the
 * statuses below; `toErrorReply` is the single place that decides which.
 *
 * Client input never reaches a 500: validation, identity, multipart, codec and archive
 * errors all map to a 4xx here. A 503 means a dependency (catalog, queue, object store) is
 * unavailable and carries Retry-After. A 500 is left for bugs and for trims that failed on
 * the server's side.
 */
import { ArchiveError } from '../archive/errors.js';
import { CodecError } from '../btf/errors.js';
import { CodecTaskError } from '../executor/codec-executor.js';
import { IdentityError } from '../identity/kernel-identity.js';
import { StorageError } from '../storage/errors.js';

/** Machine-readable error codes (the `error` member of every error body). */
export const ERROR_CODES = [
  'bad_request',
  'invalid_field',
  'missing_field',
  'not_found',
  'kernel_not_found',
  'job_not_found',
  'job_lost',
  'trim_not_found',
  'payload_too_large',
  'unsupported_media_type',
  'invalid_object',
  'limit_exceeded',
  'trim_failed',
  'unauthorized',
  'forbidden_origin',
  'admin_disabled',
  'invalid_kernel',
  'sync_not_configured',
  'rate_limited',
  'unavailable',
  'internal_error',
  'kernel_missing',
  'kernel_damaged',
  'result_damaged',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The dependencies whose outage is a 503 (and which /readyz checks). */
export type Dependency = 'catalog' | 'queue' | 'store';

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** A bound an input went over, as error bodies name it. */
export interface ExceededBound {
  name: string;
  value: number;
  actual?: number;
}

/** An error the API answers as is: status, code, message and, for input errors, the field. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** Headers the answer carries (Retry-After of a 503 or 429). */
  readonly headers: Readonly<Record<string, string>>;
  /** The bound named in the body (`limit`, `value`, `actual`). */
  readonly bound?: ExceededBound;
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown; headers?: Record<string, string>; bound?: ExceededBound },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers ?? {};
    if (options?.bound !== undefined) this.bound = options.bound;
  }
}

/**
 * The bound a codec or executor message names ("... 1000000 is over the limit maxRelocations
 * = 262144"): how a job's failure, which reaches the API as a message (through Redis, in
 * scale-out), still names its bound.
 */
export function boundInMessage(message: string): ExceededBound | undefined {
  const match = /(?:: (\d+) is )?over the limit (\w+) = (\d+)/.exec(message);
  if (match === null) return undefined;
  const bound: ExceededBound = { name: match[2]!, value: Number(match[3]) };
  if (match[1] !== undefined) bound.actual = Number(match[1]);
  return bound;
}

/** The executor's time bound: a task past it is the service's to retry later, not the input's fault for sure. */
export const TIME_BOUND = 'codecTaskTimeoutMs';

/**
 * The answer to work that went over a bound: 503 with Retry-After for the time budget,
 * otherwise 422 `limit_exceeded` on the object field.
 */
export function boundExceeded(message: string, bound: ExceededBound): ApiError {
  if (bound.name === TIME_BOUND) {
    return new ApiError(503, 'unavailable', message, undefined, { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) }, bound });
  }
  return new ApiError(422, 'limit_exceeded', message, 'object', { bound });
}

/** A 503 the client should retry after RETRY_AFTER_SECONDS (load shedding, shutting down). */
export function unavailable(message: string): ApiError {
  return new ApiError(503, 'unavailable', message, undefined, { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } });
}

/** A catalog, queue or store call failed: the service cannot answer now, the client may retry. */
export class DependencyError extends Error {
  override readonly name = 'DependencyError';
  constructor(
    readonly dependency: Dependency,
    cause: unknown,
  ) {
    super(`${dependency} unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export const missingField = (field: string, message = `${field} is required`) => new ApiError(400, 'missing_field', message, field);

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  field?: string;
  limit?: string;
  value?: number;
  actual?: number;
}

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Whether the cause deserves an error log (server-side failures), not a client mistake. */
  serverFault: boolean;
}

/** Fastify, @fastify/multipart and @fastify/error attach these. */
interface FrameworkError {
  statusCode?: unknown;
  code?: unknown;
  validation?: unknown;
  validationContext?: unknown;
  field?: unknown;
}

/** Multipart and body-parser error codes mapped to our vocabulary. */
const FRAMEWORK_CODES: Readonly<Record<string, { status: number; code: ErrorCode }>> = {
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_FILES_LIMIT: { status: 413, code: 'payload_too_large' },
  FST_PARTS_LIMIT: { status: 413, code: 'payload_too_large' },
  FST_FIELDS_LIMIT: { status: 413, code: 'payload_too_large' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_BAD_URL: { status: 400, code: 'bad_request' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 400, code: 'bad_request' },
};

/** Friendlier messages than the frameworks' terse ones ("reach files limit"). */
const FRAMEWORK_MESSAGES: Readonly<Record<string, string>> = {
  FST_REQ_FILE_TOO_LARGE: 'an uploaded file is larger than the per-file limit',
  FST_FILES_LIMIT: 'too many files in one request',
  FST_PARTS_LIMIT: 'too many parts in the multipart body',
  FST_FIELDS_LIMIT: 'too many form fields',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'expected a multipart/form-data body',
  FST_ERR_MAX_PARAM_LENGTH: 'a path segment is too long',
  FST_ERR_BAD_URL: 'the URL does not decode (bad percent-encoding)',
};

function boundBody(bound: ExceededBound): Pick<ErrorBody, 'limit' | 'value' | 'actual'> {
  return { limit: bound.name, value: bound.value, ...(bound.actual !== undefined && { actual: bound.actual }) };
}

/** Decides status, body and headers for any error a request can end in. */
export function toErrorReply(err: unknown): ErrorReply {
  const reply = (status: number, code: ErrorCode, message: string, field?: string, headers: Record<string, string> = {}): ErrorReply => ({
    status,
    body: field === undefined ? { error: code, message } : { error: code, message, field },
    headers,
    serverFault: status >= 500,
  });

  if (err instanceof ApiError) {
    const answer = reply(err.statusCode, err.code, err.message, err.field, { ...err.headers });
    if (err.bound !== undefined) Object.assign(answer.body, boundBody(err.bound));
    return answer;
  }
  if (err instanceof IdentityError) return reply(400, 'invalid_field', err.message, err.field);
  if ((err instanceof CodecError || err instanceof CodecTaskError) && err.limit !== undefined) {
    return toErrorReply(boundExceeded(err.message, err.limit));
  }
  if (err instanceof CodecError) return reply(422, 'invalid_object', err.message, 'object');
  if (err instanceof CodecTaskError && err.stage === 'object') return reply(422, 'invalid_object', err.message, 'object');
  if (err instanceof DependencyError) {
    return reply(503, 'unavailable', `the ${err.dependency} is unavailable, retry later`, undefined, {
      'retry-after': String(RETRY_AFTER_SECONDS),
    });
  }
  if (err instanceof StorageError && err.code === 'UNAVAILABLE') {
    return reply(503, 'unavailable', 'the store is unavailable, retry later', undefined, { 'retry-after': String(RETRY_AFTER_SECONDS) });
  }
  if (err instanceof ArchiveError) return reply(500, 'internal_error', `stored kernel BTF is unreadable: ${err.message}`);

  const framework = (typeof err === 'object' && err !== null ? err : {}) as FrameworkError;
  const message = err instanceof Error ? err.message : String(err);
  const fwCode = typeof framework.code === 'string' ? framework.code : '';
  const mapped = FRAMEWORK_CODES[fwCode];
  if (mapped) return reply(mapped.status, mapped.code, FRAMEWORK_MESSAGES[fwCode] ?? message);
  if (framework.validation !== undefined || fwCode === 'FST_ERR_VALIDATION') {
    const field = typeof framework.field === 'string' ? framework.field : undefined;
    return reply(400, 'invalid_field', message, field);
  }
  const status = typeof framework.statusCode === 'number' ? framework.statusCode : 500;
  if (status === 413) return reply(413, 'payload_too_large', message);
  if (status === 415) return reply(415, 'unsupported_media_type', message);
  if (status === 404) return reply(404, 'not_found', message);
  if (status >= 400 && status < 500) return reply(400, 'bad_request', message);
  return reply(500, 'internal_error', 'internal error');
}
