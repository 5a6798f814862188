/**
 * Bytes a job's result names, kept beside the result object in this process. A job's result is
 * plain data (BullMQ stores it as JSON), so a trim's result names its trimmed BTF by store key
 * and sha256, and whoever waits for the job reads the bytes back from the store. With the
 * in-process queue the waiter gets the very object the processor returned, so the processor
 * attaches the bytes it has just written (verified, with that sha256) and the waiter takes them
 * instead of reading them back (~1.3-1.8 ms of a 12 ms new trim in `bench api`). A result that
 * went through Redis is a new object: nothing is attached to it, and the waiter reads the store.
 *
 * Taken once: the first waiter takes them, any other reads the store. Results nobody takes (a
 * request that stopped waiting, a BullMQ worker's) are held weakly, and at most the last
 * `MAX_ATTACHED` attachments keep their bytes.
 */
const attached = new WeakMap<object, Uint8Array>();
/** The attachments in order, oldest first, held weakly: past the bound the oldest lose their bytes. */
const order: WeakRef<object>[] = [];
const MAX_ATTACHED = 64;

export function attachResultBytes(result: object, bytes: Uint8Array): void {
  attached.set(result, bytes);
  order.push(new WeakRef(result));
  while (order.length > MAX_ATTACHED) {
    const oldest = order.shift()!.deref();
    if (oldest !== undefined) attached.delete(oldest);
  }
}

/** The bytes attached to `result` in this process, once; undefined when there are none (or they were taken). */
export function takeResultBytes(result: unknown): Uint8Array | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const bytes = attached.get(result);
  attached.delete(result);
  return bytes;
}
