/**
 * The kernels `btfhub serve` registers as it starts: every kernel of the archive checkout
 * (BTFHUB_ARCHIVE_DIR, read in place), and this host's own (BTFHUB_REGISTER_HOST_KERNEL),
 * copied into the service's store. A host without BTF still serves the archive's kernels.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type KernelBtfCheck, registerHostKernel, registerKernelsFromStore } from './registry.js';

export interface StartupKernelDeps {
  /** The archive checkout, or null. */
  archive: ObjectStore | null;
  /** The service's own store: where the host kernel is copied (the archive is never written to). */
  serviceStore: ObjectStore;
  catalog: Catalog;
  logger: Logger;
  /** How archive files are decoded (the service's codec executor; default on this thread). */
  checkKernel?: KernelBtfCheck;
  /** Host kernel registration inputs (tests point it at a fixture). */
  hostKernel?: Parameters<typeof registerHostKernel>[2];
}

export async function registerStartupKernels(config: Pick<Config, 'registerHostKernel'>, deps: StartupKernelDeps): Promise<void> {
  const { archive, serviceStore, catalog, logger } = deps;
  if (archive !== null) {
    const started = performance.now();
    const summary = await registerKernelsFromStore(archive, catalog, {
      logger,
      ...(deps.checkKernel && { checkKernel: deps.checkKernel }),
    });
    logger.info(
      {
        archive: archive.description,
        added: summary.added,
        updated: summary.updated,
        unchanged: summary.unchanged,
        invalid: summary.invalid.length,
        ms: Math.round(performance.now() - started),
      },
      'archive kernels registered',
    );
    for (const { key, reason } of summary.invalid.slice(0, 20)) logger.warn({ key, reason }, 'archive file not registered');
  }
  if (config.registerHostKernel) {
    try {
      await registerHostKernel(serviceStore, catalog, { logger, ...deps.hostKernel });
    } catch (error) {
      // A host without BTF (or an unknown distribution) still serves the archive's kernels.
      logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'host kernel not registered (BTFHUB_REGISTER_HOST_KERNEL=false silences this)',
      );
    }
  }
}
