/**
 * The bundle job: the uploaded objects trimmed for every registered kernel matching the
 * filter (`buildBundle`: distinct trimmed BTFs stored once as `trimmed/<sha256>.btf`), the
 * .tar.gz written to `bundles/<id>.tar.gz` and its download metadata beside it. Deterministic,
 * written under the job's id: safe to run twice.
 *
 * The CPU work (parsing the objects, decoding, trimming and verifying each kernel) runs on the
 * codec executor, as compat's does (worker threads in the service): this thread reads the
 * store, unpacks kernels ahead of use and writes the archive. Kernels are decoded without
 * entering the executor's cache: a bundle over hundreds of kernels would otherwise push out
 * the few kernels trims keep asking for.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { buildBundle, type BundleResult, type KernelTrimmer, type TrimOutcome } from '../bundle/bundle.js';
import { type CodecExecutor, CodecTaskError, type ObjectBytes } from '../executor/codec-executor.js';
import { type JobProcessor, throttleProgress } from '../queue/job.js';
import { type BundleJobResult, type BundleMeta, MAX_LISTED, type ObjectsJobData } from '../queue/kinds.js';
import { bundleKey, bundleMetaKey } from '../storage/keys.js';
import { objectsFailure } from './codec-failure.js';
import { coverageKernels, type CoverageJobDeps, uploadedObjectBytes } from './coverage-inputs.js';
import { recordJobFiles } from './job-files.js';

export function createBundleProcessor(
  deps: CoverageJobDeps & { codec: CodecExecutor; logger?: Logger },
): JobProcessor<ObjectsJobData, BundleJobResult> {
  const { codec } = deps;
  return async (data, context) => {
    const objects = await uploadedObjectBytes(deps, data);
    // The objects are refused before any kernel is read (as when no kernel matches).
    await codec.checkObjects(objects).catch((error: unknown) => {
      throw objectsFailure(error);
    });
    const kernels = await coverageKernels(deps, data);
    let result: BundleResult;
    try {
      result = await buildBundle(kernels, [], {
        store: deps.store,
        trimmer: executorTrimmer(codec, objects),
        onProgress: throttleProgress((p) => context.progress({ done: p.done, total: kernels.length, failed: p.failed })),
        ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }),
      });
    } catch (error) {
      throw objectsFailure(error);
    }
    const archive = result.archive!;
    const sha256 = createHash('sha256').update(archive).digest('hex');
    const key = bundleKey(context.id);
    await deps.store.put(key, archive);
    const meta: BundleMeta = {
      sha256,
      size: archive.length,
      kernels: result.entries.length,
      distinct: result.distinct,
      failed: result.failures.length,
    };
    const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
    await deps.store.put(bundleMetaKey(context.id), metaBytes);
    // Recorded after both writes: the rows always name whole files, with the sha256 every read checks.
    await recordJobFiles(deps.catalog, context.id, data.resultFor, [
      { role: 'bundle', storageKey: key, bytes: archive },
      { role: 'bundle_meta', storageKey: bundleMetaKey(context.id), bytes: metaBytes },
    ]);
    deps.logger?.info({ jobId: context.id, kernels: meta.kernels, distinct: meta.distinct, failed: meta.failed }, 'bundle done');
    return {
      kind: 'bundle',
      bundleKey: key,
      sha256,
      size: archive.length,
      kernels: result.entries.length,
      distinct: result.distinct,
      failed: result.failures.length,
      failures: result.failures.slice(0, MAX_LISTED).map((f) => ({
        kernel: `${f.ref.distro}/${f.ref.distroVersion}/${f.ref.arch}/${f.ref.kernel}`,
        stage: f.stage,
        message: f.message,
      })),
      bytes: { trimmed: result.bytes.trimmed, distinct: result.bytes.distinct },
      durationMs: Math.round(result.durationMs),
    };
  };
}

/**
 * The executor as a bundle's KernelTrimmer: each kernel's raw BTF trimmed for `objects`
 * without caching its decode. A kernel that does not decode, is refused by the trimmer or
 * does not verify is that kernel's failure in the bundle; any other CodecTaskError (the
 * objects', a thread's bound) rejects and ends the job (objectsFailure).
 */
export function executorTrimmer(codec: CodecExecutor, objects: readonly ObjectBytes[]): KernelTrimmer {
  return {
    threads: codec.threads,
    ...(codec.allocateKernel !== undefined && { allocate: codec.allocateKernel }),
    trim: (raw, source, input) =>
      codec
        .trim({ cacheKey: { storageKey: source, sha256: input.sha256 ?? '' }, loadRaw: async () => raw }, objects, { cacheKernel: false })
        .then(
          ({ bytes, sha256 }): TrimOutcome => ({ bytes, sha256 }),
          (error: unknown): TrimOutcome => {
            if (error instanceof CodecTaskError) {
              if (error.stage === 'kernel') return { stage: 'load', message: `${source}: ${error.message}` };
              if (error.stage === 'rejected' || error.stage === 'encode') return { stage: 'trim', message: error.message };
              if (error.stage === 'verify') return { stage: 'verify', message: error.message };
            }
            throw error;
          },
        ),
  };
}
