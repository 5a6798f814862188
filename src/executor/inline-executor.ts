/**
 * The CodecExecutor that runs the work on the caller's thread: objects parsed with
 * `parseBpfObject`, kernels decoded once and kept in a KernelCache (an LRU bounded by bytes:
 * decoding a kernel is one pass over ~100k types, a trim then touches a few hundred), the
 * trim checked by `verifyTrim` against the full kernel before it is answered.
 */
import { createHash } from 'node:crypto';
import { Btf, type BpfObject, CodecError, parseBpfObject, trimBtf } from '../btf/index.js';
import { describeMismatches, verifyTrim } from '../btf/verify.js';
import { type CodecExecutor, CodecTaskError, type ObjectBytes, type TrimKernel, type TrimmedBtf } from './codec-executor.js';
import { KernelCache } from './kernel-cache.js';

export class InlineCodecExecutor implements CodecExecutor {
  readonly kernelCache: KernelCache;

  constructor(options: { kernelCacheBytes: number } | { kernelCache: KernelCache }) {
    this.kernelCache = 'kernelCache' in options ? options.kernelCache : new KernelCache({ maxBytes: options.kernelCacheBytes });
  }

  async checkObjects(objects: readonly ObjectBytes[]): Promise<void> {
    for (const object of objects) parseObject(object);
  }

  async trim(kernel: TrimKernel, objects: readonly ObjectBytes[]): Promise<TrimmedBtf> {
    const started = performance.now();
    const kernelCached = this.kernelCache.has(kernel.cacheKey);
    const full = await this.kernelCache.get(kernel.cacheKey, async () => decodeKernel(await kernel.loadRaw()));
    const parsed = objects.map(parseObject);
    const loadMs = performance.now() - started;

    let bytes: Uint8Array;
    try {
      bytes = trimBtf(full, parsed);
    } catch (error) {
      if (error instanceof CodecError && (error.code === 'CORE' || error.code === 'TRIM')) throw new CodecTaskError('rejected', error.message, { cause: error });
      // Types are decoded lazily, so a malformed record deep in an object's BTF surfaces only
      // now. The kernel BTF was decoded whole when registered; the upload is the untrusted input.
      if (error instanceof CodecError && error.code !== 'ENCODE') throw new CodecTaskError('object', error.message, { cause: error });
      throw new CodecTaskError('encode', `trimming failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }

    let trimmed: Btf;
    try {
      trimmed = Btf.parse(bytes);
    } catch (error) {
      throw new CodecTaskError('verify', `the trimmed BTF does not decode: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const verification = verifyTrim(full, trimmed, parsed);
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
      timings: { loadMs, trimMs: performance.now() - started - loadMs },
    };
  }

  decodedKernels(): { count: number; bytes: number } {
    const stats = this.kernelCache.stats();
    return { count: stats.entries, bytes: stats.bytes };
  }

  async close(): Promise<void> {
    this.kernelCache.clear();
  }
}

function parseObject(object: ObjectBytes): BpfObject {
  try {
    return parseBpfObject(object.bytes, object.name);
  } catch (error) {
    if (error instanceof CodecError) throw new CodecTaskError('object', error.message, { cause: error });
    throw error;
  }
}

function decodeKernel(raw: Uint8Array): Btf {
  try {
    return Btf.parse(raw);
  } catch (error) {
    if (error instanceof CodecError) throw new CodecTaskError('kernel', error.message, { cause: error });
    throw error;
  }
}
