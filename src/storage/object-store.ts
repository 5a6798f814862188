/**
 * One object-store interface, two backends (filesystem, S3). Keys are '/'-separated relative
 * paths, validated by `assertValidKey` (no leading '/', no '.' or '..' segments, no NUL).
 *
 * The layout of what the service stores, and every key builder, are in keys.ts.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, when the backend knows it. */
  modified?: Date;
}

/** What a put adds its durability cost to (a store that syncs nothing itself adds nothing). */
export interface PutTiming {
  /** Milliseconds in fsync (of the data and of its directory), summed over puts. */
  syncMs: number;
}

/**
 * Gives `size` bytes for a read to fill, from offset 0 of a buffer the caller may hand over
 * whole (a reused one: its old contents are overwritten). See `getInto`.
 */
export type Allocate = (size: number) => Uint8Array;

export interface ObjectStore {
  /** Human-readable description for logs ("fs:/path" or "s3://bucket/prefix"). */
  readonly description: string;
  /** The whole object, or null when it does not exist. */
  get(key: string): Promise<Uint8Array | null>;
  /**
   * The whole object read into bytes from `allocate` (its size asked for once), or null when
   * it does not exist: a caller that reuses buffers spares the fresh pages a read into new
   * memory faults in. Optional: `readInto` (file-transfer.ts) falls back to `get`.
   */
  getInto?(key: string, allocate: Allocate): Promise<Uint8Array | null>;
  /** Size and mtime, or null when it does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Atomic write: readers see the old object or the whole new one, never a partial one.
   * `timing`, when given, has the time spent making the write durable (fsyncs) added to it:
   * the API's Server-Timing names that time apart from the write.
   */
  put(key: string, data: Uint8Array, timing?: PutTiming): Promise<void>;
  /**
   * Streams the local file at `path` into `key`, atomically like `put`, without holding it in
   * memory (a debug package is hundreds of MB). Optional: `putFileStreaming` falls back to
   * `put` for a store without it.
   */
  putFile?(key: string, path: string): Promise<void>;
  /** Streams `key` into a new local file at `path`; false when the object does not exist. Optional, as putFile. */
  getFile?(key: string, path: string): Promise<boolean>;
  /** Removes the object; no error when it is absent. */
  delete(key: string): Promise<void>;
  /** Every object under `prefix` (recursive), in key order. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  /** Cheap liveness probe for /readyz; throws with a reason when the store is unusable. */
  check(): Promise<void>;
  /** Releases clients and handles. */
  close(): Promise<void>;
}

/** What a sweep of the temporary files (or keys) of killed writes removed. */
export interface SweepSummary {
  files: number;
  bytes: number;
}
