/**
 * A WorkerCodecExecutor thread (worker-executor.ts): runs one task at a time on an
 * InlineCodecExecutor of its own, whose decoded-kernel cache lives here for the thread's life
 * (the pool sends the tasks for a kernel to one thread, spilling to an idle one only when that
 * thread is busy). A task that needs a kernel's
 * BTF the cache does not hold asks the main thread for it (`need-kernel`), which reads it
 * from the store: the thread does no I/O.
 *
 * Messages (structured clone; result bytes are transferred back):
 *
 *   main -> thread   { type: 'task', id, op, objects, cacheKey?, cacheKernel?, raw?, structs? }
 *                                                                  op: check | trim | describe | compat | check-kernel
 *                    { type: 'objects', id, objects }               the objects' bytes asked for
 *                    { type: 'kernel', id, raw, unchecked }         the raw BTF asked for; unchecked: its
 *                                                                  sha256 is still being checked (shared memory)
 *                    { type: 'kernel-checked', id, raw? }           the check: good, or the bytes to use instead
 *                    { type: 'load-failed', id }                    reading its kernel or objects failed: the main
 *                                                                  thread failed the task itself
 *   thread -> main   { type: 'ready', cache }                       cache: its heap at start
 *                    { type: 'need-objects', id }
 *                    { type: 'need-kernel', id }
 *                    { type: 'done', id, value, cache, spare? }     cache: decoded kernels held
 *                    { type: 'failed', id, stage, message, limit?, cache, spare? }
 *                    { type: 'crashed', id, message, cache }        a bug: not the input's fault
 *
 * A task's objects come without their bytes (`{ name, sha256 }`) when this thread has been sent
 * them before: a bundle's 200 tasks name the same objects, and copying a 785 KB object into
 * every message cost the main thread ~3 ms a kernel in fresh pages (bench cold). The thread
 * uses its kept parse, or asks for the bytes (`need-objects`) when it has dropped it since.
 *
 * `spare` (transferred): the buffer of the kernel a trim with `cacheKernel: false` was sent and
 * has dropped, for the main thread to read the next kernel into (spare-buffers.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CodecLimits } from '../btf/index.js';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CodecTaskError, type ObjectBytes, type ThreadHeap } from './codec-executor.js';
import { InlineCodecExecutor } from './inline-executor.js';
import type { KernelCacheKey } from './kernel-cache.js';

export type CodecOp = 'check' | 'trim' | 'describe' | 'compat' | 'check-kernel';

/** An object the thread was sent before: named by its sha256, its bytes left out. */
export interface HeldObject {
  name: string;
  sha256: string;
}

/**
 * A task: `cacheKey` for trim and compat, `cacheKernel` false for a trim that must not cache;
 * `raw` and `structs` for check-kernel. `objects` are all with their bytes, or all held.
 */
export interface TaskMessage {
  type: 'task';
  id: number;
  op: CodecOp;
  objects: ObjectBytes[] | HeldObject[];
  cacheKey?: KernelCacheKey;
  cacheKernel?: boolean;
  raw?: Uint8Array;
  structs?: string[];
}

export type ToThread =
  | TaskMessage
  | { type: 'objects'; id: number; objects: ObjectBytes[] }
  | { type: 'kernel'; id: number; raw: Uint8Array; unchecked?: boolean }
  | { type: 'kernel-checked'; id: number; raw?: Uint8Array }
  | { type: 'load-failed'; id: number };

export interface CacheReport {
  count: number;
  bytes: number;
  /** The thread's V8 heap after the task (absent before its first). */
  heap?: ThreadHeap;
  /** Full collections the thread has run itself since it started (collectIfHeld). */
  collections?: number;
}

export type FromThread =
  | { type: 'ready'; cache: CacheReport }
  | { type: 'need-objects'; id: number }
  | { type: 'need-kernel'; id: number }
  | { type: 'done'; id: number; value: unknown; cache: CacheReport; spare?: ArrayBuffer }
  | {
      type: 'failed';
      id: number;
      stage: CodecTaskError['stage'];
      message: string;
      limit?: CodecTaskError['limit'];
      cache: CacheReport;
      spare?: ArrayBuffer;
    }
  | { type: 'crashed'; id: number; message: string; cache: CacheReport };

