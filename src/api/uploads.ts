/**
 * Reading a multipart upload: file parts into memory, text fields into a record, every
 * byte counted against the limits before it is kept. Problems become the API's errors: not
 * multipart is a 415; a file, a field or the whole request over its limit a 413 (a declared
 * Content-Length over the request limit is refused before a byte is read); a broken body a
 * 400; a part the route does not know (a misspelt field) a 400 naming it; more upload bytes
 * held by all requests together than the process allows a 503 with Retry-After.
 *
 * Each file is hashed (sha256) as it streams in, so a request answered from a cache never
 * needs its chunks joined. Routes that take BPF objects may accept them gzip-compressed
 * (`decompress`): inflated with the output bounded by the per-file limit, so a
 * decompression bomb is a 413, and a damaged stream a 422.
 */
import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { ArchiveError } from '../archive/errors.js';
import { decompressGzip, isGzip } from '../archive/gzip.js';
import { ApiError, unavailable } from './errors.js';
import type { ApiLimits } from './limits.js';
import { releaseBuffer } from './release-buffer.js';
import { weighShared } from './shared-join-pressure.js';
import type { StageTimings } from './stage-timings.js';

export interface UploadedFile {
  /** The form field it came in (`object`, `bpf`). */
  field: string;
  /** The client's file name, for messages; the field name when the client gave none. */
  filename: string;
  /** The contents (decompressed, when the route accepts compressed uploads). */
  readonly bytes: Uint8Array;
  /** sha256 (hex) of `bytes`. */
  readonly sha256: string;
  /** Bytes as received (before decompression). */
  readonly receivedBytes: number;
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
  /** Whether gzip-compressed files are inflated (BPF object routes). Default false. */
  decompress?: boolean;
}

/** Leaves at most this many characters of a client-given name in messages. */
const NAME_IN_MESSAGE = 80;

function shown(name: string): string {
  return JSON.stringify(name.length > NAME_IN_MESSAGE ? `${name.slice(0, NAME_IN_MESSAGE)}...` : name);
}

/**
 * Upload bytes held in memory by all requests of this process. A request takes from it as
 * its file chunks arrive and gives everything back when its answer is sent (or the client
 * goes away), so memory taken by uploads stays under the bound whatever the connection count.
 *
 * It also gives the received chunks' memory back to the system once the request is
 * answered (watch, holdChunk, releaseChunks), instead of leaving it to V8's collections
 * (release-buffer.ts says why that matters): only chunks Node's HTTP parser made for this
 * request and that held file data, which nothing reads once the answer is sent (files are
 * joined into copies of their own before anything else sees their bytes).
 */
export class UploadBudget {
  private used = 0;
  private readonly held = new WeakMap<FastifyRequest, number>();
  /** Per request: the body chunks the parser made (watch), and those of them holding file data (holdChunk). */
  private readonly parserChunks = new WeakMap<FastifyRequest, Set<ArrayBuffer>>();
  private readonly chunkBuffers = new WeakMap<FastifyRequest, Set<ArrayBuffer>>();
  private releasedChunkBytes = 0;

  /** `limit` 0: no bound (the bytes are still counted). */
  constructor(readonly limit: number) {}

  /** Counts `bytes` for `request`; a 503 when that would pass the bound. */
  take(request: FastifyRequest, bytes: number): void {
    if (this.limit > 0 && this.used + bytes > this.limit) {
      const busy = unavailable('the service is busy receiving other uploads; retry shortly');
      // The rest of this body is not read: end the connection with the answer.
      throw new ApiError(busy.statusCode, busy.code, busy.message, undefined, { headers: { ...busy.headers, connection: 'close' } });
    }
    this.used += bytes;
    this.held.set(request, (this.held.get(request) ?? 0) + bytes);
  }

  /** Gives back everything `request` took. Safe to call more than once. */
  release(request: FastifyRequest): void {
    const bytes = this.held.get(request);
    if (bytes === undefined) return;
    this.held.delete(request);
    this.used -= bytes;
  }

  /** Bytes held now. */
  inUse(): number {
    return this.used;
  }

