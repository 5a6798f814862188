/**
 * What the worker, queue and kill tests share: a filesystem store in a temporary directory,
 * a migrated SQLite catalog, the fixture kernel registered in both, and helpers to upload
 * objects the way the API does (`objects/<sha256>.o`) and build the job for them.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { type CatalogBackend, type KernelRef, openCatalog } from '../../src/catalog/index.js';
import { objectsHashOf, type TrimJobData } from '../../src/queue/trim-queue.js';
import { FsObjectStore, kernelKey, type ObjectStore } from '../../src/storage/index.js';
import { objectKey } from '../../src/worker/trim-job.js';

export const TEST_KERNEL: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-1-btfhubtest' };

export const silentLogger: Logger = pino({ level: 'silent' });

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface TestEnvironment {
  dir: string;
  /** Root of the filesystem store. */
  storeRoot: string;
  store: ObjectStore;
  catalog: CatalogBackend;
  /** SQLite file of the catalog, or ':memory:'. */
  catalogPath: string;
  cleanup(): Promise<void>;
}

/** A temporary store and a migrated catalog (':memory:' unless `catalogFile`). */
export async function createTestEnvironment(options: { catalogFile?: boolean } = {}): Promise<TestEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-worker-test-'));
  const storeRoot = join(dir, 'objects');
  const store = new FsObjectStore(storeRoot);
  const catalogPath = options.catalogFile ? join(dir, 'catalog.sqlite') : ':memory:';
  const catalog = await openCatalog({ kind: 'sqlite', path: catalogPath });
  await catalog.migrate();
  return {
    dir,
    storeRoot,
    store,
    catalog,
    catalogPath,
    async cleanup() {
      await catalog.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stores `bytes` as the kernel's full BTF (raw `.btf`, or whatever `format` says) and registers it. */
export async function registerTestKernel(
  env: Pick<TestEnvironment, 'store' | 'catalog'>,
  bytes: Uint8Array,
  ref: KernelRef = TEST_KERNEL,
  format: 'btf' | 'btf.tar.xz' = 'btf',
): Promise<string> {
  const storageKey = kernelKey(ref, format);
  await env.store.put(storageKey, bytes);
  await env.catalog.upsertKernel({ ...ref, storageKey, size: bytes.length, sha256: sha256(bytes) });
  return storageKey;
}

/** Uploads objects as the API does and returns the job that trims them for `kernel`. */
export async function uploadJob(
  store: ObjectStore,
  objects: readonly Uint8Array[],
  kernel: KernelRef = TEST_KERNEL,
): Promise<TrimJobData> {
  const objectHashes: string[] = [];
  for (const bytes of objects) {
    const hash = sha256(bytes);
    await store.put(objectKey(hash), bytes);
    objectHashes.push(hash);
  }
  return { objectHashes, objectsHash: objectsHashOf(objectHashes), kernel };
}

/** A unique BullMQ prefix for one test run on the shared Redis. */
export function testQueuePrefix(): string {
  return `btfhub-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

export const REDIS_URL = process.env.BTFHUB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key under `prefix:` (SCAN, never FLUSH: the Redis is shared). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
