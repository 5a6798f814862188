/**
 * Checking stored bytes against the sha256 the catalog holds for them, and telling whoever
 * counts (the API's metrics) when a copy was damaged. Every read of stored bytes that are
 * answered or trusted goes through `readVerified`, or is handed on as `UncheckedBytes` whose
 * check settles before anything is answered from them (an unpacked kernel decoded on a codec
 * thread while its hash runs here): a copy whose hash differs is never used, only reported, so
 * the caller rebuilds it (a trim, a derived form), waits for the client to send it again (an
 * object), or answers a clear error (a kernel file).
 *
 * Damage reports go to process-wide subscribers rather than through every layer's
 * arguments: the job processors that find damage import neither the API nor its metrics.
 */
import { createHash } from 'node:crypto';
import { forgetContent } from './confirmed-content.js';
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

/**
 * Stored bytes handed on before their check finished, so that the check (a sha256) can run
 * beside whatever the bytes are needed for (a codec thread decoding a kernel): nothing may be
 * answered from them until `check()` settles null.
 */
export interface UncheckedBytes {
  bytes: Uint8Array;
  /**
   * Checks `bytes` against their recorded sha256: null when they match, else the bytes to use
   * instead (the damaged copy reported and rebuilt from its source); rejects as a checked read
   * would. Call it once, after handing `bytes` on.
   */
  check: () => Promise<Uint8Array | null>;
}

export type VerifiedRead = { state: 'ok'; bytes: Uint8Array } | { state: 'missing' } | { state: 'damaged'; actual: string };

/**
 * The bytes at `key` if they hash to `sha256`; otherwise whether they are missing or damaged.
 * Store errors pass through. `allocate`: the buffer to read into, where the store can
 * (`ObjectStore.getInto`).
 */
export async function readVerified(store: ObjectStore, key: string, sha256: string, allocate?: Allocate): Promise<VerifiedRead> {
  const bytes = await readInto(store, key, allocate);
  // Whatever this process confirmed of the key no longer counts (confirmed-content.ts).
  if (bytes === null) {
    forgetContent(key);
    return { state: 'missing' };
  }
  const actual = sha256Hex(bytes);
  if (actual === sha256) return { state: 'ok', bytes };
  forgetContent(key);
  return { state: 'damaged', actual };
}
