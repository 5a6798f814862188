/**
 * Worker threads that trim kernels for bundles: decoding, trimming and verifying a kernel is
 * about 12 ms of CPU, so a bundle over hundreds of kernels uses every core when the main
 * thread only reads files and writes the archive. A pool is made for a set of objects and
 * can serve several bundles (a service keeps one); `close` ends it.
 *
 * Raw kernel buffers are transferred to the workers (not copied) when they own their whole
 * ArrayBuffer; trimmed results come back transferred too.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BpfObject } from '../btf/object.js';
import { toPortable, type TrimOutcome } from './trim-task.js';
import type { TrimReply, TrimRequest } from './trim-worker.js';

export interface TrimPoolOptions {
  /** Worker threads; default one per core. */
  threads?: number;
  /** Verify each trim as the worker does (default true). */
  verify?: boolean;
}

interface Lane {
  worker: Worker;
  busy: number;
}

export class TrimPool {
  private readonly pending = new Map<number, { resolve(o: TrimOutcome): void; reject(e: Error): void; lane: Lane }>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  private constructor(private readonly lanes: Lane[]) {
    for (const lane of lanes) {
      lane.worker.on('message', (reply: TrimReply) => this.settle(lane, reply));
      lane.worker.on('error', (error) => this.fail(error));
      lane.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`trim worker exited with code ${code}`));
      });
    }
  }

  /** Starts the workers for `objects` and waits until each is ready. */
  static async start(objects: readonly BpfObject[], options: TrimPoolOptions = {}): Promise<TrimPool> {
    const threads = Math.max(1, options.threads ?? availableParallelism());
    const workerData = { objects: objects.map(toPortable), verify: options.verify ?? true };
    const lanes = Array.from({ length: threads }, () => ({
      worker: new Worker(new URL('./trim-worker.js', import.meta.url), { workerData }),
      busy: 0,
    }));
    try {
      await Promise.all(
        lanes.map(
          ({ worker }) =>
            new Promise<void>((resolve, reject) => {
              const onMessage = (m: unknown) => {
                if ((m as { ready?: boolean }).ready) {
                  worker.off('message', onMessage);
                  worker.off('error', reject);
                  resolve();
                }
              };
              worker.on('message', onMessage);
              worker.once('error', reject);
              worker.once('exit', (code) => reject(new Error(`trim worker exited with code ${code} while starting`)));
            }),
        ),
      );
    } catch (error) {
      await Promise.allSettled(lanes.map((l) => l.worker.terminate()));
      throw error;
    }
    return new TrimPool(lanes);
  }

  get threads(): number {
    return this.lanes.length;
  }

  /** Decodes, trims and verifies one kernel (raw BTF or ELF bytes) on the least busy worker. */
  trim(raw: Uint8Array, source: string): Promise<TrimOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('trim pool is closed'));
    const lane = this.lanes.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    lane.busy++;
    const whole = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer;
    const request: TrimRequest = { id, source, raw };
    return new Promise<TrimOutcome>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, lane });
      lane.worker.postMessage(request, whole ? [raw.buffer] : []);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.lanes.map((l) => l.worker.terminate()));
    this.fail(new Error('trim pool closed'));
  }

  private settle(lane: Lane, reply: TrimReply | { ready: true }): void {
    if ('ready' in reply) return;
    const task = this.pending.get(reply.id);
    if (!task) return;
    this.pending.delete(reply.id);
    lane.busy--;
    if ('crash' in reply) task.reject(new Error(`trim worker: ${reply.crash}`));
    else if ('bytes' in reply) task.resolve({ bytes: reply.bytes, sha256: reply.sha256 });
    else task.resolve({ stage: reply.stage, message: reply.message });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const [id, task] of this.pending) {
      this.pending.delete(id);
      task.reject(error);
    }
  }
}
