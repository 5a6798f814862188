/**
 * @fastify/multipart with the upload limits of the configuration. Files are read into memory
 * by the routes (src/api/uploads.ts): a BPF object is parsed whole anyway, and the limits
 * bound what one request can hold (maxFiles x maxFileBytes).
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../../config/schema.js';

/** Longest text field accepted by default (BTFHUB_MAX_FIELD_BYTES); identity fields are at most 128 characters. */
const MAX_FIELD_BYTES = 1024;
/** Text fields per request; the routes use at most four. */
const MAX_FIELDS = 16;

export type UploadLimits = Pick<Config, 'maxFileBytes' | 'maxFiles'> & Partial<Pick<Config, 'maxFieldBytes'>>;

export const multipartUploads = fp(
  async (app: FastifyInstance, limits: UploadLimits) => {
    await app.register(multipart, {
      // A file over fileSize fails toBuffer() with a 413 instead of being silently truncated.
      throwFileSizeLimit: true,
      limits: {
        fileSize: limits.maxFileBytes,
        files: limits.maxFiles,
        fields: MAX_FIELDS,
        fieldSize: limits.maxFieldBytes ?? MAX_FIELD_BYTES,
        fieldNameSize: 100,
        parts: limits.maxFiles + MAX_FIELDS,
        headerPairs: 100,
      },
    });
  },
  { name: 'btfhub-multipart' },
);
