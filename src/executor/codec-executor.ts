/**
 * The one seam through which the service runs the codec's CPU work on request data: checking
 * that uploads are BPF CO-RE objects, and trimming a kernel's BTF for objects with the
 * relocation-by-relocation verification. Everything crossing it is bytes and plain values
 * (no decoded `Btf`), so an implementation may run the work elsewhere: `InlineCodecExecutor`
 * runs it on the caller's thread with a cache of decoded kernels; a worker-thread pool (a heap
 * cap and a time budget per task, a thread that dies replaced) can implement the same
 * interface without its callers changing (src/bundle/trim-pool.ts is the start of one).
 *
 * Failures of the work are `CodecTaskError`s that say which stage failed, so callers map
 * them to their own errors (a job's client or server error, an API status) without knowing
 * where the work ran. Three stages exist because the work may run on a thread with bounds of
 * its own: `limit` (the input is over a codec bound, `limit` names it), `memory` (the thread
 * ran out of its heap on this input) and `timeout` (the task ran past its time budget).
 */
import type { CodecLimitExceeded } from '../btf/errors.js';
import type { KernelCompat, RelocationInfo } from '../coverage/compat.js';
import type { UncheckedBytes } from '../storage/integrity.js';
import type { Allocate } from '../storage/object-store.js';
import type { KernelCacheKey } from './kernel-cache.js';

/** An uploaded object: its bytes and the name messages call it by. */
/** Bytes of V8 heaps: used and committed, and the memory outside them their objects hold (ArrayBuffers). */
export interface ThreadHeap {
  used: number;
  total: number;
  external: number;
}

export interface ObjectBytes {
  name: string;
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes` when known: lets an executor keep the parsed object between calls (compat, kernel after kernel). */
  sha256?: string;
}

/**
 * An object a trim may not need the bytes of: an executor that keeps its parse (by sha256)
 * uses it, and calls `load()` only when it does not. A job names the objects it trims by
 * their hash; reading and checking a 785 KB object back from the store took ~3-4 ms of a cold
 * trim, for a parse its codec thread usually holds already (the upload's check made it).
 */
export interface StoredObject {
  name: string;
  sha256: string;
  /** The object's bytes, checked against `sha256`; its failures pass through unchanged. */
  load: () => Promise<Uint8Array>;
}

/** An object as a trim takes it: its bytes, or where they are. */
export type ObjectInput = ObjectBytes | StoredObject;

/** `input` with its bytes: as given, or loaded. */
export async function withBytes(input: ObjectInput): Promise<ObjectBytes> {
  return 'bytes' in input ? input : { name: input.name, sha256: input.sha256, bytes: await input.load() };
}

/** The kernel of a trim: where its raw BTF comes from, and the key its decode may be kept under. */
export interface TrimKernel {
  cacheKey: KernelCacheKey;
  /**
   * The unpacked raw BTF (or ELF with .BTF); its own failures pass through unchanged. Called at
   * most once per task, and the bytes are handed over: a thread executor moves them to its
   * thread (the caller's array is then detached), so return bytes nothing else keeps.
   * `allocate`, when the executor gives one: a buffer to read them into where the source can
   * (a reused one, from `CodecExecutor.allocateKernel`).
   */
  loadRaw(allocate?: Allocate): Promise<Uint8Array>;
  /**
   * Optional, on the side that reads the kernel: its raw BTF read into `allocate`'s bytes
   * before they are checked against their recorded sha256, with the check to run once they are
   * on their way. A thread executor gives shared memory, sends the bytes to its thread, then
   * checks them here while the thread decodes them (a 5.5 MB kernel's sha256 is ~5-8 ms, its
   * decode as much): see `UncheckedBytes`.
   */
  loadUnchecked?(allocate: Allocate): Promise<UncheckedBytes>;
  /**
   * Optional, on the side that decodes: set when `loadRaw`'s bytes may still be unchecked. The
   * executor may decode them meanwhile, but uses nothing of them before this settles: null
   * when they are good, else the bytes to decode instead (they were damaged, and replaced by
   * the source's own). A rejection is the load's failure.
   */
  checkedRaw?(): Promise<Uint8Array | null>;
}

export interface TrimmedBtf {
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`. */
  sha256: string;
  /** Relocations checked against the trimmed BTF. */
  relocationsVerified: number;
  /** Whether the kernel's decode was already at hand. */
  kernelCached: boolean;
  /**
   * Milliseconds on the thread that did the work: getting the kernel decoded and the objects
   * parsed (`loadMs`), trimming (`trimMs`), then decoding the result and checking every
   * relocation against it, and its sha256 (`verifyMs`).
   */
  timings: { loadMs: number; trimMs: number; verifyMs: number };
}

