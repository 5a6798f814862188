/**
 * Kernels as the coverage tools consume them: an identity and a way to load the decoded
 * BTF. `compatReport` and `buildBundle` take any iterable of these, so the CLI feeds them
 * from a BTFHub-layout directory (`archiveKernels`) and the service can feed them from
 * its catalog and object store.
 *
 * Loading is the slow part (xz for a `.btf.tar.xz`, about 70 ms of CPU for a 5 MB BTF, in
 * a child process), so `loadAhead` keeps a few loads in flight while the caller works on
 * the current kernel, in order, with a bounded number of decoded kernels held at once.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ArchiveError } from '../archive/errors.js';
import { readKernelBtfFile } from '../archive/kernel-btf.js';
import { Btf } from '../btf/btf.js';
import { CodecError } from '../btf/errors.js';
import type { Catalog, KernelFilter, KernelRecord, KernelRef } from '../catalog/catalog.js';
import { scanArchive, type ArchiveSkipped } from '../kernels/archive-layout.js';
import { loadUnpacked } from '../kernels/unpacked-copy.js';
import { derivedKernelKey } from '../storage/keys.js';
import type { Allocate, ObjectStore } from '../storage/object-store.js';

export interface KernelInput {
  ref: KernelRef;
  /** Where the BTF comes from, for messages: a store key or a path. */
  source: string;
  /** sha256 (hex) of the stored kernel file, when registered (what a decode is cached under). */
  sha256?: string;
  /** The decoded BTF; rejects with a message naming `source` when the file does not decode. */
  load(): Promise<Btf>;
  /**
   * The kernel's BTF unpacked but not decoded (raw BTF, or an ELF with .BTF), for decoding
   * elsewhere (a worker thread). Optional: callers fall back to `load()` and `Btf.bytes`.
   * `allocate`: a buffer to read it into where it comes as is from a store (an unpacked copy).
   */
  loadRaw?(allocate?: Allocate): Promise<Uint8Array>;
}

export type KernelInputs = Iterable<KernelInput> | AsyncIterable<KernelInput>;

/** Progress of a run over kernels, for bars and log lines. */
export interface KernelProgress {
  /** Kernels finished (successfully or not). */
  done: number;
  /** Kernels in the run, when known up front. */
  total?: number;
  /** Of `done`, the kernels that failed (unreadable, or the objects do not resolve). */
  failed: number;
  /** The kernel just finished. */
  kernel?: KernelRef;
}

export type ProgressCallback = (progress: KernelProgress) => void;

/** Raised by `load()` when a kernel file cannot be used; the message names the file. */
export class KernelLoadError extends Error {
  override readonly name = 'KernelLoadError';
}

/** A kernel file that cannot be used (not a reason to stop a run over many kernels). */
export function isKernelFileError(error: unknown): error is Error {
  return error instanceof KernelLoadError || error instanceof CodecError || error instanceof ArchiveError;
}

/** Unpacks `bytes` (raw BTF, ELF with .BTF, or .btf.tar.xz) named `source` to what `Btf.parse` takes. */
export async function unpackKernelFile(bytes: Uint8Array, source: string): Promise<Uint8Array> {
  try {
    return await readKernelBtfFile(bytes, source);
  } catch (error) {
    if (error instanceof ArchiveError) throw new KernelLoadError(error.message, { cause: error });
    throw error;
  }
}

/** Unpacks and decodes `bytes` (raw BTF, ELF with .BTF, or .btf.tar.xz) named `source`. */
export async function decodeKernelFile(bytes: Uint8Array, source: string): Promise<Btf> {
  const raw = await unpackKernelFile(bytes, source);
  try {
    return Btf.parse(raw);
  } catch (error) {
    if (error instanceof CodecError) throw new KernelLoadError(`${source}: ${error.message}`, { cause: error });
    throw error;
  }
}

export interface ArchiveKernels {
  kernels: KernelInput[];
  /** Keys in the layout that are not kernels: markers are left out silently, bad names are listed here. */
  skipped: ArchiveSkipped[];
}

export interface ArchiveKernelsOptions {
  /**
   * Keeps the unpacked BTF of each `.btf.tar.xz` here, under its derived key
   * (`derivedKernelKey`: the service's own key for converted kernel files), and reads it
   * from there next time: xz is most of the cost of loading a kernel. Content-addressed, so
   * a changed archive file is never served stale.
   */
  rawCache?: ObjectStore;
}

