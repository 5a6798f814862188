/**
 * The optional transfers of `ObjectStore`, with their fallbacks for a store without them:
 *
 *   - large objects between the store and local files (the debug packages of kernel
 *     generation: hundreds of MB), streamed where the store can (`putFile` / `getFile`), else
 *     through memory with the buffered `put` / `get` (stores of tests, wrappers);
 *   - an object read into a buffer the caller gives (`getInto`: a reused kernel buffer), else
 *     `get`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Allocate, ObjectStore } from './object-store.js';

/** The object at `key` read into bytes from `allocate` where the store can, else `get`'s; null when there is none. */
export function readInto(store: ObjectStore, key: string, allocate: Allocate | undefined): Promise<Uint8Array | null> {
  return allocate !== undefined && store.getInto !== undefined ? store.getInto(key, allocate) : store.get(key);
}

/** Writes the file at `path` to `key`. */
export async function putFileStreaming(store: ObjectStore, key: string, path: string): Promise<void> {
  if (store.putFile !== undefined) return store.putFile(key, path);
  await store.put(key, await readFile(path));
}

/** Writes `key` to a new file at `path`; false when there is no such object. */
export async function getFileStreaming(store: ObjectStore, key: string, path: string): Promise<boolean> {
  if (store.getFile !== undefined) return store.getFile(key, path);
  const bytes = await store.get(key);
  if (bytes === null) return false;
  await writeFile(path, bytes, { flag: 'wx' });
  return true;
}
