/**
 * The CodecExecutor of the service: the codec's work on request data (parsing uploads, trims,
 * compat rows) runs in a pool of worker threads, never on the event loop that answers
 * `/healthz` and cached trims. Each thread (codec-thread.ts) runs one task at a time with
 *
 *   - a heap cap (`resourceLimits.maxOldGenerationSizeMb`): an input that would take more
 *     memory kills its thread, not the process; the task fails with CodecTaskError('memory');
 *   - a time budget per task: past it the thread is terminated (synchronous work cannot be
 *     interrupted otherwise) and the task fails with CodecTaskError('timeout').
 *
 * A dead thread is replaced at once and the tasks queued behind it run on the new one; only
 * the task that killed it fails. Work for a kernel (trim, compat) goes to the thread its
 * identity hashes to, so the decoded-kernel cache inside each thread is hit (the budget
 * BTFHUB_KERNEL_CACHE_BYTES is split between the threads); checks of uploads go to the
 * thread of the kernel they will be trimmed on when the caller names it (that thread then holds
 * their parse for the trim), else to the least busy thread. A trim whose home thread is busy
 * goes to an idle thread that already holds that kernel's decode, or, once two tasks wait at
 * home, to any idle thread, which then decodes the kernel too: trims of one hot kernel use
 * every core instead of queueing on one. The kernel's raw BTF is read by the caller's
 * `loadRaw` on this thread (I/O) only when the thread's cache does not hold its decode; `loadRaw` failures pass through
 * unchanged, as with the inline executor.
 *
 * Two things keep a bundle's hundreds of tasks off fresh memory (the image's malloc settings
 * make every large buffer a new mapping): a thread that trimmed a kernel without keeping it
 * gives the kernel's buffer back, for the next read (`allocateKernel`, spare-buffers.ts); and
 * objects a thread has been sent are named by sha256 in later tasks, not copied again (a trim
 * given its objects by hash, `StoredObject`, reads them only when the thread lacks them).
 *
 * A kernel a thread will keep is read (`TrimKernel.loadUnchecked`) into shared memory faulted
 * in ahead (warm-shared-buffer.ts), sent at once, and checked against its sha256 here while the
 * thread decodes it; the thread uses the decode only once told the bytes are good
 * (`kernel-checked`, with the rebuilt bytes when they were not).
 *
 * Threads start on first use (or `start()`), each in tens of milliseconds from compiled JS.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { CodecLimits } from '../btf/index.js';
import {
  type CodecExecutor,
  CodecTaskError,
  type KernelCheck,
  type KernelCompatResults,
  type ObjectBytes,
  type ObjectInput,
  type ObjectRelocations,
  type TrimKernel,
  type TrimmedBtf,
  type ThreadHeap,
  type TrimOptions,
  withBytes,
} from './codec-executor.js';
import { defaultCodecThreads } from '../config/default-threads.js';
import type { Allocate } from '../storage/object-store.js';
import type { CacheReport, CodecOp, CodecThreadData, FromThread, HeldObject, ToThread } from './codec-thread.js';
import type { KernelCacheKey } from './kernel-cache.js';
import { SpareBuffers } from './spare-buffers.js';
import { WarmSharedBuffer } from './warm-shared-buffer.js';
import { codecThreadEntry, type ThreadEntry } from './thread-entry.js';

export interface WorkerCodecExecutorOptions {
  /** Threads in the pool; default defaultCodecThreads(): one per core beyond the first, at most two. */
  threads?: number;
  /** Heap cap of each thread (old generation), MiB. */
  heapMb: number;
  /** Time budget of one task, ms. */
  taskTimeoutMs: number;
  /** Decoded-kernel cache budget of the whole pool, bytes (split evenly between the threads). */
  kernelCacheBytes: number;
  /** Codec bounds; the codec's defaults for those left out. */
  limits?: Partial<CodecLimits>;
  /** Told when a thread dies and is replaced (for a log line). */
  onThreadLost?: (event: { thread: number; reason: 'memory' | 'timeout' | 'crash'; message: string }) => void;
}

/**
 * The young generation of each thread, MiB. V8 sizes it from the heap cap otherwise, and a
 * 1 GiB cap gives semi-spaces large enough that two threads trimming a libbpf-tools-sized
 * object over and over held ~290 MB of RSS between collections; with 4 MiB they held ~230 MB
 * for the same CPU time (2 MiB cost 25 % more CPU in scavenges). Measured with 400 trims of
 * distinct 785 KB objects, 4 at a time, on the compiled executor.
 */
