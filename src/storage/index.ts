/**
 * The object store chosen by the configuration, plus the storage API in one import.
 */
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { FsObjectStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-store.js';

export type { Allocate, ObjectInfo, ObjectStore } from './object-store.js';
export { StorageError, type StorageErrorCode } from './errors.js';
export {
  assertValidKey,
  bundleKey,
  bundleMetaKey,
  compareKeys,
  compatReportKey,
  derivedKernelKey,
  isSha256Hex,
  kernelKey,
  objectKey,
  SERVICE_PREFIXES,
  trimmedKey,
  MAX_KEY_LENGTH,
  type KernelBtfFormat,
} from './keys.js';
export { FsObjectStore } from './fs-store.js';
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3-store.js';
export { putContentAddressed } from './content-addressed.js';
export { ArchiveOverlayStore } from './archive-overlay.js';

/**
 * The service's own store: S3 when S3_BUCKET is set, else `<data>/objects` on disk. The data
 * directory belongs to the service, so its root is created here and /readyz passes on a
 * fresh install.
 */
export function createObjectStore(config: Pick<Config, 'storage'>): ObjectStore {
  const storage = config.storage;
  if (storage.kind === 'fs') {
    mkdirSync(storage.root, { recursive: true });
    return new FsObjectStore(storage.root);
  }
  return new S3ObjectStore(storage);
}

/**
 * The btfhub-archive checkout (BTFHUB_ARCHIVE_DIR) as a store, or null when none is
 * configured. Never created: a missing checkout is a configuration mistake that check() reports.
 */
export function createArchiveStore(config: Pick<Config, 'archiveDir'>): ObjectStore | null {
  return config.archiveDir === undefined ? null : new FsObjectStore(config.archiveDir);
}