  /**
   * Starts noting the body chunks Node's HTTP parser makes for `request`, so that the file
   * chunks among them can be freed once it is answered (holdChunk, releaseChunks). Must run
   * before the body is read: from an onRequest hook, which Fastify runs while the parser is
   * still at the end of the headers. Only a multipart request Node's HTTP server parsed
   * (`request.raw` an IncomingMessage) is watched: a request injected in process, or over
   * HTTP/2, carries buffers that may be its caller's.
   *
   * Why note them at the source: a chunk the parser pushes is a copy of its own (byte 0 to
   * its end, at most one 64 KiB read of the socket), owned by this request alone. The views
   * busboy hands us may instead be slices of its own copies, which come from Node's Buffer
   * pool, shared by unrelated Buffers; freeing that would wipe them (Node 22 lets it be
   * detached). Only buffers noted here are ever freed.
   */
  watch(request: FastifyRequest): void {
    const raw = request.raw;
    if (!(raw instanceof IncomingMessage) || !String(raw.headers['content-type'] ?? '').startsWith('multipart/')) return;
    const made = new Set<ArrayBuffer>();
    this.parserChunks.set(request, made);
    const push = raw.push.bind(raw);
    raw.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      // A buffer of its own, whole: byte 0 to its end, at most one read of the socket.
      const own = chunk instanceof Uint8Array && chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer;
      if (own && chunk.byteLength === chunk.buffer.byteLength && chunk.byteLength <= PARSER_CHUNK_MAX_BYTES) made.add(chunk.buffer);
      return push(chunk, encoding);
    };
  }

  /** Marks the parser's chunk a received file chunk is a view of (if it is one: watch) to be freed when `request` is answered. */
  holdChunk(request: FastifyRequest, chunk: Uint8Array): void {
    const buffer = chunk.buffer;
    if (!(buffer instanceof ArrayBuffer) || this.parserChunks.get(request)?.has(buffer) !== true) return;
    let buffers = this.chunkBuffers.get(request);
    if (buffers === undefined) this.chunkBuffers.set(request, (buffers = new Set()));
    buffers.add(buffer);
  }

  /**
   * Frees the chunks held for `request` (holdChunk). Call only once its answer is sent:
   * every view of them reads zero bytes after. Returns the bytes freed.
   */
  releaseChunks(request: FastifyRequest): number {
    this.parserChunks.delete(request);
    const buffers = this.chunkBuffers.get(request);
    if (buffers === undefined) return 0;
    this.chunkBuffers.delete(request);
    let bytes = 0;
    for (const buffer of buffers) {
      const size = buffer.byteLength;
      if (releaseBuffer(buffer)) bytes += size;
    }
    this.releasedChunkBytes += bytes;
    return bytes;
  }

  /** Bytes of received chunks freed so far by releaseChunks. */
  chunkBytesReleased(): number {
    return this.releasedChunkBytes;
  }
}

/** The most a body chunk of Node's HTTP parser holds: one read of the socket (libuv's 64 KiB). */
const PARSER_CHUNK_MAX_BYTES = 64 * 1024;

/**
 * Files this big or bigger are joined into shared memory: a codec thread is then sent a view
 * of the same bytes instead of a copy (postMessage clones an ordinary buffer, twice: into the
 * message and out of it, on fresh pages each time). For a 1.69 MB object that was ~4 ms of the
 * event loop's time per new trim and ~25 ms of the process's CPU in all (the copy the thread
 * received counted against its small heap as external memory). Smaller files are copied
 * into an ordinary buffer (less work than setting up shared memory), even from a single
 * chunk: the parser's chunks are freed once the request is answered
 * (UploadBudget.releaseChunks), and a file's bytes may be kept longer (a job's input, a parse
 * cache).
 */
export const SHARED_JOIN_MIN_BYTES = 64 * 1024;

/** A file part as received: its chunks, joined only when someone needs the bytes. */
class ReceivedFile implements UploadedFile {
  private joined: Uint8Array | undefined;

  constructor(
    readonly field: string,
    readonly filename: string,
    private chunks: Buffer[],
    readonly receivedBytes: number,
    readonly sha256: string,
  ) {}

  get bytes(): Uint8Array {
    if (this.joined === undefined) {
      this.joined = joinChunks(this.chunks, this.receivedBytes);
      this.chunks = [];
    }
    return this.joined;
  }
}

/**
 * `chunks` (`size` bytes in all) joined into a copy of their own: in shared memory from
 * SHARED_JOIN_MIN_BYTES on. Throws when the chunks no longer hold `size` bytes (freed before
 * they were joined: a file read after its request was answered), rather than give other bytes.
 */
