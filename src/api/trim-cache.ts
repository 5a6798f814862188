/**
 * The API's memory of recent trimmed results: an LRU bounded by bytes, keyed by the
 * objects hash, the kernel identity and the sha256 of the kernel file, the key of the
 * catalog's trim rows. A repeated `POST /api/v1/btf` (what an agent fleet sends all day) is
 * then answered from memory: no read of the trim row, no store read, no allocation for the
 * answer; only the kernel's current sha256 is read from the catalog, so a replaced kernel
 * never gets an answer made from its old content.
 *
 * Entries never go stale: a trim is a pure function of the objects and the kernel file, and
 * the catalog keeps the first result recorded for a key (`recordTrim` leaves an existing
 * row), which is what this cache holds. Only bytes checked against their sha256 are put here
 * (callers read stored results through `readVerified`). Memory is bounded by `maxBytes`
 * (BTFHUB_TRIM_CACHE_BYTES). The trim service puts a result here when a repeated request
 * reads it from the store, not when a new trim makes it: objects hashes asked for once (most
 * new ones) then never take room.
 *
 * It also remembers the last sha256 the catalog gave for each kernel (`noteKernel`): while
 * the catalog cannot answer, results in memory for that content are still served.
 */
import type { KernelRef } from '../catalog/catalog.js';

export interface CachedTrim {
  /** The trimmed BTF, sent as is. */
  btf: Buffer;
  /** Its sha256 (hex): the ETag. */
  sha256: string;
}

/** Kernels whose current sha256 is remembered at most. */
const MAX_KERNELS_NOTED = 10_000;

function kernelIdentity(kernel: KernelRef): string {
  return `${kernel.distro}\n${kernel.distroVersion}\n${kernel.arch}\n${kernel.kernel}`;
}

/**
 * What an entry costs beyond its result's bytes: its key (a ~175-character string), the
 * result's sha256 string and two map slots. Measured at 528 bytes of heap per entry on
 * Node 20 (test/api/trim-cache.test.ts checks the real cost stays within this); it was 256,
 * so a budget filled with entries held twice what it said.
 */
export const ENTRY_OVERHEAD_BYTES = 640;

/** A result held once however many entries point at it. */
interface SharedResult {
  trim: CachedTrim;
  /** Entries pointing at it. */
  refs: number;
}

export class TrimResultCache {
  readonly maxBytes: number;
  /** Key -> sha256 of its result. Insertion order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, string>();
  /** Results by sha256. */
  private readonly results = new Map<string, SharedResult>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new RangeError(`trim cache budget must be a non-negative integer, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** The last kernel sha256s the catalog gave, by identity; bounded, oldest dropped first. */
  private readonly kernels = new Map<string, string>();

  static key(objectsHash: string, kernel: KernelRef, kernelSha256: string): string {
    // '\n' cannot occur in a hash or an identity field, so the key is unambiguous.
    return `${objectsHash}\n${kernelIdentity(kernel)}\n${kernelSha256}`;
  }

  /** Remembers the kernel file the catalog has now for `kernel`. */
  noteKernel(kernel: KernelRef, sha256: string): void {
    const id = kernelIdentity(kernel);
    if (this.kernels.get(id) === sha256) return;
    this.kernels.delete(id);
    this.kernels.set(id, sha256);
    if (this.kernels.size > MAX_KERNELS_NOTED) this.kernels.delete(this.kernels.keys().next().value as string);
  }

  /** The kernel file the catalog last gave for `kernel`, if noted. */
  lastKernelSha256(kernel: KernelRef): string | undefined {
    return this.kernels.get(kernelIdentity(kernel));
  }

  get(objectsHash: string, kernel: KernelRef, kernelSha256: string): CachedTrim | undefined {
    const key = TrimResultCache.key(objectsHash, kernel, kernelSha256);
    const sha256 = this.entries.get(key);
    if (sha256 === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, sha256);
    return this.results.get(sha256)!.trim;
  }

  /** Keeps verified bytes: `sha256` must be the hash of `btf` (callers read through `readVerified`). */
  set(objectsHash: string, kernel: KernelRef, kernelSha256: string, btf: Uint8Array, sha256: string): void {
    if (btf.byteLength + ENTRY_OVERHEAD_BYTES > this.maxBytes) return;
    const key = TrimResultCache.key(objectsHash, kernel, kernelSha256);
    const previous = this.entries.get(key);
    if (previous !== undefined) this.drop(key, previous);
    let shared = this.results.get(sha256);
    if (shared === undefined) {
      // A copy of its own: the caller's bytes may be a view into a larger buffer it reuses.
      shared = { trim: { btf: Buffer.from(btf), sha256 }, refs: 0 };
      this.results.set(sha256, shared);
      this.bytes += btf.byteLength;
    }
    shared.refs++;
    this.entries.set(key, sha256);
    this.bytes += ENTRY_OVERHEAD_BYTES;
    for (const [oldKey, oldSha256] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldKey, oldSha256);
    }
  }

  /** Removes an entry, and its result once no entry points at it. */
  private drop(key: string, sha256: string): void {
    this.entries.delete(key);
    this.bytes -= ENTRY_OVERHEAD_BYTES;
    const shared = this.results.get(sha256)!;
    if (--shared.refs === 0) {
      this.results.delete(sha256);
      this.bytes -= shared.trim.btf.byteLength;
    }
  }

  stats(): { entries: number; results: number; bytes: number; maxBytes: number; hits: number; misses: number } {
    return {
      entries: this.entries.size,
      results: this.results.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      hits: this.hits,
      misses: this.misses,
    };
  }
}
