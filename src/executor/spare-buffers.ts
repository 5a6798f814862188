/**
 * Kernel-sized buffers handed back by the codec threads, for the next kernel read to fill.
 *
 * Why: the image's malloc settings (MALLOC_MMAP_THRESHOLD_=131072, docs/CONFIGURATION.md) give
 * every buffer of 128 KiB or more a mapping of its own, returned to the kernel when freed. A
 * job that walks hundreds of kernels once each (a bundle) therefore reads every 5.5 MB kernel
 * into fresh pages, and on a VM a fresh page costs 10-15 µs to fault in: ~17 ms of the read
 * and ~7 ms of the hash that follows, against ~0.5 ms and ~3 ms into pages already mapped.
 * A thread that has trimmed a kernel without keeping it (`cacheKernel: false`) sends its
 * buffer back (codec-thread.ts); the next read takes it from here.
 *
 * Ownership: a buffer here came back from a thread by transfer, so no view on this thread or
 * any other can read it; `allocate` hands it to one caller, who hands it over in turn. The
 * spares are bounded by count, and all dropped once none has been taken or given for
 * `idleMs`, so a finished bundle leaves no memory held.
 */

export interface SpareBuffersOptions {
  /** Spares kept at most; one given back past that is left to the garbage collector. */
  max: number;
  /** Spares are dropped after this long without a take or a give, ms. */
  idleMs: number;
}

/** Fresh buffers are rounded up to this, so a spare fits kernels a little larger than its first (pages never written cost nothing). */
const ROUNDING = 1024 * 1024;

export class SpareBuffers {
  private spares: ArrayBuffer[] = [];
  /** Buffers `allocate` made or handed out: only those may be given to a thread whole though the view is shorter. */
  private readonly issued = new WeakSet<ArrayBuffer>();
  private idle: NodeJS.Timeout | undefined;
  private counters = { reused: 0, fresh: 0 };

  constructor(private readonly options: SpareBuffersOptions) {}

  /**
   * `size` bytes to fill, from offset 0 of a buffer nothing else holds: the smallest spare
   * that fits, else a new buffer. Its contents are whatever it held before.
   */
  readonly allocate = (size: number): Uint8Array => {
    let best = -1;
    for (let i = 0; i < this.spares.length; i++) {
      const length = this.spares[i]!.byteLength;
      if (length >= size && (best < 0 || length < this.spares[best]!.byteLength)) best = i;
    }
    let buffer: ArrayBuffer;
    if (best >= 0) {
      buffer = this.spares.splice(best, 1)[0]!;
      this.counters.reused++;
    } else {
      buffer = new ArrayBuffer(Math.max(ROUNDING, Math.ceil(size / ROUNDING) * ROUNDING));
      this.counters.fresh++;
    }
    this.issued.add(buffer);
    this.touch();
    return new Uint8Array(buffer, 0, size);
  };

  /** Whether `buffer` came from `allocate`: bytes on it may be moved whole to a thread. */
  owns(buffer: ArrayBufferLike): boolean {
    return buffer instanceof ArrayBuffer && this.issued.has(buffer);
  }

  /** A buffer no one else can read any more (transferred back from a thread). */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.spares.length >= this.options.max) return;
    this.spares.push(buffer);
    this.touch();
  }

  /** Spares held now, and how many allocations reused one or made a new one. */
  stats(): { count: number; bytes: number; reused: number; fresh: number } {
    return { count: this.spares.length, bytes: this.spares.reduce((n, b) => n + b.byteLength, 0), ...this.counters };
  }

  /** Drops every spare now. */
  clear(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    this.spares = [];
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (this.spares.length === 0) return;
    this.idle = setTimeout(() => this.clear(), this.options.idleMs);
    this.idle.unref();
  }
}
