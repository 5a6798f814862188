/**
 * The service's store with a read-only archive underneath (`btfhub serve --archive DIR`):
 * reads try the store, then the archive; writes and deletes go to the store only. Keys are
 * the same in both (the BTFHub layout), so a kernel registered from the archive is read
 * through this one store while uploads, results and the host kernel land in the service's.
 * Keys the service alone writes (SERVICE_PREFIXES: uploads, results, derived copies) are read
 * from the store only: an archive checkout holds none, and looking there too would cost every
 * miss (each new upload's and result's content-addressed check) a second lookup.
 */
import { getFileStreaming, putFileStreaming, readInto } from './file-transfer.js';
import { compareKeys, isServiceKey } from './keys.js';
import type { Allocate, ObjectInfo, ObjectStore, PutTiming } from './object-store.js';

export class ArchiveOverlayStore implements ObjectStore {
  readonly description: string;

  constructor(
    private readonly store: ObjectStore,
    private readonly archive: ObjectStore,
  ) {
    this.description = `${store.description} over archive ${archive.description}`;
  }

  async get(key: string): Promise<Uint8Array | null> {
    const found = await this.store.get(key);
    return found !== null || isServiceKey(key) ? found : this.archive.get(key);
  }

  async getInto(key: string, allocate: Allocate): Promise<Uint8Array | null> {
    const found = await readInto(this.store, key, allocate);
    return found !== null || isServiceKey(key) ? found : readInto(this.archive, key, allocate);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const found = await this.store.head(key);
    return found !== null || isServiceKey(key) ? found : this.archive.head(key);
  }

  put(key: string, data: Uint8Array, timing?: PutTiming): Promise<void> {
    return this.store.put(key, data, timing);
  }

  putFile(key: string, path: string): Promise<void> {
    return putFileStreaming(this.store, key, path);
  }

  async getFile(key: string, path: string): Promise<boolean> {
    return (await getFileStreaming(this.store, key, path)) || (!isServiceKey(key) && getFileStreaming(this.archive, key, path));
  }

  delete(key: string): Promise<void> {
    return this.store.delete(key);
  }

  /** Both listings merged in key order; a key in both is listed once (the store's). */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    const upper = this.store.list(prefix)[Symbol.asyncIterator]();
    const lower = this.archive.list(prefix)[Symbol.asyncIterator]();
    let a = await upper.next();
    let b = await lower.next();
    while (!a.done || !b.done) {
      const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
      if (order <= 0 && !a.done) {
        yield a.value;
        if (order === 0) b = await lower.next();
        a = await upper.next();
      } else if (!b.done) {
        yield b.value;
        b = await lower.next();
      }
    }
  }

  async check(): Promise<void> {
    await Promise.all([this.store.check(), this.archive.check()]);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.store.close(), this.archive.close()]);
  }
}
