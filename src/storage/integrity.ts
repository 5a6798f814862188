/**
 * Checking stored bytes against the sha256 the catalog holds for them, and telling whoever
 * counts (the API's metrics) when a copy was damaged. Every read of stored bytes that are
 * answered or trusted goes through `readVerified`: a copy whose hash differs is never
 * returned, only reported, so the caller rebuilds it (a trim, a derived form), waits for the
 * client to send it again (an object), or answers a clear error (a kernel file).
 *
 * Damage reports go to process-wide subscribers rather than through every layer's
 * arguments: the job processors that find damage import neither the API nor its metrics.
 */
import { createHash } from 'node:crypto';
import { readInto } from './file-transfer.js';
import type { Allocate, ObjectStore } from './object-store.js';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What kind of stored file was damaged (the metric's label). */
export type StoredKind = 'trim_result' | 'object' | 'kernel' | 'derived' | 'compat_report' | 'bundle';

/** What was done about it: rebuilt or replaced by a good copy, or refused with an error. */
export type DamageAction = 'rebuilt' | 'replaced' | 'refused' | 'removed';

export interface DamageReport {
  kind: StoredKind;
  key: string;
  /** sha256 the catalog (or the key) says the bytes have. */
  expected: string;
  /** sha256 of what the store holds. */
  actual: string;
  action: DamageAction;
}

type Subscriber = (report: DamageReport) => void;
const subscribers = new Set<Subscriber>();

/** Calls `subscriber` on every damage report of this process until the returned function is called. */
export function onDamage(subscriber: Subscriber): () => void {
  subscribers.add(subscriber);
  return () => subscribers.delete(subscriber);
}

export function reportDamage(report: DamageReport): void {
  for (const subscriber of subscribers) {
    try {
      subscriber(report);
    } catch {
      // A counter that throws must not turn a handled damage into a failed request.
    }
  }
}

export type VerifiedRead = { state: 'ok'; bytes: Uint8Array } | { state: 'missing' } | { state: 'damaged'; actual: string };

/**
 * The bytes at `key` if they hash to `sha256`; otherwise whether they are missing or damaged.
 * Store errors pass through. `allocate`: the buffer to read into, where the store can
 * (`ObjectStore.getInto`).
 */
export async function readVerified(store: ObjectStore, key: string, sha256: string, allocate?: Allocate): Promise<VerifiedRead> {
  const bytes = await readInto(store, key, allocate);
  if (bytes === null) return { state: 'missing' };
  const actual = sha256Hex(bytes);
  return actual === sha256 ? { state: 'ok', bytes } : { state: 'damaged', actual };
}