const THREAD_YOUNG_GENERATION_MB = 4;

interface Task {
  id: number;
  op: CodecOp;
  objects: ObjectInput[];
  /** The objects with their bytes, once a message had to carry them (loaded once per task). */
  withBytes?: Promise<ObjectBytes[]>;
  kernel?: TrimKernel;
  /** For 'trim': false to decode the kernel without caching it. */
  cacheKernel?: boolean;
  /** For 'check-kernel': the BTF, and the structs asked about. */
  raw?: Uint8Array;
  structs?: string[];
  resolve(value: unknown): void;
  reject(error: unknown): void;
  settled: boolean;
}

interface Lane {
  index: number;
  worker: Worker | undefined;
  ready: boolean;
  queue: Task[];
  current: Task | undefined;
  timer: NodeJS.Timeout | undefined;
  cache: CacheReport;
  /** Kernels this thread has trimmed with its cache on (keys), as far as this side knows: emptied with the thread. */
  kernels: Set<string>;
  /** sha256s of the objects this thread has been sent with their bytes: later tasks name them only. Emptied with the thread. */
  objects: Set<string>;
  /** Set once the current thread is being replaced: its late messages are ignored. */
  generation: number;
}

/** Kernels remembered per thread for routing; past it the memory starts over (a guess, not a promise). */
const REMEMBERED_KERNELS = 64;
/** Objects remembered per thread as sent, the oldest forgotten past it (the thread keeps fewer parses: codec-thread.ts asks for what it lacks). */
export const REMEMBERED_OBJECTS = 64;

/**
 * Kernel buffers the threads gave back, kept for the next reads (spare-buffers.ts): a bundle
 * has up to two trims per thread in flight and two kernels read ahead, so per thread two come
 * back before the reads take them again. Dropped after a second without use: a bundle reads
 * its next kernel within milliseconds, and nothing else gives them back.
 */
const SPARES_PER_THREAD = 2;
const SPARES_IDLE_MS = 1000;

export class WorkerCodecExecutor implements CodecExecutor {
  readonly threads: number;
  private readonly lanes: Lane[];
  private nextId = 0;
  private closed = false;
  private entry: ThreadEntry | undefined;
  private entryLoading: Promise<void> | undefined;
  /** Threads replaced after running out of memory or time, or crashing (for metrics and tests). */
  readonly lost = { memory: 0, timeout: 0, crash: 0 };
  /** Bytes of objects sent in task messages (objects a thread has been sent before are named only). */
  objectBytesSent = 0;
  /**
   * Of those, bytes in shared memory (uploads.ts joins big uploads there): the thread gets a
   * view of them, not a copy.
   */
  objectBytesShared = 0;
  /** Buffers of kernels the threads trimmed without keeping, handed back for the next reads. */
  readonly spares: SpareBuffers;
  readonly allocateKernel: Allocate;
  /** Shared memory, faulted in ahead, for the next kernel a thread keeps (read before its check). */
  readonly warmShared = new WarmSharedBuffer();
  private readonly sharedBytes: Allocate = (size) => this.warmShared.take(size);

  constructor(private readonly options: WorkerCodecExecutorOptions) {
    this.threads = Math.max(1, options.threads ?? defaultCodecThreads());
    this.spares = new SpareBuffers({ max: SPARES_PER_THREAD * this.threads, idleMs: SPARES_IDLE_MS });
    this.allocateKernel = this.spares.allocate;
    this.lanes = Array.from({ length: this.threads }, (_, index) => ({
      index,
      worker: undefined,
      ready: false,
      queue: [],
      current: undefined,
      timer: undefined,
      cache: { count: 0, bytes: 0 },
      kernels: new Set<string>(),
      objects: new Set<string>(),
      generation: 0,
    }));
  }

  /** Starts every thread now instead of on first use (a service warms up before it listens). */
  start(): void {
    for (const lane of this.lanes) this.spawn(lane);
  }

  checkObjects(objects: readonly ObjectBytes[], forKernel?: KernelCacheKey): Promise<void> {
    return this.submit<void>(forKernel === undefined ? this.leastBusy() : this.homeLane(forKernel), 'check', objects);
  }

