/**
 * Reading the objects a job names: uploaded by the API to `objects/<sha256>.o` before the job
 * was enqueued (or, for a job run in the API's own process, while it starts: a read waits for
 * that write), checked against their hash (the codec executor parses them, off this
 * thread). Failures are JobErrors: a missing object is the service's (retried: a store may
 * lag behind a write), one whose bytes changed is the service's for good.
 */
import { createHash } from 'node:crypto';
import { JobError } from '../queue/job.js';
import { settledContentWrite } from '../storage/content-addressed.js';
import { reportDamage } from '../storage/integrity.js';
import { isSha256Hex, objectKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/** Throws INVALID_JOB unless `hash` is a sha256 in lowercase hex (job data comes over Redis). */
export function checkObjectHash(hash: unknown): string {
  if (!isSha256Hex(hash)) throw new JobError('INVALID_JOB', true, `invalid object hash ${JSON.stringify(hash)}`);
  return hash;
}

/** The bytes of the uploaded object `sha256`, checked against it; `name` is what messages call it. */
export async function loadUploadedBytes(store: ObjectStore, sha256: string, name: string): Promise<Uint8Array> {
  const key = objectKey(checkObjectHash(sha256));
  // An in-process job may start while the API still writes its objects (JobQueue.inProcess).
  await settledContentWrite(key);
  const bytes = await readStored(store, key);
  if (bytes === null) throw new JobError('OBJECT_MISSING', false, `uploaded object ${name} (${key}) is not in the store`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    reportDamage({ kind: 'object', key, expected: sha256, actual, action: 'refused' });
    throw new JobError('OBJECT_DAMAGED', false, `stored object ${key} is damaged (sha256 ${actual}): sending the object again repairs it`, {
      retryable: false,
    });
  }
  return bytes;
}

/** store.get with its failures as retryable server errors. */
export async function readStored(store: ObjectStore, key: string): Promise<Uint8Array | null> {
  try {
    return await store.get(key);
  } catch (error) {
    throw new JobError(
      'INTERNAL',
      false,
      `reading ${key} from ${store.description}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
