/**
 * Cache hits counted in the catalog (`trims.hits`), off the request path: a hit is
 * counted in memory at once and written by one background flush a moment later, so a
 * cached answer never waits for a database write, and an unavailable catalog never turns
 * a cached answer into an error. Pending counts are bounded; past the bound new hits are
 * dropped (and counted as dropped), which only makes the statistics a little low.
 */
import type { Catalog, KernelRef, TrimHits } from '../catalog/catalog.js';

export interface TrimHitRecorderOptions {
  /** How long after a hit it is written. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Distinct (objects, kernel) pairs waiting at most. Default 10000. */
  maxPending?: number;
  /** Told once per flush that had failed writes: the first error and the hits dropped. */
  onError?: (error: unknown, droppedHits: number) => void;
}

export class TrimHitRecorder {
  private pending = new Map<string, TrimHits>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly flushIntervalMs: number;
  private readonly maxPending: number;
  private closed = false;
  /** Hits not recorded because too many were pending. */
  dropped = 0;

  constructor(
    private readonly catalog: Pick<Catalog, 'recordTrimHits'>,
    private readonly options: TrimHitRecorderOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 10_000;
  }

  record(objectsHash: string, kernel: KernelRef, kernelSha256: string): void {
    const key = `${objectsHash}\n${kernel.distro}\n${kernel.distroVersion}\n${kernel.arch}\n${kernel.kernel}\n${kernelSha256}`;
    const entry = this.pending.get(key);
    if (entry !== undefined) entry.count++;
    else if (this.pending.size >= this.maxPending) this.dropped++;
    else this.pending.set(key, { objectsHash, kernel, kernelSha256, count: 1 });
    if (this.timer === undefined && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes every pending hit. One flush at a time; a second call waits for the first. */
  async flush(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = (async () => {
      try {
        // One write for the whole batch (a count per trim), not one per hit: on SQLite it runs
        // on the event loop, where a commit per hit held it 16-50 ms per flush at the rates
        // cached answers reach.
        await this.catalog.recordTrimHits([...batch.values()]);
      } catch (error) {
        let lost = 0;
        for (const { count } of batch.values()) lost += count;
        this.dropped += lost;
        this.options.onError?.(error, lost);
      }
    })().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
