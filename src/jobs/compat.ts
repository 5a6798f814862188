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
import { KernelLoadError, loadRawKernel } from '../coverage/kernel-source.js';
import { type CodecExecutor, CodecTaskError } from '../executor/codec-executor.js';
import { type JobProcessor, throttleProgress } from '../queue/job.js';
import type { CompatJobResult, ObjectsJobData } from '../queue/kinds.js';
import { compatReportKey } from '../storage/keys.js';
import { objectsFailure } from './codec-failure.js';
import { coverageKernels, type CoverageJobDeps, uploadedObjectBytes } from './coverage-inputs.js';
import { recordJobFiles } from './job-files.js';

export function createCompatProcessor(
  deps: CoverageJobDeps & { codec: CodecExecutor; logger?: Logger },
): JobProcessor<ObjectsJobData, CompatJobResult> {
  const { codec } = deps;
  return async (data, context) => {
    const objects = await uploadedObjectBytes(deps, data);
    const kernels = await coverageKernels(deps, data);
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
