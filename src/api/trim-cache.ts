/**
 * The API's memory of recent trimmed results: an LRU bounded by bytes, keyed by the
 * objects hash and the kernel identity, the key of the catalog's trim rows. A repeated
 * `POST /api/v1/btf` (what an agent fleet sends all day) is then answered from memory:
 * no read of the trim row, no store read, no allocation for the answer.
 *
 * Entries never go stale: a trim is a pure function of the objects and the kernel file, and
 * the catalog keeps the first result recorded for a key (`recordTrim` leaves an existing
 * row), which is what this cache holds. Memory is bounded by `maxBytes` (BTFHUB_TRIM_CACHE_BYTES).
 */
import type { KernelRef } from '../catalog/catalog.js';

export interface CachedTrim {
  /** The trimmed BTF, sent as is. */
  btf: Buffer;
  /** Its sha256 (hex): the ETag. */
  sha256: string;
}

/** What an entry costs beyond its bytes: the key, the object, the map slot. */
const ENTRY_OVERHEAD_BYTES = 256;

export class TrimResultCache {
  readonly maxBytes: number;
  /** Insertion order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, CachedTrim>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`trim cache budget must be a non-negative integer, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  static key(objectsHash: string, kernel: KernelRef): string {
    // '\n' cannot occur in a hash or an identity field, so the key is unambiguous.
    return `${objectsHash}\n${kernel.distro}\n${kernel.distroVersion}\n${kernel.arch}\n${kernel.kernel}`;
  }

  get(objectsHash: string, kernel: KernelRef): CachedTrim | undefined {
    const key = TrimResultCache.key(objectsHash, kernel);
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(objectsHash: string, kernel: KernelRef, btf: Uint8Array, sha256: string): void {
    const cost = btf.byteLength + ENTRY_OVERHEAD_BYTES;
    if (cost > this.maxBytes) return;
    const key = TrimResultCache.key(objectsHash, kernel);
    const previous = this.entries.get(key);
    if (previous !== undefined) {
      this.entries.delete(key);
      this.bytes -= previous.btf.byteLength + ENTRY_OVERHEAD_BYTES;
    }
    // A copy of its own: the caller's bytes may be a view into a larger buffer it reuses.
    this.entries.set(key, { btf: Buffer.from(btf), sha256 });
    this.bytes += cost;
    for (const [oldKey, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.bytes -= old.btf.byteLength + ENTRY_OVERHEAD_BYTES;
    }
  }

  stats(): { entries: number; bytes: number; maxBytes: number; hits: number; misses: number } {
    return { entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, hits: this.hits, misses: this.misses };
  }
}
