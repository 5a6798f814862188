/**
 * Large objects between the store and local files (the debug packages of kernel generation:
 * hundreds of MB), streamed where the store can (`ObjectStore.putFile` / `getFile`), else
 * through memory with the buffered `put` / `get` (stores of tests, wrappers).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { ObjectStore } from './object-store.js';

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
