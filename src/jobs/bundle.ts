/**
 * The bundle job: the uploaded objects trimmed for every registered kernel matching the
 * filter (`buildBundle`: distinct trimmed BTFs stored once as `trimmed/<sha256>.btf`), the
 * .tar.gz written to `bundles/<id>.tar.gz` and its download metadata beside it. Deterministic,
 * written under the job's id: safe to run twice.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { CodecError } from '../btf/index.js';
import { buildBundle, type BundleResult } from '../bundle/bundle.js';
import { JobError, type JobProcessor, throttleProgress } from '../queue/job.js';
import { type BundleJobResult, type BundleMeta, MAX_LISTED, type ObjectsJobData } from '../queue/kinds.js';
import { bundleKey, bundleMetaKey } from '../storage/keys.js';
import { type CoverageJobDeps, coverageInputs } from './coverage-inputs.js';
import { recordJobFiles } from './job-files.js';

export function createBundleProcessor(deps: CoverageJobDeps & { logger?: Logger }): JobProcessor<ObjectsJobData, BundleJobResult> {
  return async (data, context) => {
    const { objects, kernels } = await coverageInputs(deps, data);
    let result: BundleResult;
    try {
      result = await buildBundle(kernels, objects, {
        store: deps.store,
        onProgress: throttleProgress((p) => context.progress({ done: p.done, total: kernels.length, failed: p.failed })),
        ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }),
      });
    } catch (error) {
      if (error instanceof CodecError) throw new JobError('REJECTED_OBJECT', true, error.message, { cause: error });
      throw error;
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
