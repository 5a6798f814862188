/**
 * Content-addressed keys that trusting writers in this process (`putContentAddressed`'s
 * `trustConfirmed`: the trim job's results) have lately written, or found holding the right
 * bytes, per store object: what lets the next such write of the same bytes skip reading the
 * key again.
 *
 * Why a trim job trusts it: most new objects hashes trim to a result some earlier trim made
 * (every build of one program, every variant of a test object), and checking that the stored
 * copy still holds those bytes costs a read of the file (five waits on libuv's pool under
 * load) on the answer's path. What trusting costs: a copy damaged or removed behind this
 * process's back since it was confirmed is not repaired by the next trim that makes the same
 * bytes, but by the next read of it. Every reader of a stored result checks its sha256
 * (`readVerified`): the damaged copy is never sent, the read forgets the key here, and the trim
 * it runs again writes the copy. An entry is trusted for CONFIRMED_MS at most.
 *
 * A forget (a read that found the key missing or damaged) holds for every store object: a
 * reader may hold the store under another wrapper than the writer.
 */
import type { ObjectStore } from './object-store.js';

/** How long a confirmation is trusted. */
export const CONFIRMED_MS = 60_000;
/** Keys remembered per store object (the oldest go first), and forgets remembered. */
export const CONFIRMED_KEYS = 4096;

interface Confirmation {
  sha256: string;
  at: number;
}

const confirmed = new WeakMap<ObjectStore, Map<string, Confirmation>>();
/** When each key was last forgotten: a confirmation older than that does not count. */
const forgotten = new Map<string, number>();
/** Past the bound of forgets, every confirmation up to this time is dropped at once. */
let forgetAllBefore = -Infinity;

// Times are performance.now()'s monotonic milliseconds (a clock step must not make an old
// confirmation look new); tests pass their own.

/** `store` holds `sha256`'s bytes at `key`, as of `at` (this process wrote or found them). */
export function confirmContent(store: ObjectStore, key: string, sha256: string, at = performance.now()): void {
  let keys = confirmed.get(store);
  if (keys === undefined) confirmed.set(store, (keys = new Map<string, Confirmation>()));
  keys.delete(key);
  keys.set(key, { sha256, at });
  if (keys.size > CONFIRMED_KEYS) keys.delete(keys.keys().next().value!);
}

/** Whether `store` was confirmed to hold `sha256`'s bytes at `key` within CONFIRMED_MS, and not forgotten since. */
export function isConfirmed(store: ObjectStore, key: string, sha256: string, at = performance.now()): boolean {
  const entry = confirmed.get(store)?.get(key);
  if (entry === undefined || entry.sha256 !== sha256) return false;
  if (at - entry.at > CONFIRMED_MS || entry.at <= forgetAllBefore || entry.at <= (forgotten.get(key) ?? -Infinity)) {
    confirmed.get(store)!.delete(key);
    return false;
  }
  return true;
}

/** A read found `key` missing or damaged: no store's confirmation of it counts any more. */
export function forgetContent(key: string, at = performance.now()): void {
  forgotten.delete(key);
  forgotten.set(key, at);
  if (forgotten.size > CONFIRMED_KEYS) {
    // The oldest forget goes; were it younger than a trusted confirmation, it still holds by
    // dropping every confirmation made up to now instead (a storm of damaged reads).
    const [oldest, when] = forgotten.entries().next().value!;
    forgotten.delete(oldest);
    if (at - when <= CONFIRMED_MS) forgetAllBefore = at;
  }
}