  trim(kernel: TrimKernel, objects: readonly ObjectInput[], options: TrimOptions = {}): Promise<TrimmedBtf> {
    const lane = options.cacheKernel === false ? this.laneOf(kernel) : this.trimLane(kernel);
    if (options.cacheKernel !== false) {
      if (lane.kernels.size >= REMEMBERED_KERNELS) lane.kernels.clear();
      lane.kernels.add(kernelKey(kernel));
    }
    return this.submit<TrimmedBtf>(lane, 'trim', objects, {
      kernel,
      ...(options.cacheKernel === false && { cacheKernel: false }),
    });
  }

  checkKernel(raw: Uint8Array, options: { structs?: readonly string[] } = {}): Promise<KernelCheck> {
    return this.submit<KernelCheck>(this.leastBusy(), 'check-kernel', [], { raw, structs: [...(options.structs ?? [])] });
  }

  describeRelocations(objects: readonly ObjectBytes[]): Promise<ObjectRelocations> {
    return this.submit<ObjectRelocations>(this.leastBusy(), 'describe', objects);
  }

  compatKernel(kernel: TrimKernel, objects: readonly ObjectBytes[]): Promise<KernelCompatResults> {
    return this.submit<KernelCompatResults>(this.laneOf(kernel), 'compat', objects, { kernel });
  }

  decodedKernels(): { count: number; bytes: number } {
    return this.lanes.reduce((sum, lane) => ({ count: sum.count + lane.cache.count, bytes: sum.bytes + lane.cache.bytes }), {
      count: 0,
      bytes: 0,
    });
  }

  /** Undefined until a thread has started (threads start on first use): no heap to report. */
  threadHeap(): ThreadHeap | undefined {
    if (this.lanes.every((lane) => lane.cache.heap === undefined)) return undefined;
    const sum: ThreadHeap = { used: 0, total: 0, external: 0 };
    for (const { cache } of this.lanes) {
      if (cache.heap === undefined) continue;
      sum.used += cache.heap.used;
      sum.total += cache.heap.total;
      sum.external += cache.heap.external;
    }
    return sum;
  }

  /**
   * Full collections the threads ran themselves (codec-thread.ts, collectIfHeld), as of their
   * last reports; a replaced thread's count starts again at 0. For tests and benches.
   */
  threadCollections(): number {
    return this.lanes.reduce((n, lane) => n + (lane.cache.collections ?? 0), 0);
  }

  /** Tasks waiting or running, per thread. */
  backlog(): number[] {
    return this.lanes.map((lane) => lane.queue.length + (lane.current === undefined ? 0 : 1));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.spares.clear();
    this.warmShared.clear();
    const closing = new Error('the codec executor is closed');
    for (const lane of this.lanes) {
      clearTimeout(lane.timer);
      for (const task of [...(lane.current ? [lane.current] : []), ...lane.queue]) settle(task, closing);
      lane.queue = [];
      lane.current = undefined;
      lane.generation++;
      const worker = lane.worker;
      lane.worker = undefined;
      await worker?.terminate();
    }
  }

