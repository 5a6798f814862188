/**
 * The coverage jobs, whichever queue runs them (in-process, or `btfhub worker` on BullMQ):
 *
 *   compat   objects from the store, the registered kernels matching the filter
 *            (`catalogKernels`, unpacked copies kept under derived/), `compatReport`, the
 *            report written to `reports/compat/<id>.json`
 *   bundle   the same kernels through `buildBundle` (trimmed BTFs stored once as
 *            trimmed/<sha256>.btf), the .tar.gz written to `bundles/<id>.tar.gz`
 *   sync     `importKernels` over the configured source: new and changed kernels
 *            registered, unchanged files not read again
 *
 * Safe to run twice: results are deterministic and written under the job's id; import is
 * idempotent. Failures are TrimJobErrors (client error or not), as for trims.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { parseBpfObject, type BpfObject } from '../btf/object.js';
import { CodecError } from '../btf/errors.js';
import { buildBundle, type BundleResult } from '../bundle/bundle.js';
import type { Catalog, KernelFilter } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { compatReport } from '../coverage/compat.js';
import { catalogKernels } from '../coverage/kernel-source.js';
import { importKernels, ImportSourceError, openImportSource } from '../kernels/import.js';
import {
  bundleKey, compatReportKey, MAX_LISTED, throttleProgress, type BundleJobResult, type CompatJobResult, type CoverageJobContext,
  type CoverageProcessor, type ObjectsJobData, type SyncJobData, type SyncJobResult, type UploadedObjectRef,
} from '../queue/coverage-queue.js';
import type { ObjectStore } from '../storage/object-store.js';
import { compatReportBody } from './coverage-report.js';
import { objectKey, TrimJobError } from './trim-job.js';

export interface CoverageProcessorDeps {
  /** The service's store (objects, derived copies, results). */
  store: ObjectStore;
  catalog: Catalog;
  /** S3 settings for s3:// sync sources (default: the AWS SDK's). */
  config?: Pick<Config, 'storage'>;
  /** The configured archive checkout (BTFHUB_ARCHIVE_DIR), registered in place by a sync. */
  archive?: ObjectStore | null;
  logger?: Logger;
  /** Kernel loads in flight (default: one per core). */
  loadAhead?: number;
}

/** The metadata beside a bundle (`bundles/<id>.json`): what its download headers say. */
export interface BundleMeta {
  sha256: string;
  size: number;
  kernels: number;
  distinct: number;
  failed: number;
}

export function bundleMetaKey(id: string): string {
  return `bundles/${id}.json`;
}

export function createCoverageProcessor(deps: CoverageProcessorDeps): CoverageProcessor {
  return async (data, context) => {
    switch (data.kind) {
      case 'compat':
        return runCompat(deps, data, context);
      case 'bundle':
        return runBundle(deps, data, context);
      case 'sync':
        return runSync(deps, data, context);
      default:
        throw new TrimJobError('INVALID_JOB', true, `unknown coverage job kind ${JSON.stringify((data as { kind?: unknown }).kind)}`);
    }
  };
}

async function loadObjects(store: ObjectStore, refs: readonly UploadedObjectRef[]): Promise<BpfObject[]> {
  if (!Array.isArray(refs) || refs.length === 0) throw new TrimJobError('INVALID_JOB', true, 'job has no objects');
  return Promise.all(
    refs.map(async (ref) => {
      const bytes = await store.get(objectKey(ref.sha256));
      if (bytes === null) throw new TrimJobError('OBJECT_MISSING', false, `uploaded object ${ref.name} (${ref.sha256}) is not in the store`, { retryable: false });
      try {
        return parseBpfObject(bytes, ref.name);
      } catch (error) {
        if (error instanceof CodecError) throw new TrimJobError('INVALID_OBJECT', true, error.message, { cause: error });
        throw error;
      }
    }),
  );
}

async function kernelsOf(deps: CoverageProcessorDeps, filter: KernelFilter) {
  return catalogKernels(deps.catalog, deps.store, filter, { rawCache: deps.store });
}

async function runCompat(deps: CoverageProcessorDeps, data: ObjectsJobData, context: CoverageJobContext): Promise<CompatJobResult> {
  const objects = await loadObjects(deps.store, data.objects);
  const kernels = await kernelsOf(deps, data.filter);
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
}

async function runBundle(deps: CoverageProcessorDeps, data: ObjectsJobData, context: CoverageJobContext): Promise<BundleJobResult> {
  const objects = await loadObjects(deps.store, data.objects);
  const kernels = await kernelsOf(deps, data.filter);
  let result: BundleResult;
  try {
    result = await buildBundle(kernels, objects, {
      store: deps.store,
      onProgress: throttleProgress((p) => context.progress({ done: p.done, total: kernels.length, failed: p.failed })),
      ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }),
    });
  } catch (error) {
    if (error instanceof CodecError) throw new TrimJobError('REJECTED_OBJECT', true, error.message, { cause: error });
    throw error;
  }
  const archive = result.archive!;
  const sha256 = createHash('sha256').update(archive).digest('hex');
  const key = bundleKey(context.id);
  await deps.store.put(key, archive);
  const meta: BundleMeta = { sha256, size: archive.length, kernels: result.entries.length, distinct: result.distinct, failed: result.failures.length };
  await deps.store.put(bundleMetaKey(context.id), new TextEncoder().encode(JSON.stringify(meta)));
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
}

async function runSync(deps: CoverageProcessorDeps, data: SyncJobData, context: CoverageJobContext): Promise<SyncJobResult> {
  let source: ObjectStore;
  try {
    source = await openImportSource(data.source, deps.config ?? { storage: { kind: 'fs', root: '' } });
  } catch (error) {
    if (error instanceof ImportSourceError) throw new TrimJobError('INTERNAL', false, `sync source ${error.message}`, { retryable: false });
    throw error;
  }
  try {
    let invalid = 0;
    const progress = throttleProgress(context.progress);
    const summary = await importKernels(source, { store: deps.store, archive: deps.archive ?? null }, deps.catalog, {
      onProgress: (p) => {
        if (p.outcome === 'invalid') invalid++;
        progress({ done: p.done, total: p.total, failed: invalid });
      },
      ...(deps.logger !== undefined && { logger: deps.logger }),
    });
    deps.logger?.info({ jobId: context.id, source: summary.source, added: summary.added, updated: summary.updated, invalid: summary.invalid.length }, 'sync done');
    return {
      kind: 'sync',
      source: summary.source,
      added: summary.added,
      updated: summary.updated,
      unchanged: summary.unchanged,
      invalid: summary.invalid.length,
      invalidFiles: summary.invalid.slice(0, MAX_LISTED),
      markers: summary.markers,
      aliases: summary.aliases,
      ignored: summary.ignored,
      unread: summary.unread,
      copied: summary.copied,
      durationMs: Math.round(summary.durationMs),
    };
  } finally {
    await source.close().catch(() => {});
  }
}
