/**
 * The decoded kernels a worker keeps in memory: an LRU of `Btf` values bounded by the memory
 * they hold (`retainedBytes`). Decoding a kernel means fetching 2-15 MiB from the store, maybe
 * running xz, and one linear pass over ~100k types, so a worker that trims for a handful of
 * popular kernels should do it once per kernel, not once per job.
 *
 * Entries are keyed by the kernel's storage key and sha256 together, so re-registering a
 * changed file under the same key never serves the old decode. Concurrent requests for a
 * kernel that is being loaded share that one load (promise dedup); a failed load is not
 * cached, the next request tries again.
 */
import type { Btf } from '../btf/index.js';

export interface KernelCacheKey {
  /** Object-store key of the full BTF. */
  storageKey: string;
  /** sha256 (hex) of the stored object, as the catalog records it. */
  sha256: string;
}

export interface KernelCacheStats {
  /** Requests served from a cached decode. */
  hits: number;
  /** Requests that started a load. */
  misses: number;
  /** Requests that joined a load already in flight. */
  sharedLoads: number;
  /** Loads that failed. */
  loadFailures: number;
  /** Entries dropped to stay within the budget. */
  evictions: number;
  /** Decodes larger than the whole budget: returned, never cached. */
  uncacheable: number;
  /** Bytes held by cached entries (sum of `retainedBytes`: `Btf.memoryBytes`, and the rest of the buffer their bytes are views of). */
  bytes: number;
  entries: number;
  maxBytes: number;
  /** Loads in flight now. */
  loading: number;
}

export interface KernelCacheOptions {
  /** Budget in bytes; 0 disables caching (concurrent loads are still shared). */
  maxBytes: number;
}

interface Entry {
  btf: Btf;
  bytes: number;
}

export class KernelCache {
  readonly maxBytes: number;
  /** Map iteration order is insertion order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Btf>>();
  private bytes = 0;
  private counters = { hits: 0, misses: 0, sharedLoads: 0, loadFailures: 0, evictions: 0, uncacheable: 0 };

  constructor(options: KernelCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new RangeError(`kernel cache budget must be a non-negative integer, got ${options.maxBytes}`);
    }
    this.maxBytes = options.maxBytes;
  }

  /**
   * The decoded kernel for `key`: from the cache, from a load in flight, or from `load()`
   * (whose rejection is passed on to every caller waiting for it).
   */
  get(key: KernelCacheKey, load: () => Promise<Btf>): Promise<Btf> {
    const id = cacheId(key);
    const entry = this.entries.get(id);
    if (entry !== undefined) {
      this.counters.hits++;
      // Move to the most recently used end.
      this.entries.delete(id);
      this.entries.set(id, entry);
      return Promise.resolve(entry.btf);
    }
    const inFlight = this.loading.get(id);
    if (inFlight !== undefined) {
      this.counters.sharedLoads++;
      return inFlight;
    }
    this.counters.misses++;
    const loaded = (async () => {
      try {
        const btf = await load();
        this.insert(id, btf);
        return btf;
      } catch (error) {
        this.counters.loadFailures++;
        throw error;
      } finally {
        this.loading.delete(id);
      }
    })();
    this.loading.set(id, loaded);
    return loaded;
  }

  /** Whether a decode for `key` is cached (does not count as a use). */
  has(key: KernelCacheKey): boolean {
    return this.entries.has(cacheId(key));
  }

  /** Drops every cached entry; loads in flight complete and are cached as usual. */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): KernelCacheStats {
    return {
      ...this.counters,
      bytes: this.bytes,
      entries: this.entries.size,
      maxBytes: this.maxBytes,
      loading: this.loading.size,
    };
  }

  private insert(id: string, btf: Btf): void {
    const bytes = retainedBytes(btf);
    if (bytes > this.maxBytes) {
      this.counters.uncacheable++;
      return;
    }
    const previous = this.entries.get(id);
    if (previous !== undefined) {
      this.entries.delete(id);
      this.bytes -= previous.bytes;
    }
    this.entries.set(id, { btf, bytes });
    this.bytes += bytes;
    for (const [oldId, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldId);
      this.bytes -= old.bytes;
      this.counters.evictions++;
    }
  }
}

/**
 * What keeping a decode holds in memory: its indexes, and the whole buffer its bytes are a view
 * of (`Btf.memoryBytes` counts the view: a kernel read into a larger warm buffer, or the .BTF
 * section of an ELF, keeps the rest of its buffer alive too).
 */
export function retainedBytes(btf: Btf): number {
  return btf.memoryBytes - btf.bytes.byteLength + btf.bytes.buffer.byteLength;
}

function cacheId(key: KernelCacheKey): string {
  // NUL cannot occur in a valid storage key, so the pair maps to one string unambiguously.
  return `${key.storageKey}\0${key.sha256}`;
}