  private submit<T>(
    lane: Lane,
    op: CodecOp,
    objects: readonly ObjectInput[],
    extra: Pick<Task, 'kernel' | 'cacheKernel' | 'raw' | 'structs'> = {},
  ): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the codec executor is closed'));
    return new Promise<T>((resolve, reject) => {
      const task: Task = { id: this.nextId++, op, objects: [...objects], ...extra, resolve: resolve, reject, settled: false };
      lane.queue.push(task);
      this.pump(lane);
    });
  }

  /** The thread a kernel's work goes to: its identity hashed, so its decode is cached in one place. */
  private laneOf(kernel: TrimKernel): Lane {
    return this.homeLane(kernel.cacheKey);
  }

  /** The thread a kernel's work goes to first: its identity hashed. */
  private homeLane(key: KernelCacheKey): Lane {
    const digest = createHash('sha256').update(`${key.storageKey}\0${key.sha256}`).digest();
    return this.lanes[digest.readUInt32BE(0) % this.lanes.length]!;
  }

  /**
   * A trim's thread: the kernel's own while it is idle; else an idle one that has trimmed this
   * kernel (its decode is there, unless evicted since), or any idle one once two tasks are
   * queued at home (a decode costs less than waiting for both).
   */
  private trimLane(kernel: TrimKernel): Lane {
    const home = this.laneOf(kernel);
    const backlog = load(home);
    if (backlog === 0) return home;
    const key = kernelKey(kernel);
    return this.lanes.find((lane) => lane !== home && load(lane) === 0 && (lane.kernels.has(key) || backlog >= 2)) ?? home;
  }

  private leastBusy(): Lane {
    return this.lanes.reduce((best, lane) => (load(lane) < load(best) ? lane : best));
  }

  private spawn(lane: Lane): void {
    if (lane.worker !== undefined || this.closed) return;
    if (this.entry === undefined) {
      this.entryLoading ??= codecThreadEntry().then(
        (entry) => {
          this.entry = entry;
          for (const waiting of this.lanes) if (waiting.queue.length > 0 || waiting.worker === undefined) this.spawn(waiting);
        },
        (error: unknown) => {
          this.entryLoading = undefined;
          const failure = new Error(`codec threads cannot start: ${error instanceof Error ? error.message : String(error)}`);
          for (const waiting of this.lanes) for (const task of waiting.queue.splice(0)) settle(task, failure);
        },
      );
      return;
    }
    const workerData: CodecThreadData = {
      kernelCacheBytes: Math.floor(this.options.kernelCacheBytes / this.threads),
      limits: { ...this.options.limits },
    };
    const worker = new Worker(this.entry.url, {
      workerData,
      ...(this.entry.execArgv !== undefined && { execArgv: this.entry.execArgv }),
      resourceLimits: { maxOldGenerationSizeMb: this.options.heapMb, maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    const generation = ++lane.generation;
    lane.worker = worker;
    lane.ready = false;
    lane.cache = { count: 0, bytes: 0 };
    lane.kernels.clear();
    lane.objects.clear();
    worker.on('message', (message: FromThread) => {
      if (lane.generation === generation) this.onMessage(lane, message);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (lane.generation !== generation) return;
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.replace(lane, memory ? 'memory' : 'crash', error.message);
    });
    worker.on('exit', (code) => {
      if (lane.generation !== generation) return;
      this.replace(lane, 'crash', `codec thread exited with code ${code}`);
    });
  }

  private pump(lane: Lane): void {
    if (this.closed || lane.current !== undefined) return;
    if (lane.worker === undefined) this.spawn(lane);
    if (!lane.ready) return; // 'ready' pumps again
    const task = lane.queue.shift();
    if (task === undefined) return;
    lane.current = task;
    const held = this.heldObjects(lane, task.objects);
    if (held !== undefined || task.objects.every((o) => 'bytes' in o)) {
      this.post(lane, task, held ?? this.sending(lane, task.objects as ObjectBytes[]));
      return;
    }
    // Objects given by hash that this thread was not sent: read before the task goes.
    const generation = lane.generation;
    this.bytesOf(task).then(
      (objects) => {
        if (isCurrent(lane, task, generation)) this.post(lane, task, this.sending(lane, objects));
      },
      (error: unknown) => {
        settle(task, error);
        if (!isCurrent(lane, task, generation)) return;
        lane.current = undefined;
        this.pump(lane);
      },
    );
  }

  private post(lane: Lane, task: Task, objects: ObjectBytes[] | HeldObject[]): void {
    const message: ToThread = { type: 'task', id: task.id, op: task.op, objects };
    if (task.kernel !== undefined) message.cacheKey = { storageKey: task.kernel.cacheKey.storageKey, sha256: task.kernel.cacheKey.sha256 };
    if (task.cacheKernel === false) message.cacheKernel = false;
    if (task.raw !== undefined) message.raw = task.raw;
    if (task.structs !== undefined) message.structs = task.structs;
    lane.worker!.postMessage(message);
    this.startClock(lane);
  }

  /**
   * The objects named only (sha256), when every one was sent to this thread before, which
   * keeps their parses (codec-thread.ts asks again otherwise); else undefined.
   */
  private heldObjects(lane: Lane, objects: readonly ObjectInput[]): HeldObject[] | undefined {
    if (objects.length > 0 && objects.every((o) => o.sha256 !== undefined && lane.objects.has(o.sha256))) {
      return objects.map((o) => ({ name: o.name, sha256: o.sha256! }));
    }
    return undefined;
  }

  /** Objects about to be copied into a message: remembered as sent to this thread, and counted. */
  private sending(lane: Lane, objects: ObjectBytes[]): ObjectBytes[] {
    for (const o of objects) {
      if (o.sha256 === undefined) continue;
      // Most recent last; past the bound the oldest is forgotten (the thread drops old parses first too).
      lane.objects.delete(o.sha256);
      lane.objects.add(o.sha256);
      if (lane.objects.size > REMEMBERED_OBJECTS) lane.objects.delete(lane.objects.values().next().value!);
    }
    this.countSent(objects);
    return objects;
  }

  private countSent(objects: readonly ObjectBytes[]): void {
    for (const o of objects) {
      this.objectBytesSent += o.bytes.byteLength;
      if (o.bytes.buffer instanceof SharedArrayBuffer) this.objectBytesShared += o.bytes.byteLength;
    }
  }

  /** The task's objects with their bytes, those given by hash loaded (once per task). */
  private bytesOf(task: Task): Promise<ObjectBytes[]> {
    task.withBytes ??= Promise.all(task.objects.map(withBytes));
    return task.withBytes;
  }

  private startClock(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = setTimeout(
      () => this.replace(lane, 'timeout', `ran past its time budget of ${this.options.taskTimeoutMs} ms`),
      this.options.taskTimeoutMs,
    );
  }

  private onMessage(lane: Lane, message: FromThread): void {
    if (message.type === 'ready') {
      lane.ready = true;
      lane.cache = message.cache;
      this.pump(lane);
      return;
    }
    const task = lane.current;
    if (task === undefined || task.id !== message.id) return;
    if (message.type === 'need-objects') {
      // The thread dropped a parse it was assumed to keep: the bytes after all.
      void this.sendObjects(lane, task);
      return;
    }
    if (message.type === 'need-kernel') {
      // Reading the store is not the thread's time: the clock stops until the bytes are sent.
      clearTimeout(lane.timer);
      void this.sendKernel(lane, task);
      return;
    }
    clearTimeout(lane.timer);
    lane.cache = message.cache;
    lane.current = undefined;
    if (message.type !== 'crashed' && message.spare !== undefined) this.spares.give(message.spare);
    if (message.type === 'done') {
      if (!task.settled) {
        task.settled = true;
        task.resolve(message.value);
      }
    } else if (message.type === 'failed') {
      settle(task, new CodecTaskError(message.stage, message.message, message.limit === undefined ? undefined : { limit: message.limit }));
    } else {
      settle(task, new Error(`codec thread: ${message.message}`));
    }
    this.pump(lane);
  }

  private async sendKernel(lane: Lane, task: Task): Promise<void> {
    const generation = lane.generation;
    const kernel = task.kernel!;
    let raw: Uint8Array;
    let check: (() => Promise<Uint8Array | null>) | undefined;
    try {
      if (task.cacheKernel !== false && kernel.loadUnchecked) {
        // A kept kernel, read into shared memory (faulted in ahead: warm-shared-buffer.ts): the
        // thread decodes it while its sha256 is checked here (a cold trim's hash and decode run
        // at once, on two cores).
        const unchecked = await kernel.loadUnchecked(this.sharedBytes);
        raw = unchecked.bytes;
        check = unchecked.check;
        if (!(raw.buffer instanceof SharedArrayBuffer)) {
          // The store could not read into shared memory (S3): checked before it goes, as loadRaw would.
          raw = (await check()) ?? raw;
          check = undefined;
        }
      } else {
        // Reused buffers only for kernels the thread will give back: a kept decode holds its
        // buffer for good, and one rounded up past its bytes (spare-buffers.ts) is memory the
        // thread's heap accounting does not see (cold trims ran 5 ms slower with them, bench cold).
        raw = await kernel.loadRaw(task.cacheKernel === false ? this.allocateKernel : undefined);
      }
    } catch (error) {
      this.failLoad(lane, task, generation, error);
      return;
    }
    if (!isCurrent(lane, task, generation)) return;
    // Moved to the thread, not copied, when the bytes own their whole buffer, or start one of
    // `allocateKernel`'s (a kernel is ~5 MB, and its copy cost ~3 ms of CPU per cold load):
    // loadRaw hands them over (TrimKernel). Shared memory is neither moved nor copied.
    const { buffer } = raw;
    const whole =
      raw.byteOffset === 0 && buffer instanceof ArrayBuffer && (raw.byteLength === buffer.byteLength || this.spares.owns(buffer));
    lane.worker!.postMessage(
      { type: 'kernel', id: task.id, raw, unchecked: check !== undefined } satisfies ToThread,
      whole ? [buffer] : [],
    );
    this.startClock(lane);
    if (check === undefined) return;
    let replacement: Uint8Array | null;
    try {
      replacement = await check();
    } catch (error) {
      this.failLoad(lane, task, generation, error);
      return;
    }
    if (!isCurrent(lane, task, generation)) return;
    if (replacement === null) {
      lane.worker!.postMessage({ type: 'kernel-checked', id: task.id } satisfies ToThread);
      return;
    }
    // The copy was damaged: the thread decodes the rebuilt bytes instead, on a new clock.
    const { buffer: rebuilt } = replacement;
    const moved = rebuilt instanceof ArrayBuffer && replacement.byteOffset === 0 && replacement.byteLength === rebuilt.byteLength;
    lane.worker!.postMessage({ type: 'kernel-checked', id: task.id, raw: replacement } satisfies ToThread, moved ? [rebuilt] : []);
    this.startClock(lane);
  }

  private async sendObjects(lane: Lane, task: Task): Promise<void> {
    const generation = lane.generation;
    clearTimeout(lane.timer);
    let objects: ObjectBytes[];
    try {
      objects = await this.bytesOf(task);
    } catch (error) {
      this.failLoad(lane, task, generation, error);
      return;
    }
    if (!isCurrent(lane, task, generation)) return;
    this.countSent(objects);
    lane.worker!.postMessage({ type: 'objects', id: task.id, objects } satisfies ToThread);
    this.startClock(lane);
  }

  /** A read's own failure (the kernel's or an object's source) is the task's answer; the thread is told to drop the task. */
  private failLoad(lane: Lane, task: Task, generation: number, error: unknown): void {
    settle(task, error);
    if (isCurrent(lane, task, generation)) lane.worker!.postMessage({ type: 'load-failed', id: task.id } satisfies ToThread);
  }

  /** The lane's thread is dead (or must be): its task fails, a new thread takes the queue. */
  private replace(lane: Lane, reason: 'memory' | 'timeout' | 'crash', detail: string): void {
    clearTimeout(lane.timer);
    const task = lane.current;
    lane.current = undefined;
    const worker = lane.worker;
    const started = lane.ready;
    lane.worker = undefined;
    lane.ready = false;
    lane.generation++;
    void worker?.terminate();
    this.lost[reason]++;
    this.options.onThreadLost?.({ thread: lane.index, reason, message: detail });
    if (task !== undefined) settle(task, threadFailure(reason, detail, this.options));
    if (this.closed) return;
    if (!started) {
      // A thread that cannot even start (its entry does not load) would be restarted forever.
      const error = new Error(`codec thread failed to start: ${detail}`);
      for (const queued of lane.queue.splice(0)) settle(queued, error);
      return;
    }
    if (lane.queue.length > 0) this.pump(lane);
  }
}

function kernelKey(kernel: TrimKernel): string {
  return `${kernel.cacheKey.storageKey}\0${kernel.cacheKey.sha256}`;
}

/**
 * Whether `task` is still the one running on the thread `lane` had when `generation` was read:
 * an answer to an earlier thread, or to a task already given up, is dropped.
 */
function isCurrent(lane: Lane, task: Task, generation: number): boolean {
  return lane.generation === generation && lane.current === task;
}

function load(lane: Lane): number {
  return lane.queue.length + (lane.current === undefined ? 0 : 1);
}

function settle(task: Task, error: unknown): void {
  if (task.settled) return;
  task.settled = true;
  task.reject(error);
}

function threadFailure(reason: 'memory' | 'timeout' | 'crash', detail: string, options: WorkerCodecExecutorOptions): Error {
  switch (reason) {
    case 'memory':
      return new CodecTaskError(
        'memory',
        `the input needs more memory than a codec thread may use: over the limit codecThreadHeapMb = ${options.heapMb}`,
        {
          limit: { name: 'codecThreadHeapMb', value: options.heapMb },
        },
      );
    case 'timeout':
      return new CodecTaskError(
        'timeout',
        `the codec's work ran past its time budget and was stopped (over the limit codecTaskTimeoutMs = ${options.taskTimeoutMs}); retry later`,
        {
          limit: { name: 'codecTaskTimeoutMs', value: options.taskTimeoutMs },
        },
      );
    case 'crash':
      return new Error(`codec thread died: ${detail}`);
  }
}
