/**
 * A streaming `.tar.gz` writer for bundles: regular files appended one at a time, gzip on
 * the fly, backpressure respected, so a bundle of thousands of kernels never sits in memory.
 *
 * Each entry is the ustar record of src/archive's `writeSingleFileTar` (fixed owner, mode
 * 0644 and mtime 0, so equal inputs give equal bytes) without its end-of-archive blocks. A
 * path longer than ustar's 100-byte name field gets a pax `path` record first (POSIX.1-2001,
 * read by GNU tar, bsdtar and src/archive's reader).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip, type Gzip } from 'node:zlib';
import { ArchiveError } from '../archive/errors.js';
import { TAR_BLOCK, unsafePathReason } from '../archive/tar.js';
import { writeSingleFileTar } from '../archive/tar-write.js';

const NAME_FIELD_BYTES = 100;
const TYPEFLAG_OFFSET = 156;
const CHECKSUM_OFFSET = 148;

export interface TarGzOptions {
  /** zlib level, 1 (fast) to 9 (small); default 6. Trimmed BTFs compress about 5:1 either way. */
  level?: number;
}

export class TarGzWriter {
  private readonly gzip: Gzip;
  private readonly done: Promise<void>;
  private failure: Error | undefined;
  private compressed = 0;
  private finished = false;

  /** Writes the compressed stream to `sink`, which is ended when the archive is. */
  constructor(sink: Writable, options: TarGzOptions = {}) {
    this.gzip = createGzip({ level: options.level ?? constants.Z_DEFAULT_COMPRESSION });
    this.gzip.on('data', (chunk: Buffer) => (this.compressed += chunk.length));
    this.done = pipeline(this.gzip, sink);
    this.done.catch((error: unknown) => (this.failure = error instanceof Error ? error : new Error(String(error))));
  }

  /** Compressed bytes produced so far (all of them once `finish` resolved). */
  get bytesWritten(): number {
    return this.compressed;
  }

  /** Appends a regular file. Resolves once the data is handed to gzip (waits when the sink is slow). */
  async add(path: string, data: Uint8Array): Promise<void> {
    if (this.finished) throw new Error('tar.gz writer: add after finish');
    const unsafe = unsafePathReason(path);
    if (unsafe) throw new ArchiveError('UNSAFE_ENTRY', `tar: refusing to write entry name '${path}': ${unsafe}`);
    const nameBytes = Buffer.byteLength(path, 'utf8');
    if (nameBytes > NAME_FIELD_BYTES) {
      await this.write(paxHeader(path));
      // The ustar name is only a fallback for readers without pax: the file name's tail.
      let short = path.slice(path.lastIndexOf('/') + 1);
      while (Buffer.byteLength(short, 'utf8') > NAME_FIELD_BYTES) short = short.slice(1);
      path = short;
    }
    await this.write(entry(path, data));
  }

  /** Ends the archive (two zero blocks), flushes gzip, and waits for the sink to finish. */
  async finish(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      this.gzip.end(new Uint8Array(2 * TAR_BLOCK));
    }
    await this.done;
  }

  /** Stops writing: the sink gets an error and whatever was written is not a valid archive. */
  abort(reason: Error): void {
    this.finished = true;
    this.gzip.destroy(reason);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async write(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    if (!this.gzip.write(chunk)) {
      await Promise.race([once(this.gzip, 'drain'), this.done]);
      this.throwIfFailed();
    }
  }
}

/** One ustar entry: header and data padded to a block, without the archive's end blocks. */
function entry(name: string, data: Uint8Array): Uint8Array {
  const whole = writeSingleFileTar(name, data);
  return whole.subarray(0, whole.length - 2 * TAR_BLOCK);
}

/** A pax extended header ('x') carrying `path`, for names beyond the ustar name field. */
function paxHeader(path: string): Uint8Array {
  const body = ` path=${path}\n`;
  // The record starts with its own length in decimal, digits included.
  let length = Buffer.byteLength(body, 'utf8') + 1;
  while (String(length).length + Buffer.byteLength(body, 'utf8') !== length) length++;
  const record = new Uint8Array(Buffer.from(`${length}${body}`, 'utf8'));
  const header = entry('PaxHeader', record);
  header[TYPEFLAG_OFFSET] = 'x'.charCodeAt(0);
  // Re-sum the checksum over the changed typeflag, written as writeSingleFileTar writes it.
  header.fill(0x20, CHECKSUM_OFFSET, CHECKSUM_OFFSET + 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += header[i]!;
  const digits = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) header[CHECKSUM_OFFSET + i] = digits.charCodeAt(i);
  header[CHECKSUM_OFFSET + 6] = 0;
  header[CHECKSUM_OFFSET + 7] = 0x20;
  return header;
}