/** The kernels of a BTFHub-layout store matching `filter`, in key order. Listing only: nothing is read yet. */
export async function archiveKernels(store: ObjectStore, filter: KernelFilter = {}, options: ArchiveKernelsOptions = {}): Promise<ArchiveKernels> {
  const { rawCache } = options;
  const kernels: KernelInput[] = [];
  const skipped: ArchiveSkipped[] = [];
  for await (const entry of scanArchive(store, { filter })) {
    if (entry.type === 'skipped') {
      if (entry.invalid) skipped.push(entry);
    } else if (entry.type === 'kernel') {
      const { key, ref, format } = entry;
      const loadRaw = async (): Promise<Uint8Array> => {
        const bytes = await store.get(key);
        if (bytes === null) throw new KernelLoadError(`${key}: no longer in ${store.description}`);
        if (rawCache === undefined || format !== 'btf.tar.xz') return unpackKernelFile(bytes, key);
        const cacheKey = derivedKernelKey(createHash('sha256').update(bytes).digest('hex'), ref.kernel, 'btf');
        const cached = await rawCache.get(cacheKey);
        if (cached !== null) return cached;
        const raw = await unpackKernelFile(bytes, key);
        await rawCache.put(cacheKey, raw);
        return raw;
      };
      kernels.push({
        ref,
        source: key,
        loadRaw,
        load: async () => decodeKernelFile(await loadRaw(), key),
      });
    }
  }
  return { kernels, skipped };
}

export interface CatalogKernelsOptions {
  /**
   * Where unpacked copies of `.btf.tar.xz` kernels are looked up and kept, under their derived
   * key (`derivedKernelKey` of the catalog's sha256): the key raw downloads use too
   * (src/api/kernel-files.ts), so the two share entries. Usually the service's store itself.
   */
  rawCache?: ObjectStore;
  /** Catalog page size while listing (default 500). */
  pageSize?: number;
}

/**
 * The registered kernels matching `filter`, read from `store` (the service's), in the
 * catalog's order. With a raw cache, an unpacked copy is found by the catalog's sha256
 * without reading the archive file. A stored file whose sha256 is no longer the registered
 * one fails to load (as trim jobs refuse it).
 */
export async function catalogKernels(
  catalog: Pick<Catalog, 'listKernels' | 'getDerivedFile' | 'recordDerivedFile'>,
  store: ObjectStore,
  filter: KernelFilter = {},
  options: CatalogKernelsOptions = {},
): Promise<KernelInput[]> {
  const { rawCache } = options;
  const limit = options.pageSize ?? 500;
  const records: KernelRecord[] = [];
  for (let offset = 0; ; offset += limit) {
    const page = await catalog.listKernels(filter, { limit, offset });
    records.push(...page.items);
    if (page.items.length < limit || records.length >= page.total) break;
  }
  return records.map((record) => {
    const key = record.storageKey;
    const unpack = async (): Promise<Uint8Array> => {
      const bytes = await store.get(key);
      if (bytes === null) throw new KernelLoadError(`${key}: registered, but not in ${store.description}`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== record.sha256) throw new KernelLoadError(`${key}: sha256 ${sha256} is not the registered ${record.sha256}`);
      return unpackKernelFile(bytes, key);
    };
    const loadRaw = rawCache ? (allocate?: Allocate) => loadUnpacked(catalog, rawCache, record, unpack, allocate) : unpack;
    const ref: KernelRef = { distro: record.distro, distroVersion: record.distroVersion, arch: record.arch, kernel: record.kernel };
    return { ref, source: key, sha256: record.sha256, loadRaw, load: async () => decodeKernelFile(await loadRaw(), key) };
  });
}

/** A kernel with its load under way; `loaded` never rejects unhandled. */
export interface LoadingKernel<T = Btf> {
  input: KernelInput;
  loaded: Promise<T>;
}

/** Default loads in flight: one per core, so xz runs on every core while the caller trims. */
export function defaultLoadConcurrency(): number {
  return Math.max(2, availableParallelism());
}

/**
 * Yields the inputs in order with their loads (`load`, by default `input.load()`) started up
 * to `ahead` kernels early. Holds at most `ahead + 1` loaded kernels (the caller's current
 * one included) at any time.
 */
export async function* loadAhead<T = Btf>(
  inputs: KernelInputs,
  ahead = defaultLoadConcurrency(),
  load: (input: KernelInput) => Promise<T> = (input) => input.load() as Promise<T>,
): AsyncGenerator<LoadingKernel<T>> {
  const queue: LoadingKernel<T>[] = [];
  const start = (input: KernelInput): LoadingKernel<T> => {
    const loaded = Promise.resolve().then(() => load(input));
    loaded.catch(() => {}); // observed by the consumer; never an unhandled rejection meanwhile
    return { input, loaded };
  };
  for await (const input of inputs) {
    queue.push(start(input));
    if (queue.length > ahead) yield queue.shift()!;
  }
  while (queue.length > 0) yield queue.shift()!;
}

/** The unpacked, undecoded BTF of `input` (`loadRaw`, read into `allocate`'s bytes where it can; else the decoded BTF's bytes). */
export async function loadRawKernel(input: KernelInput, allocate?: Allocate): Promise<Uint8Array> {
  return input.loadRaw ? input.loadRaw(allocate) : (await input.load()).bytes;
}

/** Number of inputs, when the iterable says (arrays do). */
export function knownCount(inputs: KernelInputs): number | undefined {
  return Array.isArray(inputs) ? inputs.length : undefined;
}
