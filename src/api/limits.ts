/**
 * The settings the API reads, and every limit it enforces resolved from them (the
 * configuration's defaults for what a caller building the API by hand leaves out).
 */
import { type Config, LIMIT_DEFAULTS, type RateLimitConfig } from '../config/schema.js';

/**
 * The settings the API reads. A full `Config` fits; callers that build the API by hand
 * (tests, embedding) may leave out the hardening settings: `apiLimits` fills them in.
 */
export type ApiConfig = Pick<Config, 'requestWaitMs' | 'maxFileBytes' | 'maxFiles' | 'adminToken'> &
  Partial<
    Pick<
      Config,
      | 'maxRequestBytes'
      | 'maxFieldBytes'
      | 'maxDecompressedBytes'
      | 'maxUploadBytesInFlight'
      | 'requestTimeoutMs'
      | 'rateLimit'
      | 'trustProxy'
      | 'trimCacheBytes'
      | 'queue'
      | 'generate'
      | 'compatWaitMs'
      | 'allowedOrigins'
      | 'refusedObjectsTtlMs'
    >
  >;

/** Every limit the API enforces, resolved. */
export interface ApiLimits {
  maxFileBytes: number;
  maxFiles: number;
  maxRequestBytes: number;
  maxFieldBytes: number;
  maxDecompressedBytes: number;
  maxUploadBytesInFlight: number;
  requestTimeoutMs: number;
  rateLimit: RateLimitConfig;
  trimCacheBytes: number;
}

/**
 * The limits of `config`, with the configuration's defaults for those left out, except the
 * rate limit: left out, it is off (a full `Config` always says, and tests should not trip it).
 */
export function apiLimits(config: ApiConfig): ApiLimits {
  return {
    maxFileBytes: config.maxFileBytes,
    maxFiles: config.maxFiles,
    maxRequestBytes: config.maxRequestBytes ?? Math.max(LIMIT_DEFAULTS.maxRequestBytes, config.maxFileBytes),
    maxFieldBytes: config.maxFieldBytes ?? LIMIT_DEFAULTS.maxFieldBytes,
    maxDecompressedBytes: config.maxDecompressedBytes ?? LIMIT_DEFAULTS.maxDecompressedBytes,
    maxUploadBytesInFlight: config.maxUploadBytesInFlight ?? LIMIT_DEFAULTS.maxUploadBytesInFlight,
    requestTimeoutMs: config.requestTimeoutMs ?? LIMIT_DEFAULTS.requestTimeoutMs,
    rateLimit: config.rateLimit ?? { max: 0, windowMs: LIMIT_DEFAULTS.rateLimit.windowMs },
    trimCacheBytes: config.trimCacheBytes ?? LIMIT_DEFAULTS.trimCacheBytes,
  };
}