export function joinChunks(chunks: readonly Uint8Array[], size: number): Uint8Array {
  let held = 0;
  for (const chunk of chunks) held += chunk.length;
  if (held !== size) throw new Error(`an upload's chunks hold ${held} of its ${size} bytes: read after they were freed`);
  if (size >= SHARED_JOIN_MIN_BYTES) {
    const shared = new SharedArrayBuffer(size);
    weighShared(shared);
    const joined = new Uint8Array(shared);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    return joined;
  }
  const buffer = Buffer.concat(chunks, size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** A file inflated from a gzip upload. */
class InflatedFile implements UploadedFile {
  readonly sha256: string;
  constructor(
    readonly field: string,
    readonly filename: string,
    readonly bytes: Uint8Array,
    readonly receivedBytes: number,
  ) {
    this.sha256 = createHash('sha256').update(bytes).digest('hex');
  }
}

/**
 * `timings`, when given, gets the parse's time as `multipart`, the hashing as `hash` and the
 * inflating of gzip uploads as `inflate` (the Server-Timing header of trim routes).
 */
export async function readUpload(request: FastifyRequest, rules: UploadRules, timings?: StageTimings): Promise<Upload> {
  const started = performance.now();
  let hashMs = 0;
  let inflateMs = 0;
  if (!request.isMultipart()) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `expected multipart/form-data, got ${request.headers['content-type'] ?? 'no Content-Type'}`,
    );
  }
  const { limits, uploads } = request.server.services;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxRequestBytes) {
    throw requestTooLarge(limits);
  }
  const files: UploadedFile[] = [];
  const fields: Record<string, string> = {};
  let total = 0;
  const count = (bytes: number) => {
    total += bytes;
    if (total > limits.maxRequestBytes) throw requestTooLarge(limits);
    uploads.take(request, bytes);
  };
  const stall = new StallGuard(request);
  try {
    await stall.watch(async () => {
      for await (const part of request.parts()) {
        stall.progress();
        // Typed as a string, but undefined when the part's Content-Disposition has no name.
        const name = part.fieldname as string | undefined;
        // A part without a name, or a file part no rule names: drained, refused where the route is strict.
        if (name === undefined || (part.type === 'file' && !rules.fileFields.includes(name))) {
          if (part.type === 'file') part.file.resume(); // drain it, or the parser stalls
          if (rules.rejectUnknown) throw unexpectedPart(name, rules);
          continue;
        }
        if (part.type === 'file') {
          const filename = part.filename || name;
          const hash = createHash('sha256');
          const chunks: Buffer[] = [];
          let size = 0;
          for await (const chunk of part.file as AsyncIterable<Buffer>) {
            if (part.file.truncated) throw fileTooLarge(filename, limits);
            count(chunk.length);
            stall.progress();
            size += chunk.length;
            const hashing = performance.now();
            hash.update(chunk);
            hashMs += performance.now() - hashing;
            chunks.push(chunk);
            uploads.holdChunk(request, chunk);
          }
          if (part.file.truncated) throw fileTooLarge(filename, limits);
          const hashing = performance.now();
          const received = new ReceivedFile(name, filename, chunks, size, hash.digest('hex'));
          hashMs += performance.now() - hashing;
          // The magic is in the first chunk (3 bytes): no need to join the chunks to look.
          const head = chunks[0]?.length !== undefined && chunks[0].length >= 3 ? chunks[0] : received.bytes;
          if (rules.decompress && isGzip(head)) {
            const inflating = performance.now();
            files.push(await stall.busy(() => inflate(request, received, limits)));
            inflateMs += performance.now() - inflating;
          } else {
            files.push(received);
          }
          continue;
        }
        if (rules.fileFields.includes(name)) {
          throw new ApiError(400, 'invalid_field', `${name} must be a file part (with a filename), not a text field`, name);
        }
        if (!rules.textFields.includes(name)) {
          if (rules.rejectUnknown) throw unexpectedPart(name, rules);
          continue;
        }
        if (part.valueTruncated)
          throw new ApiError(413, 'payload_too_large', `field ${name} is longer than ${limits.maxFieldBytes} bytes`, name);
        if (name in fields) throw new ApiError(400, 'invalid_field', `field ${name} given more than once`, name);
        const value = String(part.value);
        count(Buffer.byteLength(value));
        fields[name] = value;
      }
    });
  } catch (err) {
    if (err instanceof ApiError || hasStatus(err)) throw err;
    // busboy's own complaints (no boundary, truncated body) carry no status: the body is malformed.
    throw new ApiError(400, 'bad_request', `malformed multipart body: ${err instanceof Error ? err.message : String(err)}`, undefined, {
      cause: err,
    });
  }
  if (timings !== undefined) {
    timings.add('multipart', performance.now() - started - hashMs - inflateMs);
    timings.add('hash', hashMs);
    if (inflateMs > 0) timings.add('inflate', inflateMs);
  }
  return { files, fields };
}

/** How long the parse may make no progress while it waits on the parser alone. */
const STALL_MS = 2000;

