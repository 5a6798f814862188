/**
 * Writes of content-addressed objects (`objects/<sha256>.o`, `trimmed/<sha256>.btf`): every
 * writer of a key writes the same bytes, so a key already holding an object of the right
 * size is done, concurrent writes of one key in this process share one put, and a put that
 * fails because another process wrote the same key at the same moment (S3-compatible servers
 * can refuse a copy onto a key being replaced) counts as done when the key now holds it.
 */
import type { ObjectStore } from './object-store.js';

const inFlight = new WeakMap<ObjectStore, Map<string, Promise<void>>>();

export async function putContentAddressed(store: ObjectStore, key: string, bytes: Uint8Array): Promise<void> {
  let pending = inFlight.get(store);
  if (!pending) inFlight.set(store, (pending = new Map<string, Promise<void>>()));
  const running = pending.get(key);
  if (running) return running;
  const write = (async () => {
    if ((await store.head(key))?.size === bytes.length) return;
    try {
      await store.put(key, bytes);
    } catch (error) {
      if ((await store.head(key).catch(() => null))?.size === bytes.length) return;
      throw error;
    }
  })();
  pending.set(key, write);
  try {
    await write;
  } finally {
    pending.delete(key);
  }
}
