/**
 * The CodecExecutor that runs the work on the caller's thread: objects parsed with
 * `parseBpfObject`, kernels decoded once and kept in a KernelCache (an LRU bounded by bytes:
 * decoding a kernel is one pass over ~100k types, a trim then touches a few hundred), the
 * trim checked by `verifyTrim` against the full kernel before it is answered. Every parse,
 * trim and check is bounded by the configured codec limits; going over one is a
 * CodecTaskError('limit') naming the bound.
 *
 * The CLI and tests use it directly; the service runs it inside worker threads
 * (worker-executor.ts, codec-thread.ts), one per thread.
 */
import { createHash } from 'node:crypto';
import { Btf, type BpfObject, CodecError, type CodecLimits, parseBpfObject, RelocationOutcomes, trimBtf } from '../btf/index.js';
import { BtfKind } from '../btf/kinds.js';
import { describeMismatches, verifyTrim } from '../btf/verify.js';
import { kernelCompat, listRelocations } from '../coverage/compat.js';
import {
  type CodecExecutor,
  CodecTaskError,
  type KernelCheck,
  type KernelCompatResults,
  type ObjectBytes,
  type ObjectInput,
  type ObjectRelocations,
  type TrimKernel,
  type TrimmedBtf,
  type TrimOptions,
  withBytes,
} from './codec-executor.js';
import { KernelCache } from './kernel-cache.js';

export interface InlineCodecExecutorOptions {
  /** Bounds on every parse, trim and check; the codec's defaults for those left out. */
  limits?: Partial<CodecLimits>;
}

/**
 * Parsed objects kept by sha256: the upload check's parse is the trim's (a new trim parses
 * its objects once, not twice), and a compat report or a bundle parses its objects once for
 * hundreds of kernels. Bounded by count and by the bytes the parses hold (an object's parse
 * keeps its whole file: its .BTF and .BTF.ext are views into it). Eight: the API checks a new
 * upload's objects before its job trims them, and with four connections sending new objects
 * four kept parses were too few: a check pushed out the parse of an upload whose trim had not
 * run yet, and the trim read the object back from the store (`bench api`, small new trims).
 */
export const KEPT_PARSES = 8;
/** The bytes of an object whose kept parse is used: none are read. */
const NO_BYTES = new Uint8Array(0);
const PARSED_OBJECT_BYTES = 64 * 1024 * 1024;

export class InlineCodecExecutor implements CodecExecutor {
  readonly threads = 1;
  readonly kernelCache: KernelCache;
  readonly limits: Partial<CodecLimits>;
  /** sha256 -> the object parsed (under the name it was first parsed with), least recently used first. */
  private readonly parsedObjects = new Map<string, { parsed: BpfObject; bytes: number }>();
  private parsedBytes = 0;

  constructor(options: ({ kernelCacheBytes: number } | { kernelCache: KernelCache }) & InlineCodecExecutorOptions) {
    this.kernelCache = 'kernelCache' in options ? options.kernelCache : new KernelCache({ maxBytes: options.kernelCacheBytes });
    this.limits = options.limits ?? {};
  }

  async checkObjects(objects: readonly ObjectBytes[]): Promise<void> {
    this.parseSet(objects);
  }