export interface CodecThreadData {
  kernelCacheBytes: number;
  limits: Partial<CodecLimits>;
}

/** The main thread gave up on the task while its kernel was being loaded. */
class Abandoned extends Error {}

const port = parentPort!;
const data = workerData as CodecThreadData;
const executor = new InlineCodecExecutor({ kernelCacheBytes: data.kernelCacheBytes, limits: data.limits });
const kernelWaits = new Map<number, { resolve(raw: Uint8Array): void; reject(error: Error): void }>();
/**
 * Kernels sent before their check finished (by task): settles with the check's answer (null,
 * or the bytes to decode instead). The executor decodes the bytes meanwhile and uses nothing of
 * them before it settles (TrimKernel.checkedRaw).
 */
const kernelChecks = new Map<number, PendingCheck>();
const objectWaits = new Map<number, { resolve(objects: ObjectBytes[]): void; reject(error: Error): void }>();
/** The kernel bytes each running task was sent (one task runs at a time: at most one entry). */
const kernelsSent = new Map<number, Uint8Array>();

function post(message: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function loadKernel(id: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    kernelWaits.set(id, { resolve, reject });
    post({ type: 'need-kernel', id });
  });
}

interface PendingCheck {
  settled: Promise<Uint8Array | null>;
  resolve(raw: Uint8Array | null): void;
  reject(error: Error): void;
}

function pendingCheck(): PendingCheck {
  let resolve!: (raw: Uint8Array | null) => void;
  let reject!: (error: Error) => void;
  const settled = new Promise<Uint8Array | null>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting yet when the task is abandoned: not an unhandled rejection.
  settled.catch(() => {});
  return { settled, resolve, reject };
}

/** No bytes: stands for a held object whose parse is kept (the executor reads only its name and sha256). */
const NO_BYTES = new Uint8Array(0);

/**
 * The task's objects as the executor takes them: as sent, or, when they were held back, from
 * the parses kept here (every one still kept: a task parses nothing new then, so none can be
 * pushed out before it is used), else with the bytes asked for.
 */
async function objectsOf(task: TaskMessage): Promise<ObjectBytes[]> {
  const held = task.objects.filter((o): o is HeldObject => !('bytes' in o));
  if (held.length === 0) return task.objects as ObjectBytes[];
  if (held.every((o) => executor.hasParsed(o.sha256))) return held.map((o) => ({ name: o.name, sha256: o.sha256, bytes: NO_BYTES }));
  return new Promise((resolve, reject) => {
    objectWaits.set(task.id, { resolve, reject });
    post({ type: 'need-objects', id: task.id });
  });
}

async function run(task: TaskMessage): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  const { id } = task;
  const objects = await objectsOf(task);
  const kernel = () => ({
    cacheKey: task.cacheKey!,
    loadRaw: () => loadKernel(id),
    checkedRaw: () => kernelChecks.get(id)?.settled ?? Promise.resolve(null),
  });
  switch (task.op) {
    case 'check':
      await executor.checkObjects(objects);
      return { value: null, transfer: [] };
    case 'describe':
      return { value: await executor.describeRelocations(objects), transfer: [] };
    case 'compat':
      return { value: await executor.compatKernel(kernel(), objects), transfer: [] };
    case 'trim': {
      const trimmed = await executor.trim(kernel(), objects, task.cacheKernel === false ? { cacheKernel: false } : {});
      return { value: trimmed, transfer: [trimmed.bytes.buffer as ArrayBuffer] };
    }
    case 'check-kernel':
      // rawBtf, when present, is a view into the input: copied back, not transferred.
      return { value: await executor.checkKernel(task.raw!, { structs: task.structs ?? [] }), transfer: [] };
  }
}

