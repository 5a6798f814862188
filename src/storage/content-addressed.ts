/**
 * Writes of content-addressed objects (`objects/<sha256>.o`, `trimmed/<sha256>.btf`,
 * `kernel-files/<sha256>.<format>`): every writer of a key writes the same bytes, so a key
 * already holding those bytes is done. "Those bytes" is checked by hashing the stored copy,
 * never by its size: a copy with a flipped bit has the right size, and is replaced. Concurrent
 * writes of one key in this process share one put, and a put that fails because another
 * process wrote the same key at the same moment (S3-compatible servers can refuse a copy onto
 * a key being replaced) counts as done when the key now holds the right bytes.
 *
 * A reader in this process may wait for a write of the key still in flight here
 * (`settledContentWrite`): the API starts an in-process trim job while the job's objects are
 * still being written, and the job reads an object from the store only when the codec does not
 * hold its parse.
 *
 * Two hints spare the read of the key before a write, each on the answer's path of a new trim:
 * `absent` (the caller's catalog has no record of the key: a new upload) writes at once, a
 * copy there after all being replaced whole by the atomic write; `trustConfirmed` (a trim's
 * result) takes a recent write or check by this process for the bytes being there
 * (confirmed-content.ts says what that costs and why readers make it safe).
 */
import { confirmContent, isConfirmed } from './confirmed-content.js';
import { reportDamage, sha256Hex, type StoredKind } from './integrity.js';
import type { ObjectStore, PutTiming } from './object-store.js';

/** What a content-addressed write did: found the bytes there, wrote them, or replaced a damaged copy. */
export type ContentWrite = 'present' | 'written' | 'repaired';

const inFlight = new WeakMap<ObjectStore, Map<string, Promise<ContentWrite>>>();
/**
 * The same writes by key alone, for readers (`settledContentWrite`): a reader may hold the store
 * under another wrapper than the writer (the API's guarded store, a job's plain one), and
 * waiting on a write of the key to another store only makes it wait longer.
 */
const writingKey = new Map<string, Set<Promise<ContentWrite>>>();

/**
 * Resolves once the writes of `key` by `putContentAddressed` in flight in this process, to any
 * store, have ended (at once when there are none). Their outcome is not passed on: a failed
 * write leaves the key as it was, and the reader finds out what the key holds by reading it.
 */
export async function settledContentWrite(key: string): Promise<void> {
  const running = writingKey.get(key);
  if (running !== undefined) await Promise.allSettled([...running]);
}

/**
 * Stores `bytes` at `key` unless the key already holds exactly them. `kind` names what the
 * key holds in a damage report.
 */
export async function putContentAddressed(
  store: ObjectStore,
  key: string,
  bytes: Uint8Array,
  kind: StoredKind = 'object',
  options: {
    /** Gets the put's fsync time added (ObjectStore.put). */
    timing?: PutTiming;
    /** sha256 (hex) of `bytes` when the caller has it already (an upload hashed as it streamed, a trim's result): not hashed again. */
    sha256?: string;
    /** The key most likely holds nothing (no catalog record of it): written without reading it first. */
    absent?: boolean;
    /** Done at once when this process wrote or found these bytes at the key lately (confirmed-content.ts); what this write finds or writes is remembered for the next. */
    trustConfirmed?: boolean;
  } = {},
): Promise<ContentWrite> {
  let pending = inFlight.get(store);
  if (!pending) inFlight.set(store, (pending = new Map<string, Promise<ContentWrite>>()));
  const running = pending.get(key);
  if (running) return running;
  const write = (async (): Promise<ContentWrite> => {
    const sha256 = options.sha256 ?? sha256Hex(bytes);
    const trusting = options.trustConfirmed === true;
    if (trusting && isConfirmed(store, key, sha256)) return 'present';
    // Remembered for trusting writers only: other keys would only push theirs out.
    const confirm = () => {
      if (trusting) confirmContent(store, key, sha256);
    };
    const holds = async () => {
      const current = await store.get(key);
      return current === null ? null : sha256Hex(current);
    };
    const present = options.absent === true ? null : await holds();
    if (present === sha256) {
      confirm();
      return 'present';
    }
    try {
      await store.put(key, bytes, options.timing);
    } catch (error) {
      if ((await holds().catch(() => null)) !== sha256) throw error;
      confirm();
      return 'written';
    }
    confirm();
    if (present === null) return 'written';
    reportDamage({ kind, key, expected: sha256, actual: present, action: 'replaced' });
    return 'repaired';
  })();
  pending.set(key, write);
  let writes = writingKey.get(key);
  if (writes === undefined) writingKey.set(key, (writes = new Set()));
  writes.add(write);
  try {
    return await write;
  } finally {
    pending.delete(key);
    writes.delete(write);
    if (writes.size === 0 && writingKey.get(key) === writes) writingKey.delete(key);
  }
}
