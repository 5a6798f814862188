/**
 * What the job, queue and worker tests share: the backends of a data directory of their own
 * (`createBackends`, as `btfhub serve` and `btfhub worker` make them: a filesystem store under
 * <dir>/objects, a migrated SQLite catalog), the fixture kernel registered in both, and
 * helpers to upload objects the way the API does (`objects/<sha256>.o`) and build the job
 * for them.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { CatalogBackend, KernelRef } from '../../src/catalog/index.js';
import { type Config, loadConfig } from '../../src/config/schema.js';
import { BullmqJobQueue } from '../../src/queue/bullmq.js';
import type { JobPolicies, JobQueue } from '../../src/queue/job.js';
import { type JobKinds, jobPolicies, objectsHashOf, trimJobId, type TrimJobData } from '../../src/queue/kinds.js';
import { type BackendOptions, type Backends, createBackends } from '../../src/service/backends.js';
import { kernelKey, objectKey, type ObjectStore } from '../../src/storage/index.js';

export const TEST_KERNEL: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-1-btfhubtest' };

export const silentLogger: Logger = pino({ level: 'silent' });

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface TestEnvironment {
  dir: string;
  /** The configuration of `dir` (BTFHUB_DATA_DIR), with `env` on top. */
  config: Config;
  backends: Backends;
  /** Root of the filesystem store. */
  storeRoot: string;
  store: ObjectStore;
  catalog: CatalogBackend;
  cleanup(): Promise<void>;
}

/** The backends of a temporary data directory, the catalog migrated. */
export async function createTestEnvironment(
  options: { env?: Record<string, string>; backends?: Omit<BackendOptions, 'logger'> } = {},
): Promise<TestEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-jobs-test-'));
  const config = loadConfig({ BTFHUB_DATA_DIR: dir, BTFHUB_REGISTER_HOST_KERNEL: 'false', ...options.env });
  const backends = createBackends(config, { logger: silentLogger, ...options.backends });
  const { store, catalog } = await backends.prepare();
  return {
    dir,
    config,
    backends,
    storeRoot: join(dir, 'objects'),
    store,
    catalog,
    async cleanup() {
      await backends.close();
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
export async function uploadJob(store: ObjectStore, objects: readonly Uint8Array[], kernel: KernelRef = TEST_KERNEL): Promise<TrimJobData> {
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

/** A BullMQ producer of every kind under `prefix`, with the default policies (`adjust` changes them). */
export function bullmqTestQueue(
  prefix: string,
  options: {
    url?: string;
    pollIntervalMs?: number;
    operationTimeoutMs?: number;
    adjust?: (policies: JobPolicies<JobKinds>) => JobPolicies<JobKinds>;
  } = {},
): BullmqJobQueue<JobKinds> {
  const policies = jobPolicies({ workerConcurrency: 2, jobTimeoutMs: 60_000 });
  return new BullmqJobQueue<JobKinds>({
    url: options.url ?? REDIS_URL,
    prefix,
    policies: options.adjust ? options.adjust(policies) : policies,
    logger: silentLogger,
    ...(options.pollIntervalMs !== undefined && { pollIntervalMs: options.pollIntervalMs }),
    ...(options.operationTimeoutMs !== undefined && { operationTimeoutMs: options.operationTimeoutMs }),
  });
}

/** Enqueues a trim job under its id (`trimJobId`), as the API does. */
export function enqueueTrim(queue: JobQueue<JobKinds>, data: TrimJobData): Promise<string> {
  return queue.enqueue('trim', trimJobId(data.objectsHash, data.kernel), data);
}
