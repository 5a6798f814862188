/**
 * The deeper half of /readyz: the store takes a write (a probe object written and removed),
 * and the catalog agrees with the store on a sample (a few kernels and trims, picked at
 * random, must be stored with the size the catalog records). Sizes, not hashes: a sample
 * check must stay cheap on multi-megabyte kernels, and every read that is answered is hashed
 * anyway (src/storage/integrity.ts). The outcome is kept for `intervalMs`, so a probe polled
 * every second costs one write a half-minute.
 */
import type { Catalog } from '../catalog/catalog.js';
import { readinessProbeKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface DeepReadinessOptions {
  /** How long an outcome is reused. Default 30 s. */
  intervalMs?: number;
  /** Rows sampled per table. Default 3. */
  sample?: number;
  random?: () => number;
}

export class DeepReadiness {
  private last: { at: number; error: string | null } | undefined;
  private running: Promise<string | null> | undefined;

  constructor(
    private readonly catalog: Pick<Catalog, 'listKernels' | 'listTrims'>,
    private readonly store: ObjectStore,
    private readonly options: DeepReadinessOptions = {},
  ) {}

  /** Throws with the reason when the store cannot be written or disagrees with the catalog. */
  async check(): Promise<void> {
    const now = Date.now();
    if (this.last === undefined || now - this.last.at >= (this.options.intervalMs ?? 30_000)) {
      this.running ??= this.run().finally(() => {
        this.running = undefined;
      });
      this.last = { at: now, error: await this.running };
    }
    if (this.last.error !== null) throw new Error(this.last.error);
  }

  private async run(): Promise<string | null> {
    const key = readinessProbeKey(process.pid);
    try {
      await this.store.put(key, new TextEncoder().encode(new Date().toISOString()));
      await this.store.delete(key);
    } catch (error) {
      return `the store cannot be written: ${error instanceof Error ? error.message : String(error)}`;
    }
    try {
      return (await this.sampleKernels()) ?? (await this.sampleTrims());
    } catch (error) {
      return `the catalog and the store could not be compared: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private async sampleKernels(): Promise<string | null> {
    for (const record of await this.sampleOf((page) => this.catalog.listKernels({}, page))) {
      const info = await this.store.head(record.storageKey);
      if (info === null)
        return `the catalog and the store disagree: kernel ${record.storageKey} is missing (btfhub verify lists every difference)`;
      if (info.size !== record.size)
        return `the catalog and the store disagree: kernel ${record.storageKey} is ${info.size} bytes, the catalog says ${record.size} (btfhub verify lists every difference)`;
    }
    return null;
  }

  private async sampleTrims(): Promise<string | null> {
    // A missing trim result is rebuilt on demand: only a wrong size is a disagreement.
    for (const trim of await this.sampleOf((page) => this.catalog.listTrims(page))) {
      const info = await this.store.head(trim.resultKey);
      if (info !== null && info.size !== trim.size)
        return `the catalog and the store disagree: ${trim.resultKey} is ${info.size} bytes, the catalog says ${trim.size} (btfhub verify lists every difference)`;
    }
    return null;
  }

  private async sampleOf<T>(list: (page: { limit: number; offset: number }) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
    const size = this.options.sample ?? 3;
    const { total } = await list({ limit: 0, offset: 0 });
    if (total === 0) return [];
    const offset = Math.floor((this.options.random ?? Math.random)() * Math.max(0, total - size + 1));
    return (await list({ limit: size, offset })).items;
  }
}
