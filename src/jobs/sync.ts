/**
 * The sync job: `importKernels` over the configured archive source (a directory or
 * s3://bucket/prefix): new and changed kernels registered, unchanged files not read again.
 * Import is idempotent: safe to run twice. Kernel files are decoded on the codec executor
 * (worker threads in the service): a hostile file in the archive never blocks the event loop.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import type { CodecExecutor } from '../executor/codec-executor.js';
import { kernelCheckOn } from '../executor/kernel-check.js';
import { importKernels, ImportSourceError, openImportSource } from '../kernels/import.js';
import { JobError, type JobProcessor, throttleProgress } from '../queue/job.js';
import { MAX_LISTED, type SyncJobData, type SyncJobResult } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface SyncProcessorDeps {
  /** The service's store: kernels from another source are copied into it. */
  store: ObjectStore;
  catalog: Catalog;
  /** S3 settings for s3:// sources (default: the AWS SDK's); whether unpacked copies are kept (default yes). */
  config?: Pick<Config, 'storage'> & Partial<Pick<Config, 'unpackAtImport'>>;
  /** The configured archive checkout (BTFHUB_ARCHIVE_DIR), registered in place. */
  archive?: ObjectStore | null;
  logger?: Logger;
  /** Decodes each new or changed kernel file off this thread (the codec executor's); inline without it. */
  codec?: CodecExecutor;
}

export function createSyncProcessor(deps: SyncProcessorDeps): JobProcessor<SyncJobData, SyncJobResult> {
  return async (data, context) => {
    let source: ObjectStore;
    try {
      source = await openImportSource(data.source, deps.config ?? { storage: { kind: 'fs', root: '' } });
    } catch (error) {
      if (error instanceof ImportSourceError) throw new JobError('INTERNAL', false, `sync source ${error.message}`, { retryable: false });
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
        ...(deps.codec !== undefined && { checkKernel: kernelCheckOn(deps.codec) }),
        ...(deps.config?.unpackAtImport !== undefined && { unpackedCopies: deps.config.unpackAtImport }),
      });
      deps.logger?.info(
        { jobId: context.id, source: summary.source, added: summary.added, updated: summary.updated, invalid: summary.invalid.length },
        'sync done',
      );
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
  };
}
