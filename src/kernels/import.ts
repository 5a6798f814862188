/**
 * `btfhub import SOURCE`: every kernel of a BTFHub-layout source (a directory, or
 * `s3://bucket/prefix`) registered in the catalog, on top of `registerKernelsFromStore`:
 *
 *  - the files land where trim jobs read kernels: a source that is neither the service's
 *    store nor its configured archive checkout is copied into the service's store (same
 *    keys); the store or the archive itself is registered in place;
 *  - resumable: what was found at each key is kept in the catalog, so a second run (or an
 *    interrupted one run again) skips unchanged files (same size and mtime) without reading
 *    them, and reports "0 added";
 *  - every file is validated by decoding it, and the BTF a `.btf.tar.xz` was unpacked to for
 *    that is kept in the service's store as its unpacked copy (src/kernels/unpacked-copy.ts),
 *    so even the first trim on a kernel reads raw BTF instead of running xz (unless
 *    `unpackedCopies` is false);
 *  - markers (`.failed`, `.hasbtf`) are recorded per kernel; symlinked release aliases are listed once by the filesystem store, and a second
 *    key for the same kernel (an S3 copy of an alias) is counted as an alias.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config/schema.js';
import { FsObjectStore } from '../storage/fs-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import { S3ObjectStore } from '../storage/s3-store.js';
import { type KernelBtfCheck, registerKernelsFromStore, type RegistrationProgress, type RegistrationSummary } from './registry.js';

export class ImportSourceError extends Error {
  override readonly name = 'ImportSourceError';
}

/**
 * The store a SOURCE argument names: `s3://bucket[/prefix]` (endpoint, region and
 * credentials from the configuration's S3 settings when the service uses S3, else the AWS
 * SDK's defaults), or a directory, which must exist.
 */
export async function openImportSource(source: string, config: Pick<Config, 'storage'>): Promise<ObjectStore> {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
  if (s3) {
    const [, bucket, prefix] = s3 as unknown as [string, string, string];
    const base = config.storage.kind === 's3' ? config.storage : undefined;
    return new S3ObjectStore({
      bucket,
      prefix: prefix.replace(/\/+$/, ''),
      region: base?.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: base?.forcePathStyle ?? false,
      ...(base?.endpoint !== undefined && { endpoint: base.endpoint }),
      ...(base?.accessKeyId !== undefined && { accessKeyId: base.accessKeyId }),
      ...(base?.secretAccessKey !== undefined && { secretAccessKey: base.secretAccessKey }),
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source))
    throw new ImportSourceError(`${source}: only directories and s3://bucket/prefix sources are supported`);
  const dir = resolve(source);
  const info = await stat(dir).catch(() => null);
  if (info === null) throw new ImportSourceError(`${source}: no such directory`);
  if (!info.isDirectory()) throw new ImportSourceError(`${source}: not a directory`);
  return new FsObjectStore(dir);
}

export interface ImportTargets {
  /** The service's object store (createObjectStore). */
  store: ObjectStore;
  /** The configured archive checkout (createArchiveStore), read in place by the service. */
  archive?: ObjectStore | null;
}

export interface ImportOptions {
  onProgress?: (progress: RegistrationProgress) => void;
  logger?: Logger;
  /** Files read and decoded at once (default 4). */
  concurrency?: number;
  /** How each new or changed file is decoded (default on this thread; the service's runs on its codec executor). */
  checkKernel?: KernelBtfCheck;
  /**
   * Keep the BTF each new or changed `.btf.tar.xz` is unpacked to (for its check) as its
   * unpacked copy in `targets.store` (default true, BTFHUB_UNPACK_AT_IMPORT): the first trim on
   * it then skips xz, for about 5x the file's size in the store. False: made on first use.
   */
  unpackedCopies?: boolean;
}

export interface ImportSummary extends RegistrationSummary {
  source: string;
  /** Where the registered files are read from: the source itself, or the store they were copied into. */
  registeredIn: string;
  copiedInto: string | null;
  durationMs: number;
}

/** Registers every kernel of `source` (see the module comment). */
export async function importKernels(
  source: ObjectStore,
  targets: ImportTargets,
  catalog: Catalog,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const started = performance.now();
  const inPlace = source.description === targets.store.description || source.description === targets.archive?.description;
  const copyTo = inPlace ? undefined : targets.store;
  const summary = await registerKernelsFromStore(source, catalog, {
    resume: true,
    ...(copyTo && { copyTo }),
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.logger && { logger: options.logger }),
    ...(options.concurrency !== undefined && { concurrency: options.concurrency }),
    ...(options.checkKernel && { checkKernel: options.checkKernel }),
    // Where trims look for unpacked copies: the service's store (the archive is never written to).
    ...(options.unpackedCopies !== false && { unpackedCopies: targets.store }),
  });
  return {
    ...summary,
    source: source.description,
    registeredIn: copyTo ? copyTo.description : source.description,
    copiedInto: copyTo ? copyTo.description : null,
    durationMs: performance.now() - started,
  };
}