/**
 * Ends a parse that stopped making progress while it waits on the parser alone. busboy
 * (3.2.6) never finishes, nor fails, on some malformed bodies: a part without a usable
 * Content-Disposition longer than its stream's buffer (16 KB) is skipped and then stalls the
 * parser, with no timer or I/O left to end it. Node's request timeout covers receiving the
 * body, not this, so such a request held its connection and its share of the in-flight
 * upload budget forever (found by `npm run fuzz`). Progress is a part or a chunk handed to
 * us; the time our own awaits take (inflating a gzip upload) is not the parser's.
 */
class StallGuard {
  private last = performance.now();
  private busyCount = 0;

  constructor(private readonly request: FastifyRequest) {}

  progress(): void {
    this.last = performance.now();
  }

  async busy<T>(work: () => Promise<T>): Promise<T> {
    this.busyCount++;
    try {
      return await work();
    } finally {
      this.busyCount--;
      this.progress();
    }
  }

  /** `parse()`, or a 400 once it waits on the parser alone and has not moved for STALL_MS. */
  async watch(parse: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      const check = () => {
        // Waiting on the parser, not on the client: the body is all here, or the parser's
        // backpressure paused the request stream (a client merely slow to send leaves it flowing).
        const raw = this.request.raw;
        const waitingOnParser = raw.readableEnded || raw.complete || raw.readableFlowing === false;
        if (waitingOnParser && this.busyCount === 0 && performance.now() - this.last >= STALL_MS) {
          reject(new ApiError(400, 'bad_request', 'malformed multipart body: the parser stopped before its end', undefined, CLOSE));
          return;
        }
        timer = setTimeout(check, STALL_MS / 4);
      };
      // Not unref'd: a stalled parse holds no I/O, so this timer is what keeps its answer coming.
      timer = setTimeout(check, STALL_MS / 4);
    });
    try {
      await Promise.race([parse(), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A gzip upload inflated, bounded by the per-file limit (and the decompression limit). */
async function inflate(request: FastifyRequest, file: ReceivedFile, limits: ApiLimits): Promise<UploadedFile> {
  const maxOutputBytes = Math.min(limits.maxFileBytes, limits.maxDecompressedBytes);
  let bytes: Uint8Array;
  // The output counts against the in-flight budget as it inflates: eight gzip bombs at once
  // are refused (503) once the budget is reached, not after each is whole in memory.
  const budget = request.server.services.uploads;
  try {
    bytes = await decompressGzip(file.bytes, { maxOutputBytes, onOutput: (n) => budget.take(request, n) });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof ArchiveError && err.code === 'LIMIT') {
      throw new ApiError(413, 'payload_too_large', `${shown(file.filename)} decompresses to more than ${maxOutputBytes} bytes`, file.field);
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new ApiError(422, 'invalid_object', `${shown(file.filename)} looks gzip-compressed but does not decompress: ${why}`, file.field);
  }
  // Big ones into shared memory too, as received files are (one copy here, instead of postMessage's two); small ones stay
  // as they are (the inflated output is a buffer of our own, not one of the parser's chunks).
  const inflated = bytes.length >= SHARED_JOIN_MIN_BYTES ? joinChunks([bytes], bytes.length) : bytes;
  return new InflatedFile(file.field, file.filename, inflated, file.receivedBytes);
}

/** The rest of an oversized body is never read: the connection ends with the answer. */
const CLOSE = { headers: { connection: 'close' } };

function requestTooLarge(limits: ApiLimits): ApiError {
  return new ApiError(413, 'payload_too_large', `the request is larger than ${limits.maxRequestBytes} bytes`, undefined, CLOSE);
}

function fileTooLarge(filename: string, limits: ApiLimits): ApiError {
  return new ApiError(
    413,
    'payload_too_large',
    `${shown(filename)} is larger than the per-file limit of ${limits.maxFileBytes} bytes`,
    undefined,
    CLOSE,
  );
}

/**
 * A part no rule names. `name` is undefined for a part whose Content-Disposition has no
 * `name` parameter (busboy passes it on as is; found by `npm run fuzz`, answered with a
 * TypeError's message before).
 */
function unexpectedPart(name: string | undefined, rules: UploadRules): ApiError {
  const known = [...rules.fileFields, ...rules.textFields].join(', ');
  if (name === undefined)
    return new ApiError(400, 'invalid_field', `a part has no name (its Content-Disposition needs name="..."); expected ${known}`);
  return new ApiError(400, 'invalid_field', `unexpected part ${shown(name)}; expected ${known}`, name);
}

function hasStatus(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { statusCode?: unknown }).statusCode === 'number';
}
