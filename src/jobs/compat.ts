/**
 * The compat job: the uploaded objects against every registered kernel matching the filter
 * (each relocation resolved on each kernel), the report written to
 * `reports/compat/<id>.json` as the API serves it. Deterministic, written under the job's
 * id: safe to run twice.
 *
 * The objects are parsed and resolved by the codec executor (worker threads in the service:
 * an upload of a million relocations never runs on the event loop of the process that also
 * answers HTTP); this thread reads the store, kernels ahead of use, and writes the report.
 */
import type { Logger } from 'pino';
import { compatReportBody } from '../coverage/compat-report.js';
import { type CompatEngine, compatReportWith } from '../coverage/compat.js';
import { catalogKernels, KernelLoadError, loadRawKernel } from '../coverage/kernel-source.js';
import { type CodecExecutor, CodecTaskError, type ObjectBytes } from '../executor/codec-executor.js';
import { JobError, type JobProcessor, throttleProgress } from '../queue/job.js';
import type { CompatJobResult, ObjectsJobData } from '../queue/kinds.js';
import { compatReportKey } from '../storage/keys.js';
import type { CoverageJobDeps } from './coverage-inputs.js';
import { recordJobFiles } from './job-files.js';
import { loadUploadedBytes } from './uploaded-objects.js';

export function createCompatProcessor(
  deps: CoverageJobDeps & { codec: CodecExecutor; logger?: Logger },
): JobProcessor<ObjectsJobData, CompatJobResult> {
  const { codec } = deps;
  return async (data, context) => {
    if (!Array.isArray(data.objects) || data.objects.length === 0) throw new JobError('INVALID_JOB', true, 'job has no objects');
    const objects: ObjectBytes[] = await Promise.all(
      data.objects.map(async (ref) => ({
        name: ref.name,
        sha256: ref.sha256,
        bytes: await loadUploadedBytes(deps.store, ref.sha256, ref.name),
      })),
    );
    const kernels = await catalogKernels(deps.catalog, deps.store, data.filter, { rawCache: deps.store });
    const engine: CompatEngine<Uint8Array> = {
      describe: () => codec.describeRelocations(objects),
      load: (input) => loadRawKernel(input),
      resolve: (raw, input) =>
        codec
          .compatKernel({ cacheKey: { storageKey: input.source, sha256: input.sha256 ?? '' }, loadRaw: async () => raw }, objects)
          .catch((error: unknown) => {
            if (error instanceof CodecTaskError && error.stage === 'kernel')
              throw new KernelLoadError(`${input.source}: ${error.message}`, { cause: error });
            throw error;
          }),
    };
    let report: Awaited<ReturnType<typeof compatReportWith>>;
    try {
      report = await compatReportWith(kernels, engine, {
        onProgress: throttleProgress((p) => context.progress({ done: p.done, total: kernels.length, failed: p.failed })),
        ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }),
      });
    } catch (error) {
      throw objectsFailure(error);
    }
    // A rebuild's report is the job's it replaces (its id in the body), stored under the rebuild's own key.
    const body = compatReportBody(data.resultFor ?? context.id, data.filter, report);
    const key = compatReportKey(context.id);
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    await deps.store.put(key, bytes);
    // Recorded after the write: a row always names a whole file, with the sha256 every read checks.
    await recordJobFiles(deps.catalog, context.id, data.resultFor, [{ role: 'report', storageKey: key, bytes }]);
    deps.logger?.info({ jobId: context.id, kernels: body.totals.kernels, durationMs: body.duration_ms }, 'compat report done');
    return {
      kind: 'compat',
      reportKey: key,
      kernels: body.totals.kernels,
      unreadable: body.totals.unreadable,
      loadable: body.totals.loadable,
      allResolved: body.totals.all_resolved,
      relocations: body.relocations.length,
      durationMs: body.duration_ms,
    };
  };
}

/** The executor's refusal of the objects as the job's error; anything else unchanged. */
function objectsFailure(error: unknown): unknown {
  if (!(error instanceof CodecTaskError)) return error;
  switch (error.stage) {
    case 'object':
    case 'rejected':
      return new JobError('INVALID_OBJECT', true, error.message, { cause: error });
    case 'limit':
    case 'memory':
      return new JobError('LIMIT_EXCEEDED', true, error.message, { cause: error });
    case 'timeout':
      return new JobError('TIMEOUT', false, error.message, { cause: error, retryable: false });
    default:
      return new JobError('INTERNAL', false, error.message, { cause: error });
  }
}