/** Which part of the work failed. */
export type CodecStage =
  | 'kernel' // the kernel's BTF does not decode
  | 'object' // an object is not a BPF CO-RE object (or its BTF does not decode)
  | 'rejected' // libbpf (and so bpftool) refuses a relocation, or bpftool's trimmer aborts
  | 'encode' // the trimmer failed to write its result (a bug)
  | 'verify' // the result does not decode, or resolves some relocation differently
  | 'limit' // an object is over a codec bound (CodecError 'LIMIT'); `limit` says which
  | 'memory' // the work ran out of the heap its thread is allowed (an input no bound caught)
  | 'timeout'; // the work ran past its time budget and was stopped

export class CodecTaskError extends Error {
  override readonly name = 'CodecTaskError';
  /** For stage 'limit' (and 'memory', named as the thread's heap bound): the bound and its value. */
  readonly limit?: CodecLimitExceeded | ThreadBoundExceeded;
  constructor(
    readonly stage: CodecStage,
    message: string,
    options?: { cause?: unknown; limit?: CodecLimitExceeded | ThreadBoundExceeded },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

/** A bound of the executor's threads (not of the codec) that a task went over. */
export interface ThreadBoundExceeded {
  name: 'codecThreadHeapMb' | 'codecTaskTimeoutMs';
  value: number;
  actual?: number;
}

/** The relocations of some objects, independent of any kernel (what a compat report lists). */
export interface ObjectRelocations {
  objects: { name: string; relocations: number }[];
  relocations: RelocationInfo[];
}

/** What one kernel's compat entry holds besides its identity. */
export type KernelCompatResults = Pick<KernelCompat, 'results' | 'counts' | 'failedObjects'>;

/** How a trim treats the kernel's decode. */
export interface TrimOptions {
  /**
   * Keep the kernel's decode in the executor's cache (default true: trims ask for the same
   * few kernels again and again). A bundle walks hundreds of kernels once each: it passes
   * false, so its kernels are decoded for the task and dropped, and never push out the
   * kernels the trim path keeps (a decode already cached is still used).
   */
  cacheKernel?: boolean;
}

/** What a kernel's BTF holds, once it decodes (`checkKernel`). */
export interface KernelCheck {
  /** Types, not counting void. */
  typeCount: number;
  /** Of the struct names asked about, those the BTF lacks as complete (sized) structs. */
  missingStructs: string[];
  /** When the input was an ELF: its .BTF section (what gets stored). Absent for raw BTF, which is stored as given. */
  rawBtf?: Uint8Array;
}

export interface CodecExecutor {
  /** Tasks it runs at once (its threads; 1 for the inline executor): how many to keep in flight. */
  readonly threads: number;
  /**
   * Resolves when every object parses as a BPF CO-RE object; else a CodecTaskError('object')
   * naming the first that does not. `forKernel`, when known: the kernel a trim of these objects
   * follows on. A pool checks them on that kernel's own thread, which then holds their parse
   * for the trim; checked on another thread, they would be sent and parsed again for it.
   */
  checkObjects(objects: readonly ObjectBytes[], forKernel?: KernelCacheKey): Promise<void>;
  /** The kernel's BTF trimmed for the objects, verified relocation by relocation. */
  trim(kernel: TrimKernel, objects: readonly ObjectInput[], options?: TrimOptions): Promise<TrimmedBtf>;
  /**
   * Decodes a kernel's BTF (raw BTF or an ELF with .BTF, already unpacked) whole, as
   * registering it requires: a CodecTaskError('kernel') naming why when it does not decode
   * (or 'memory' / 'timeout' when it needs more than a thread may use). `structs`: names whose
   * presence as complete structs is reported in `missingStructs` (generated kernels).
   */
  checkKernel(raw: Uint8Array, options?: { structs?: readonly string[] }): Promise<KernelCheck>;
  /** The CO-RE relocations of `objects`, described (CodecTaskError('object'|'limit') when one does not parse). */
  describeRelocations(objects: readonly ObjectBytes[]): Promise<ObjectRelocations>;
  /**
   * Every relocation of `objects` resolved on one kernel (a compat report's row). A kernel that
   * does not decode is a CodecTaskError('kernel'); its decode is cached like a trim's.
   */
  compatKernel(kernel: TrimKernel, objects: readonly ObjectBytes[]): Promise<KernelCompatResults>;
  /**
   * Bytes to read a kernel's raw BTF into before handing it to a `trim` with `cacheKernel:
   * false` (a bundle reads ahead): a buffer a thread gave back, reused, where the executor
   * keeps them. Optional.
   */
  allocateKernel?: Allocate;
  /** What the executor holds in memory (decoded kernels), for metrics. */
  decodedKernels(): { count: number; bytes: number };
  /** The V8 heaps of its threads, summed, as each last reported (undefined: no threads). */
  threadHeap(): ThreadHeap | undefined;
  close(): Promise<void>;
}
