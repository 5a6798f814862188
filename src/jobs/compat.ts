/**
 * The compat job: the uploaded objects against every registered kernel matching the filter
 * (`compatReport`: each relocation resolved on each kernel), the report written to
 * `reports/compat/<id>.json` as the API serves it. Deterministic, written under the job's
 * id: safe to run twice.
 */
import type { Logger } from 'pino';
import { compatReportBody } from '../coverage/compat-report.js';
import { compatReport } from '../coverage/compat.js';
import { type JobProcessor, throttleProgress } from '../queue/job.js';
import type { CompatJobResult, ObjectsJobData } from '../queue/kinds.js';
import { compatReportKey } from '../storage/keys.js';
import { type CoverageJobDeps, coverageInputs } from './coverage-inputs.js';

export function createCompatProcessor(deps: CoverageJobDeps & { logger?: Logger }): JobProcessor<ObjectsJobData, CompatJobResult> {
  return async (data, context) => {
    const { objects, kernels } = await coverageInputs(deps, data);
    const report = await compatReport(kernels, objects, {
      onProgress: throttleProgress((p) => context.progress({ done: p.done, total: kernels.length, failed: p.failed })),
      ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }),
    });
    const body = compatReportBody(context.id, data.filter, report);
    const key = compatReportKey(context.id);
    await deps.store.put(key, new TextEncoder().encode(JSON.stringify(body)));
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
