/**
 * Objects hashes the service refuses for a while without doing any work: those whose job
 * stopped every worker that ran it (BullMQ gave up on a job that stalled more than its
 * policy allows: the input kills workers) or whose work ran a codec thread out of its heap.
 * A request for them is answered 422 at once, without a check, a store write or a job.
 *
 * With Redis (scale-out) the set lives there, `<prefix>:refused:<objects hash>` with a TTL,
 * so every API replica refuses the same objects; otherwise in this process's memory (at
 * most MAX_IN_MEMORY entries, the oldest dropped first).
 */
import { ioredis, type Redis } from './ioredis.js';

export interface RefusedObjects {
  /** Why `objectsHash` is refused, or undefined when it is not (a failing Redis says not: fail open). */
  reason(objectsHash: string): Promise<string | undefined>;
  /** Refuses `objectsHash` for the configured time. */
  refuse(objectsHash: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

const MAX_IN_MEMORY = 10_000;

export class MemoryRefusedObjects implements RefusedObjects {
  private readonly entries = new Map<string, { reason: string; until: number }>();
  constructor(private readonly ttlMs: number) {}

  async reason(objectsHash: string): Promise<string | undefined> {
    const entry = this.entries.get(objectsHash);
    if (entry === undefined) return undefined;
    if (entry.until <= Date.now()) {
      this.entries.delete(objectsHash);
      return undefined;
    }
    return entry.reason;
  }

  async refuse(objectsHash: string, reason: string): Promise<void> {
    if (this.ttlMs === 0) return;
    this.entries.delete(objectsHash);
    this.entries.set(objectsHash, { reason, until: Date.now() + this.ttlMs });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= MAX_IN_MEMORY) break;
      this.entries.delete(oldest);
    }
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

export class RedisRefusedObjects implements RefusedObjects {
  private readonly redis: Redis;
  constructor(
    url: string,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    this.redis = new (ioredis().Redis)(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      commandTimeout: 500,
      lazyConnect: false,
    });
    // The queue's own connection reports outages; an unreadable set refuses nothing.
    this.redis.on('error', () => {});
  }

  private key(objectsHash: string): string {
    return `${this.prefix}:refused:${objectsHash}`;
  }

  async reason(objectsHash: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.key(objectsHash))) ?? undefined;
    } catch {
      return undefined;
    }
  }

  async refuse(objectsHash: string, reason: string): Promise<void> {
    if (this.ttlMs === 0) return;
    try {
      await this.redis.set(this.key(objectsHash), reason, 'PX', this.ttlMs);
    } catch {
      // Not remembered: the next request runs into the same failed job (no retry) instead.
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