port.on('message', (message: ToThread) => {
  if (message.type === 'objects') {
    objectWaits.get(message.id)?.resolve(message.objects);
    objectWaits.delete(message.id);
    return;
  }
  if (message.type === 'kernel-checked') {
    kernelChecks.get(message.id)?.resolve(message.raw ?? null);
    kernelChecks.delete(message.id);
    return;
  }
  if (message.type === 'kernel') {
    if (message.unchecked === true) kernelChecks.set(message.id, pendingCheck());
    kernelsSent.set(message.id, message.raw);
    kernelWaits.get(message.id)?.resolve(message.raw);
    kernelWaits.delete(message.id);
    return;
  }
  if (message.type === 'load-failed') {
    kernelWaits.get(message.id)?.reject(new Abandoned());
    kernelWaits.delete(message.id);
    kernelChecks.get(message.id)?.reject(new Abandoned());
    kernelChecks.delete(message.id);
    objectWaits.get(message.id)?.reject(new Abandoned());
    objectWaits.delete(message.id);
    return;
  }
  const { id } = message;
  run(message).then(
    ({ value, transfer }) => {
      const cache = report();
      const spare = spareOf(message);
      post({ type: 'done', id, value, cache, ...(spare && { spare }) }, spare ? [...transfer, spare] : transfer);
      if (keepsItsKernel(message)) collectIfHeld(cache);
    },
    (error: unknown) => {
      const cache = report();
      const spare = spareOf(message);
      // Abandoned: the main thread answered the task already; this only says the thread is free.
      if (error instanceof CodecTaskError && !(error instanceof Abandoned)) {
        post(
          {
            type: 'failed',
            id,
            stage: error.stage,
            message: error.message,
            ...(error.limit !== undefined && { limit: error.limit }),
            cache,
            ...(spare && { spare }),
          },
          spare ? [spare] : [],
        );
      } else {
        post({ type: 'crashed', id, message: error instanceof Error ? (error.stack ?? error.message) : String(error), cache });
      }
    },
  );
});
/**
 * The buffer of the kernel `task` was sent, when the task is over and nothing here holds it
 * any more: a trim with `cacheKernel: false` decoded it for itself alone (a kernel already
 * cached is not sent), and its result, value and errors are new bytes and strings. Taken off
 * the task in any case; undefined for other tasks (a kept decode is a view into its bytes;
 * a kernel check answers views into its input), and for bytes that do not start their buffer
 * (then something else may share it).
 */
function spareOf(task: TaskMessage): ArrayBuffer | undefined {
  const raw = kernelsSent.get(task.id);
  kernelsSent.delete(task.id);
  if (raw === undefined || task.op !== 'trim' || task.cacheKernel !== false) return undefined;
  const { buffer } = raw;
  return raw.byteOffset === 0 && buffer instanceof ArrayBuffer && buffer.byteLength > 0 ? buffer : undefined;
}

/**
 * ArrayBuffers a thread may hold beyond its decoded kernels before it collects them itself.
 * A task's buffers (the object's copy, its parse, the result) that outlive two scavenges are
 * freed only by a full collection, which V8 starts on its own once external memory has grown
 * by 64 MiB: under the embedded soak a thread held 27-40 MB of them, the decoded kernel being
 * 7 MB. Past this slack the thread runs a full collection after answering (a few ms on a heap
 * of ~10 MB, about once every 20 trims of a 785 KB object).
 */
const EXTERNAL_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * Whether a task's kernel stays decoded in the thread after it. One that does not (a bundle's
 * or an import's: `cacheKernel: false`, a kernel check) leaves its whole 5.5 MB kernel behind
 * every time, so the slack would start a full collection every third kernel: 4.4 of a bundle's
 * 19 ms per kernel (bench cold). Their buffers are left to V8's own trigger; the next task that
 * keeps its kernel collects them if they are still there.
 */
function keepsItsKernel(task: TaskMessage): boolean {
  return task.op !== 'check-kernel' && task.cacheKernel !== false;
}

let collections = 0;

/** A full collection on demand: V8's gc, taken from a context of its own (the flag is process-wide; only this thread calls it). */
const collectGarbage = ((): (() => void) => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** After a task, from the report just sent: past what it keeps (kernels, parsed objects) by the slack, a full collection. */
function collectIfHeld({ bytes, heap }: Required<CacheReport>): void {
  if (heap.external > bytes + executor.parsedObjectBytes() + EXTERNAL_SLACK_BYTES) {
    collectGarbage();
    collections++;
  }
}

/** What the thread holds, for the main thread's metrics: its decoded kernels and its heap (a few microseconds). */
function report(): Required<CacheReport> {
  const heap = getHeapStatistics();
  return {
    ...executor.decodedKernels(),
    heap: { used: heap.used_heap_size, total: heap.total_heap_size, external: heap.external_memory },
    collections,
  };
}

post({ type: 'ready', cache: report() });
