/**
 * What a serving process checks about its data before it takes work, and how a failure is
 * told: one line saying what is wrong and how to recover (BackendUnavailableError), never a
 * stack trace.
 *
 *   --data is a file                     stop: point it at a directory
 *   --data cannot be written             stop: fix its permissions
 *   catalog.sqlite missing or empty      stop, when the store holds data: restore it, or
 *     while the store holds data         rebuild it with `btfhub import` (see `missingCatalog`)
 *   catalog.sqlite corrupt / read-only   stop: restore it, or move it away and rebuild it
 *   `.btfhub-tmp-*` files / S3 keys      removed: what killed writes left (on S3, only keys
 *                                        older than an hour: other replicas may be writing)
 *
 * A fresh install (no catalog, empty store) starts as before.
 */
import { constants, type Dirent } from 'node:fs';
import { access, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { sweepTemporaryFiles, type SweepSummary } from '../storage/fs-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import { S3ObjectStore } from '../storage/s3-store.js';
import { BackendUnavailableError } from './errors.js';

/** Stops the start when the data directory is a file or cannot be written. */
export async function checkDataDirectory(config: Pick<Config, 'dataDir' | 'storage' | 'database'>): Promise<void> {
  if (config.storage.kind !== 'fs' && config.database.kind !== 'sqlite') return;
  const dir = config.dataDir;
  const stats = await stat(dir).catch(() => null);
  if (stats !== null && !stats.isDirectory()) {
    throw new BackendUnavailableError(`data directory ${dir} is a file, not a directory: point --data (BTFHUB_DATA_DIR) at a directory`);
  }
  if (stats === null) return; // made on first use
  const unwritable = await probeWritable(dir);
  if (unwritable !== null) {
    throw new BackendUnavailableError(
      `data directory ${dir} cannot be written (${unwritable}): fix its permissions, or point --data (BTFHUB_DATA_DIR) elsewhere`,
    );
  }
}

/** Null when a file can be created, written and removed in `dir`, else the error's code. */
export async function probeWritable(dir: string): Promise<string | null> {
  const probe = join(dir, `.btfhub-probe-${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  try {
    const handle = await open(probe, 'wx');
    try {
      await handle.write('ok');
    } finally {
      await handle.close();
    }
    await unlink(probe);
    return null;
  } catch (error) {
    await rm(probe, { force: true }).catch(() => undefined);
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/**
 * Stops the start when the SQLite catalog is missing (or an empty file) while the store holds
 * data: an empty catalog would serve an empty service over it, with `/readyz` ok.
 */
export async function checkCatalogPresent(
  config: Pick<Config, 'dataDir' | 'database'>,
  store: ObjectStore,
  storeRoot: string | null,
): Promise<void> {
  if (config.database.kind !== 'sqlite' || config.database.path === ':memory:') return;
  const path = config.database.path;
  const size = (await stat(path).catch(() => null))?.size;
  if (size !== undefined && size > 0) return;
  if (!(await holdsData(store, storeRoot))) return;
  throw new BackendUnavailableError(
    `catalog ${path} is ${size === undefined ? 'missing' : 'empty'} but the store ${store.description} holds data: restore the catalog from a backup, ` +
      `or rebuild it with \`btfhub import --data ${config.dataDir} SOURCE\` (re-registers the kernels of the archive SOURCE they came from; ` +
      'trims are made again on demand; kernels uploaded through the API must be uploaded again); to start empty instead, move the store away',
  );
}

/** Whether the store holds any object. On disk, one directory read rather than a full listing. */
async function holdsData(store: ObjectStore, storeRoot: string | null): Promise<boolean> {
  if (storeRoot !== null) {
    // Stops at the first object: a walk only as long as it takes to find one.
    const pending = [storeRoot];
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[])) {
        if (entry.name.startsWith('.')) continue;
        if (entry.isFile()) return true;
        if (entry.isDirectory()) pending.push(join(dir, entry.name));
      }
    }
    return false;
  }
  for await (const entry of store.list()) {
    void entry;
    return true;
  }
  return false;
}

/** A SQLite open or migration failure as the line the operator reads. */
export function catalogFailure(config: Pick<Config, 'dataDir' | 'database'>, error: unknown): BackendUnavailableError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (config.database.kind !== 'sqlite')
    return new BackendUnavailableError(`catalog (postgres) is not usable: ${message}`, { cause: error });
  const path = config.database.path;
  const rebuild = `move it away and rebuild it with \`btfhub import --data ${config.dataDir} SOURCE\``;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || /not a database|malformed/i.test(message)) {
    return new BackendUnavailableError(`catalog ${path} is damaged (${message}): restore it from a backup, or ${rebuild}`, {
      cause: error,
    });
  }
  if (
    code === 'SQLITE_READONLY' ||
    code === 'SQLITE_CANTOPEN' ||
    code === 'EACCES' ||
    code === 'EROFS' ||
    code === 'ENOTDIR' ||
    code === 'EEXIST'
  ) {
    return new BackendUnavailableError(
      `catalog ${path} cannot be opened for writing (${String(code)}: ${message}): fix the permissions of ${config.dataDir}`,
      { cause: error },
    );
  }
  return new BackendUnavailableError(`catalog ${path} is not usable: ${message}`, { cause: error });
}

/**
 * How old a temporary S3 key must be before a start removes it. Other replicas share the
 * bucket and may be in the middle of a put (PutObject, CopyObject, DeleteObject): no put of
 * the service's lasts this long, so an older temporary key belongs to a killed process.
 */
export const S3_TEMP_KEY_MIN_AGE_MS = 3_600_000;

/**
 * Removes what killed writes left in the service's store: `.btfhub-tmp-*` files on disk (those
 * of writers no longer running), `.btfhub-tmp-*` keys in S3 older than S3_TEMP_KEY_MIN_AGE_MS.
 * Null for other stores.
 */
export async function sweepStore(config: Pick<Config, 'storage'>, store?: ObjectStore, now = Date.now()): Promise<SweepSummary | null> {
  if (store instanceof S3ObjectStore) return store.sweepTemporaryKeys({ minAgeMs: S3_TEMP_KEY_MIN_AGE_MS, now });
  if (config.storage.kind !== 'fs') return null;
  if (
    (await access(config.storage.root, constants.W_OK).then(
      () => true,
      () => false,
    )) === false
  )
    return null;
  return sweepTemporaryFiles(config.storage.root);
}