  async trim(kernel: TrimKernel, objects: readonly ObjectInput[], options: TrimOptions = {}): Promise<TrimmedBtf> {
    const started = performance.now();
    const kernelCached = this.kernelCache.has(kernel.cacheKey);
    const full =
      kernelCached || options.cacheKernel !== false
        ? await this.kernelCache.get(kernel.cacheKey, () => this.loadKernel(kernel))
        : await this.loadKernel(kernel);
    // Kept by hash: a bundle trims the same objects for hundreds of kernels.
    const parsed = await this.parseInputs(objects);
    const loadMs = performance.now() - started;
    const { limits } = this;

    // The trim's own resolutions against the kernel, so the check resolves only against its result.
    const outcomes = new RelocationOutcomes();
    let bytes: Uint8Array;
    try {
      bytes = trimBtf(full, parsed, { limits, outcomes });
    } catch (error) {
      if (error instanceof CodecError && error.code === 'LIMIT') throw limitFailure(error);
      if (error instanceof CodecError && (error.code === 'CORE' || error.code === 'TRIM'))
        throw new CodecTaskError('rejected', error.message, { cause: error });
      // Types are decoded lazily, so a malformed record deep in an object's BTF surfaces only
      // now. The kernel BTF was decoded whole when registered; the upload is the untrusted input.
      if (error instanceof CodecError && error.code !== 'ENCODE') throw new CodecTaskError('object', error.message, { cause: error });
      throw new CodecTaskError('encode', `trimming failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }

    const trimmedAt = performance.now();
    let trimmed: Btf;
    try {
      trimmed = Btf.parse(bytes);
    } catch (error) {
      throw new CodecTaskError('verify', `the trimmed BTF does not decode: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    let verification: ReturnType<typeof verifyTrim>;
    try {
      verification = verifyTrim(full, trimmed, parsed, { limits, expected: outcomes });
    } catch (error) {
      if (error instanceof CodecError && error.code === 'LIMIT') throw limitFailure(error);
      throw error;
    }
    if (verification.mismatchCount > 0) {
      throw new CodecTaskError(
        'verify',
        `the trimmed BTF resolves ${verification.mismatchCount} of ${verification.relocations} relocations differently from the kernel BTF: ${describeMismatches(verification)}`,
      );
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return {
      bytes,
      sha256,
      relocationsVerified: verification.relocations,
      kernelCached,
      timings: { loadMs, trimMs: trimmedAt - started - loadMs, verifyMs: performance.now() - trimmedAt },
    };
  }

  async describeRelocations(objects: readonly ObjectBytes[]): Promise<ObjectRelocations> {
    const parsed = this.parseSet(objects);
    return {
      objects: parsed.map((o) => ({ name: o.name, relocations: o.ext.coreRelos.reduce((n, b) => n + b.records.length, 0) })),
      relocations: listRelocations(parsed),
    };
  }

  async compatKernel(kernel: TrimKernel, objects: readonly ObjectBytes[]): Promise<KernelCompatResults> {
    // A report walks hundreds of kernels once each: decoded for the row, not cached (it would
    // push out the kernels trims keep asking for), unless a trim cached it already.
    const full = this.kernelCache.has(kernel.cacheKey)
      ? await this.kernelCache.get(kernel.cacheKey, () => Promise.reject(new Error('unreachable')))
      : await this.loadKernel(kernel);
    const parsed = this.parseSet(objects);
    try {
      return kernelCompat(full, parsed, undefined, { limits: this.limits });
    } catch (error) {
      if (error instanceof CodecError && error.code === 'LIMIT') throw limitFailure(error);
      if (error instanceof CodecError) throw new CodecTaskError('object', error.message, { cause: error });
      throw error;
    }
  }

  async checkKernel(raw: Uint8Array, options: { structs?: readonly string[] } = {}): Promise<KernelCheck> {
    const btf = this.decodeKernel(raw);
    const missingStructs = (options.structs ?? []).filter(
      (name) =>
        !btf.idsByEssentialName(name).some((id) => btf.kind(id) === BtfKind.Struct && btf.name(id) === name && btf.sizeOrType(id) > 0),
    );
    return {
      typeCount: btf.typeCount - 1,
      missingStructs,
      ...(btf.bytes !== raw && { rawBtf: btf.bytes }),
    };
  }

  /**
   * `parseSet` of objects some of which may be given by hash: their bytes are loaded only when
   * their parse is not kept. Another call may push a parse out while the loads run; then every
   * object given by hash is loaded (the check and the parse are one synchronous step).
   */
  private async parseInputs(inputs: readonly ObjectInput[]): Promise<BpfObject[]> {
    const kept = await this.objectBytes(inputs, false);
    if (kept.every((o) => o.bytes !== NO_BYTES || this.parsedObjects.has(o.sha256!))) return this.parseSet(kept);
    return this.parseSet(await this.objectBytes(inputs, true));
  }

  private objectBytes(inputs: readonly ObjectInput[], loadAll: boolean): Promise<ObjectBytes[]> {
    return Promise.all(
      inputs.map(async (input) =>
        !loadAll && !('bytes' in input) && this.parsedObjects.has(input.sha256)
          ? { name: input.name, sha256: input.sha256, bytes: NO_BYTES }
          : withBytes(input),
      ),
    );
  }

  /** Whether the object of this sha256 is kept parsed: a task naming it needs no bytes (until the next parse may push it out). */
  hasParsed(sha256: string): boolean {
    return this.parsedObjects.has(sha256);
  }

  /** The bytes the kept parses hold (their objects' files): a codec thread expects them in its ArrayBuffers. */
  parsedObjectBytes(): number {
    return this.parsedBytes;
  }

  /** On the caller's thread: no threads of its own. */
  threadHeap(): undefined {
    return undefined;
  }

  decodedKernels(): { count: number; bytes: number } {
    const stats = this.kernelCache.stats();
    return { count: stats.entries, bytes: stats.bytes };
  }

  async close(): Promise<void> {
    this.kernelCache.clear();
    this.parsedObjects.clear();
    this.parsedBytes = 0;
  }

  /**
   * `objects` parsed, in order. One whose sha256 is given is kept under it, and found there
   * the next time, under the name given this time. The sha256 must be the bytes' own: every
   * caller has it from hashing them (an upload as it streams, a job's read of the store).
   */
  private parseSet(objects: readonly ObjectBytes[]): BpfObject[] {
    return objects.map((object) => {
      if (object.sha256 === undefined) return this.parseObject(object);
      const kept = this.parsedObjects.get(object.sha256);
      if (kept !== undefined) {
        this.parsedObjects.delete(object.sha256);
        this.parsedObjects.set(object.sha256, kept);
        return kept.parsed.name === object.name ? kept.parsed : { ...kept.parsed, name: object.name };
      }
      const parsed = this.parseObject(object);
      this.keepParsed(object.sha256, parsed, object.bytes.byteLength);
      return parsed;
    });
  }

  private keepParsed(sha256: string, parsed: BpfObject, bytes: number): void {
    if (bytes > PARSED_OBJECT_BYTES) return;
    this.parsedObjects.set(sha256, { parsed, bytes });
    this.parsedBytes += bytes;
    for (const [old, entry] of this.parsedObjects) {
      if (this.parsedObjects.size <= KEPT_PARSES && this.parsedBytes <= PARSED_OBJECT_BYTES) break;
      this.parsedObjects.delete(old);
      this.parsedBytes -= entry.bytes;
    }
  }

  private parseObject(object: ObjectBytes): BpfObject {
    try {
      return parseBpfObject(object.bytes, object.name, { limits: this.limits });
    } catch (error) {
      if (error instanceof CodecError && error.code === 'LIMIT') throw limitFailure(error);
      if (error instanceof CodecError) throw new CodecTaskError('object', error.message, { cause: error });
      throw error;
    }
  }

  /**
   * The kernel's bytes decoded. Bytes still being checked (`checkedRaw`) are decoded while the
   * check runs, and the decode is used only once it says they are good; a decode error waits
   * for it too, since damaged bytes are replaced, not reported as the kernel's fault.
   */
  private async loadKernel(kernel: TrimKernel): Promise<Btf> {
    const raw = await kernel.loadRaw();
    if (kernel.checkedRaw === undefined) return this.decodeKernel(raw);
    let decoded: Btf | undefined;
    let failure: unknown;
    try {
      decoded = this.decodeKernel(raw);
    } catch (error) {
      failure = error;
    }
    const replacement = await kernel.checkedRaw();
    if (replacement !== null) return this.decodeKernel(replacement);
    if (decoded === undefined) throw failure;
    return decoded;
  }

  private decodeKernel(raw: Uint8Array): Btf {
    try {
      return Btf.parse(raw, { limits: this.limits });
    } catch (error) {
      if (error instanceof CodecError) throw new CodecTaskError('kernel', error.message, { cause: error });
      throw error;
    }
  }
}

/** A codec bound an object went over, as the executor's error naming it. */
function limitFailure(error: CodecError): CodecTaskError {
  return new CodecTaskError('limit', error.message, { cause: error, ...(error.limit !== undefined && { limit: error.limit }) });
}
