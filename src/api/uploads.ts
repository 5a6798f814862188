/**
 * Reading a multipart upload: file parts into memory (bounded by the multipart limits),
 * text fields into a record. Problems become the API's errors: not multipart is a 415, a
 * file or field over its limit a 413, a broken body a 400, a part the route does not know
 * (a misspelt field) a 400 naming it.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

export interface UploadedFile {
  /** The form field it came in (`object`, `bpf`). */
  field: string;
  /** The client's file name, for messages; the field name when the client gave none. */
  filename: string;
  bytes: Uint8Array;
}

export interface Upload {
  files: UploadedFile[];
  fields: Record<string, string>;
}

export interface UploadRules {
  /** Field names that may carry files. */
  fileFields: readonly string[];
  /** Text field names accepted. */
  textFields: readonly string[];
  /** Whether a part of another name is an error (strict) or skipped (compatibility routes). */
  rejectUnknown: boolean;
}

/** Leaves at most this many characters of a client-given name in messages. */
const NAME_IN_MESSAGE = 80;

function shown(name: string): string {
  return JSON.stringify(name.length > NAME_IN_MESSAGE ? `${name.slice(0, NAME_IN_MESSAGE)}...` : name);
}

export async function readUpload(request: FastifyRequest, rules: UploadRules): Promise<Upload> {
  if (!request.isMultipart()) {
    throw new ApiError(415, 'unsupported_media_type', `expected multipart/form-data, got ${request.headers['content-type'] ?? 'no Content-Type'}`);
  }
  const files: UploadedFile[] = [];
  const fields: Record<string, string> = {};
  try {
    for await (const part of request.parts()) {
      const name = part.fieldname;
      if (part.type === 'file') {
        if (!rules.fileFields.includes(name)) {
          part.file.resume(); // drain it, or the parser stalls
          if (rules.rejectUnknown) throw unexpectedPart(name, rules);
          continue;
        }
        const bytes = await part.toBuffer();
        files.push({ field: name, filename: part.filename || name, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
        continue;
      }
      if (rules.fileFields.includes(name)) {
        throw new ApiError(400, 'invalid_field', `${name} must be a file part (with a filename), not a text field`, name);
      }
      if (!rules.textFields.includes(name)) {
        if (rules.rejectUnknown) throw unexpectedPart(name, rules);
        continue;
      }
      if (part.valueTruncated) throw new ApiError(413, 'payload_too_large', `field ${name} is too long`, name);
      if (name in fields) throw new ApiError(400, 'invalid_field', `field ${name} given more than once`, name);
      fields[name] = String(part.value);
    }
  } catch (err) {
    if (err instanceof ApiError || hasStatus(err)) throw err;
    // busboy's own complaints (no boundary, truncated body) carry no status: the body is malformed.
    throw new ApiError(400, 'bad_request', `malformed multipart body: ${err instanceof Error ? err.message : String(err)}`, undefined, {
      cause: err,
    });
  }
  return { files, fields };
}

function unexpectedPart(name: string, rules: UploadRules): ApiError {
  const known = [...rules.fileFields, ...rules.textFields].join(', ');
  return new ApiError(400, 'invalid_field', `unexpected part ${shown(name)}; expected ${known}`, name);
}

function hasStatus(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { statusCode?: unknown }).statusCode === 'number';
}
