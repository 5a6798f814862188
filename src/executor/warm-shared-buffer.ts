/**
 * One shared buffer kept faulted in for the next kernel a codec thread will keep: a cold trim
 * reads the kernel's 5.5 MB unpacked copy into shared memory (worker-executor.ts), and into
 * fresh shared memory that read took ~11 ms on the 2-core VM we measure on, nearly all of it
 * page faults, against ~1.5-3 ms into memory already faulted in (the same read, a script on
 * the image's settings). So after each such read a new buffer of the same size (rounded up to
 * 1 MiB) is made and faulted in off the event loop, by reading /dev/zero into it on libuv's
 * thread pool, and the next read that fits takes it.
 *
 * The read's bytes are a view of their exact length at the start of the buffer; the rest of it
 * (under 1 MiB) stays with the view's buffer, and the decoded-kernel cache counts it
 * (kernel-cache.ts, `retainedBytes`). One buffer at most is kept, and none for reads over
 * `maxBytes`: it is memory held for a kernel that may never come. For the same reason it is
 * dropped once no read has taken it for `idleMs`: cold reads come in runs (a service's first
 * requests, a bundle, a deploy of agents to new hosts), and between runs a service serving
 * kernels it holds decoded would keep ~6 MB for nothing. The first read of the next run gets
 * fresh memory, and the buffer after it is warm again.
 */
import { open } from 'node:fs/promises';

export interface WarmSharedBufferOptions {
  /** Buffers are this size rounded up to a multiple of this (default 1 MiB). */
  roundTo?: number;
  /** No buffer is kept warm for reads larger than this (default 64 MiB). */
  maxBytes?: number;
  /** Faults the buffer in (default: /dev/zero read into it on the thread pool). */
  prefault?: (bytes: Uint8Array) => Promise<void>;
  /** A warm buffer no read took for this long is dropped (default 60 s). */
  idleMs?: number;
}

const MIB = 1024 * 1024;

export class WarmSharedBuffer {
  private warm: SharedArrayBuffer | undefined;
  private filling: Promise<void> | undefined;
  private closed = false;
  private readonly roundTo: number;
  private readonly maxBytes: number;
  private readonly prefault: (bytes: Uint8Array) => Promise<void>;
  private readonly idleMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Reads that took the warm buffer, those that got fresh memory, and warm buffers dropped unused. */
  readonly counts = { warm: 0, fresh: 0, dropped: 0 };

  constructor(options: WarmSharedBufferOptions = {}) {
    this.roundTo = options.roundTo ?? MIB;
    this.maxBytes = options.maxBytes ?? 64 * MIB;
    this.prefault = options.prefault ?? readZeros;
    this.idleMs = options.idleMs ?? 60_000;
  }

  /** `size` bytes of shared memory: the warm buffer when it is large enough, else new. A new warm buffer follows. */
  take(size: number): Uint8Array {
    const warm = this.warm;
    if (warm !== undefined && warm.byteLength >= size) {
      this.drop();
      this.counts.warm++;
      this.refill(size);
      return new Uint8Array(warm, 0, size);
    }
    this.counts.fresh++;
    this.refill(size);
    return new Uint8Array(new SharedArrayBuffer(size));
  }

  /** Bytes held warm now. */
  get heldBytes(): number {
    return this.warm?.byteLength ?? 0;
  }

  /** Settles once no buffer is being faulted in (tests). */
  async settled(): Promise<void> {
    await this.filling;
  }

  /** Drops the warm buffer; none is made again. */
  clear(): void {
    this.closed = true;
    this.drop();
  }

  private drop(): void {
    this.warm = undefined;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private refill(size: number): void {
    if (this.closed || this.filling !== undefined || size > this.maxBytes) return;
    const buffer = new SharedArrayBuffer(Math.max(this.roundTo, Math.ceil(size / this.roundTo) * this.roundTo));
    this.filling = this.prefault(new Uint8Array(buffer)).then(
      () => {
        this.filling = undefined;
        // Replaces a warm buffer too small for the read that asked for this one.
        if (this.closed) return;
        this.warm = buffer;
        clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => {
          this.counts.dropped++;
          this.drop();
        }, this.idleMs);
        // A buffer kept warm is no reason for the process to stay up.
        this.idleTimer.unref();
      },
      () => {
        // No /dev/zero (or a failed read): the next read gets fresh memory, as without this.
        this.filling = undefined;
      },
    );
  }
}

/** Writes every page of `bytes` by reading /dev/zero into them: the page faults are taken on the thread pool. */
async function readZeros(bytes: Uint8Array): Promise<void> {
  const zero = await open('/dev/zero', 'r');
  try {
    for (let at = 0; at < bytes.length;) {
      const { bytesRead } = await zero.read(bytes, at, bytes.length - at, null);
      if (bytesRead === 0) throw new Error('/dev/zero ended');
      at += bytesRead;
    }
  } finally {
    await zero.close();
  }
}
