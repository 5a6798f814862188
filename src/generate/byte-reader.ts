/**
 * Sequential reads over a stream of chunks (a file, a decompressor's output) for the
 * container parsers (ar, tar, cpio, RPM): exact reads of small headers, skips, and bounded
 * copies of entry data to a file, without ever holding more than one chunk plus a header
 * in memory. A stream that ends inside a read is a GenerateError('TRUNCATED') naming what
 * was being read and where.
 */
import type { Writable } from 'node:stream';
import { GenerateError } from './errors.js';

export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** Unconsumed bytes of the current chunk. */
  private buffered: Uint8Array = new Uint8Array(0);
  private ended = false;
  private consumed = 0;

  /** `what` names the stream in messages ("data.tar.xz of linux-image.deb"). */
  constructor(
    source: AsyncIterable<Uint8Array>,
    readonly what: string,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Bytes consumed so far: the offset of the next read. */
  get offset(): number {
    return this.consumed;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /** Exactly `length` bytes; TRUNCATED if the stream ends first. `field` names them for the message. */
  async readExact(length: number, field: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      if (!(await this.fill())) throw this.truncated(field, length, at);
      const take = Math.min(length - at, this.buffered.length);
      out.set(this.buffered.subarray(0, take), at);
      this.advance(take);
      at += take;
    }
    return out;
  }

  /** Up to `length` bytes without consuming them (fewer only at the end of the stream). */
  async peek(length: number): Promise<Uint8Array> {
    while (this.buffered.length < length && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const joined = new Uint8Array(this.buffered.length + next.value.length);
      joined.set(this.buffered);
      joined.set(next.value, this.buffered.length);
      this.buffered = joined;
    }
    return this.buffered.subarray(0, Math.min(length, this.buffered.length));
  }

  /** Up to `length` bytes: fewer only at the end of the stream. */
  async readUpTo(length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length && (await this.fill())) {
      const take = Math.min(length - at, this.buffered.length);
      out.set(this.buffered.subarray(0, take), at);
      this.advance(take);
      at += take;
    }
    return out.subarray(0, at);
  }

  async skip(length: number, field: string): Promise<void> {
    let left = length;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated(field, length, length - left);
      const take = Math.min(left, this.buffered.length);
      this.advance(take);
      left -= take;
    }
  }

  /** Copies exactly `length` bytes into `sink`, honouring its backpressure; the sink is not ended. */
  async copyTo(length: number, sink: Writable, field: string): Promise<void> {
    let left = length;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated(field, length, length - left);
      const take = Math.min(left, this.buffered.length);
      const chunk = this.buffered.subarray(0, take);
      this.advance(take);
      left -= take;
      if (!sink.write(chunk)) await drained(sink);
    }
  }

  /** The next `length` bytes as a stream of chunks (an ar member handed to a decompressor). */
  async *slice(length: number, field: string): AsyncGenerator<Uint8Array> {
    let left = length;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated(field, length, length - left);
      const take = Math.min(left, this.buffered.length);
      const chunk = this.buffered.slice(0, take);
      this.advance(take);
      left -= take;
      yield chunk;
    }
  }

  /** Everything left, as a stream of chunks (an RPM payload). */
  async *rest(): AsyncGenerator<Uint8Array> {
    while (await this.fill()) {
      const chunk = this.buffered;
      this.advance(chunk.length);
      yield chunk;
    }
  }

  /** Stops the underlying stream early (a found entry, an error): closes files, kills decompressors. */
  async close(): Promise<void> {
    this.ended = true;
    await this.iterator.return?.();
  }

  private advance(count: number): void {
    this.buffered = this.buffered.subarray(count);
    this.consumed += count;
  }

  /** Makes sure some bytes are buffered; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    while (this.buffered.length === 0) {
      if (this.ended) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.buffered = next.value;
    }
    return true;
  }

  private truncated(field: string, wanted: number, got: number): GenerateError {
    const at = this.consumed - got;
    return new GenerateError(
      'TRUNCATED',
      `${this.what}: truncated: the data ends at byte ${this.consumed} inside ${field} (offset ${at}, ${wanted} bytes declared, ${got} present)`,
    );
  }
}

function drained(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      sink.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      sink.off('drain', onDrain);
      reject(err);
    };
    sink.once('drain', onDrain);
    sink.once('error', onError);
  });
}
