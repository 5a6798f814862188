/**
 * The processor of every job kind (src/queue/kinds.ts), made from the service's backends: one
 * line per kind. The in-process queue runs them in `btfhub serve`; `btfhub worker` runs them
 * from BullMQ. Processors import neither the API nor the CLI: they get what they need here.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import { type Config, loadConfig } from '../config/schema.js';
import type { CodecExecutor } from '../executor/codec-executor.js';
import type { JobProcessors } from '../queue/job.js';
import type { JobKinds } from '../queue/kinds.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createBundleProcessor } from './bundle.js';
import { createCompatProcessor } from './compat.js';
import { createGenerateProcessor } from './generate.js';
import { createSyncProcessor } from './sync.js';
import { createTrimProcessor } from './trim.js';

export interface JobProcessorDeps {
  /** The service's store (with the archive checkout underneath, when one is configured). */
  store: ObjectStore;
  catalog: Catalog;
  /** Runs the codec's work on request data: trims (keeping decoded kernels between them), compat, bundles. */
  codec: CodecExecutor;
  logger: Logger;
  /** S3 settings for s3:// sync sources, the decompression bound. */
  config?: Partial<Pick<Config, 'storage' | 'maxDecompressedBytes' | 'generate' | 'unpackAtImport'>>;
  /** The configured archive checkout, registered in place by a sync. */
  archive?: ObjectStore | null;
  /** Kernel loads in flight for compat and bundle jobs (default: one per core). */
  loadAhead?: number;
  /** pahole for generate jobs (tests pass stand-ins); `pahole` on the PATH by default. */
  paholePath?: string;
}

export function createJobProcessors(deps: JobProcessorDeps): JobProcessors<JobKinds> {
  const { store, catalog, logger } = deps;
  const coverage = { store, catalog, logger, ...(deps.loadAhead !== undefined && { loadAhead: deps.loadAhead }) };
  const trim = createTrimProcessor({ store, catalog, codec: deps.codec, logger, maxDecompressedBytes: deps.config?.maxDecompressedBytes });
  return {
    trim,
    compat: createCompatProcessor({ ...coverage, codec: deps.codec }),
    bundle: createBundleProcessor({ ...coverage, codec: deps.codec }),
    generate: createGenerateProcessor({
      store,
      catalog,
      logger,
      trim,
      settings: deps.config?.generate ?? loadConfig({}).generate,
      codec: deps.codec,
      ...(deps.paholePath !== undefined && { paholePath: deps.paholePath }),
    }),
    sync: createSyncProcessor({
      store,
      catalog,
      logger,
      archive: deps.archive ?? null,
      codec: deps.codec,
      ...(deps.config?.storage !== undefined && {
        config: {
          storage: deps.config.storage,
          ...(deps.config.unpackAtImport !== undefined && { unpackAtImport: deps.config.unpackAtImport }),
        },
      }),
    }),
  };
}
