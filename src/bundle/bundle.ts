/**
 * Bundles: the trimmed BTF of some BPF objects for every kernel of a set, as the
 * `.tar.gz` of `<distro>/<distro_version>/<arch>/<kernel>.btf` an agent image ships as its
 * local lookup layer (libbpf-tools' btf_helpers.c and BTFHub's btfgen read this layout).
 * What BTFHub's btfgen script does with one `tar -xJf` and one `bpftool gen min_core_btf`
 * per kernel, in one process:
 *
 *  - each kernel is loaded and decoded once (`loadAhead` unpacks the next ones meanwhile),
 *    trimmed with the codec (byte-identical to bpftool), and, by default, verified as the
 *    worker verifies: every relocation gives the same outcome against the trimmed BTF as
 *    against the full one;
 *  - trimmed BTFs are content-addressed (sha256): identical results across kernels are
 *    counted once (`distinct`) and, given a store, kept there once as `trimmed/<sha256>.btf`;
 *  - the archive is streamed through gzip to the output, so memory holds a few kernels,
 *    not the bundle.
 *
 * A kernel that does not load, trim or verify is left out and listed in `failures`; the
 * bundle is still written. Callers decide whether failures are fatal.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import type { BpfObject } from '../btf/object.js';
import type { KernelRef } from '../catalog/catalog.js';
import {
  defaultLoadConcurrency,
  isKernelFileError,
  knownCount,
  loadAhead,
  loadRawKernel,
  type KernelInput,
  type KernelInputs,
  type ProgressCallback,
} from '../coverage/kernel-source.js';
import { trimmedKey } from '../storage/keys.js';
import type { Allocate, ObjectStore } from '../storage/object-store.js';
import { TarGzWriter } from './tar-gz.js';
import { TrimPool } from './trim-pool.js';
import { trimKernel, type BundleStage, type TrimOutcome } from './trim-task.js';

export type { BundleStage, TrimOutcome } from './trim-task.js';
export { TrimPool, type TrimPoolOptions } from './trim-pool.js';

/**
 * What trims a bundle's kernels off this thread: given a kernel's raw BTF (or ELF) it gives the
 * trimmed, verified BTF or the stage that failed. A TrimPool is one (the CLI's); the bundle
 * job adapts the service's CodecExecutor to it. Failures that are not the kernel's (the
 * objects', the trimmer's own) reject the promise and end the bundle.
 */
export interface KernelTrimmer {
  /** Trims it runs at once: the bundle keeps twice as many in flight. */
  readonly threads: number;
  trim(raw: Uint8Array, source: string, input: KernelInput): Promise<TrimOutcome>;
  /** Where the raw BTF it will be given is best read into (buffers it gives back, reused). Optional. */
  allocate?: Allocate;
}

export interface BundleOptions {
  onProgress?: ProgressCallback;
  /** Where the `.tar.gz` goes. Without it the archive is collected in memory and returned as `archive`. */
  output?: Writable;
  /** In-memory archives beyond this many bytes are refused (default 512 MiB). */
  maxArchiveBytes?: number;
  /** Re-resolve every relocation against each trimmed BTF, as the worker does (default true). */
  verify?: boolean;
  /** Keep each distinct trimmed BTF in this store as `trimmed/<sha256>.btf` (written once). */
  store?: ObjectStore;
  /** Kernel loads in flight ahead of the one being trimmed (default: one per core). */
  loadAhead?: number;
  /**
   * Worker threads decoding and trimming kernels; 1 (the default) does it in this thread.
   * Starting a thread costs about 50 ms (more under a TypeScript loader).
   */
  threads?: number;
  /**
   * Trims the kernels instead of this thread or an own TrimPool (a running pool for these
   * objects, or an executor's adapter); `threads` and `verify` are then the trimmer's, and
   * `objects` is not read (it may be empty).
   */
  trimmer?: KernelTrimmer;
  /** Kernels in `kernels`, for progress when it is not an array. */
  total?: number;
  /** gzip level (default 6). */
  gzipLevel?: number;
}

export interface BundleEntry {
  ref: KernelRef;
  /** Where the full BTF came from. */
  source: string;
  /** Path inside the archive: `<distro>/<distro_version>/<arch>/<kernel>.btf`. */
  path: string;
  sha256: string;
  size: number;
}

export interface BundleFailure {
  ref: KernelRef;
  source: string;
  stage: BundleStage;
  message: string;
}

export interface BundleResult {
  /** One per kernel in the archive, in input order. */
  entries: BundleEntry[];
  failures: BundleFailure[];
  /** Distinct trimmed BTFs among the entries. */
  distinct: number;
  bytes: {
    /** Sum of the entries' sizes (the archive's content). */
    trimmed: number;
    /** Sum of the distinct BTFs' sizes (what a content-addressed store holds). */
    distinct: number;
    /** The `.tar.gz` itself. */
    archive: number;
  };
  /** The `.tar.gz`, when no `output` was given. */
  archive?: Uint8Array;
  durationMs: number;
}

/** The archive path of a kernel's trimmed BTF. */
function bundlePath(ref: KernelRef): string {
  return `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}.btf`;
}

const DEFAULT_MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;

/** Trims `objects` for every kernel of `kernels` and writes the bundle (see the module comment). */
export async function buildBundle(
  kernels: KernelInputs,
  objects: readonly BpfObject[],
  options: BundleOptions = {},
): Promise<BundleResult> {
  const started = performance.now();
  const verify = options.verify ?? true;
  const total = options.total ?? knownCount(kernels);
  const threads = options.trimmer ? options.trimmer.threads : Math.max(1, options.threads ?? 1);
  const memory = options.output === undefined ? collect(options.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES) : undefined;
  const tar = new TarGzWriter(options.output ?? memory!.sink, { level: options.gzipLevel });
  const entries: BundleEntry[] = [];
  const failures: BundleFailure[] = [];
  const distinct = new Map<string, number>();
  const stored = new Set<string>();

  /** Writes one finished kernel: in input order, so equal inputs give equal archives. */
  const finish = async (input: KernelInput, outcome: TrimOutcome): Promise<void> => {
    if ('stage' in outcome) {
      failures.push({ ref: input.ref, source: input.source, stage: outcome.stage, message: outcome.message });
    } else {
      const { bytes, sha256 } = outcome;
      if (!distinct.has(sha256)) distinct.set(sha256, bytes.length);
      if (options.store && !stored.has(sha256)) {
        const key = trimmedKey(sha256);
        if ((await options.store.head(key)) === null) await options.store.put(key, bytes);
        stored.add(sha256);
      }
      const path = bundlePath(input.ref);
      await tar.add(path, bytes);
      entries.push({ ref: input.ref, source: input.source, path, sha256, size: bytes.length });
    }
    options.onProgress?.({ done: entries.length + failures.length, total, failed: failures.length, kernel: input.ref });
  };

  let ownPool: TrimPool | undefined;
  try {
    ownPool = options.trimmer === undefined && threads > 1 ? await TrimPool.start(objects, { threads, verify }) : undefined;
    const pool: KernelTrimmer | undefined = options.trimmer ?? ownPool;
    const ahead = options.loadAhead ?? defaultLoadConcurrency();
    if (pool) {
      // Kernels trimming on the pool ahead of the one being written, which keeps input order.
      const window: { input: KernelInput; outcome: Promise<TrimOutcome> }[] = [];
      for await (const { input, loaded } of loadAhead(kernels, ahead, (input) => loadRawKernel(input, pool.allocate))) {
        const outcome = loaded.then(
          (raw) => pool.trim(raw, input.source, input),
          (error: unknown): TrimOutcome => {
            if (isKernelFileError(error)) return { stage: 'load', message: error.message };
            throw error;
          },
        );
        outcome.catch(() => {});
        window.push({ input, outcome });
        while (window.length > pool.threads * 2) {
          const next = window.shift()!;
          await finish(next.input, await next.outcome);
        }
      }
      for (const next of window) await finish(next.input, await next.outcome);
    } else {
      for await (const { input, loaded } of loadAhead(kernels, ahead)) {
        let outcome: TrimOutcome;
        try {
          outcome = trimKernel(await loaded, objects, verify);
        } catch (error) {
          if (isKernelFileError(error)) outcome = { stage: 'load', message: error.message };
          else throw error;
        }
        await finish(input, outcome);
      }
    }
    await tar.finish();
  } catch (error) {
    tar.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  } finally {
    await ownPool?.close();
  }
  const archive = memory?.bytes();
  return {
    entries,
    failures,
    distinct: distinct.size,
    bytes: {
      trimmed: entries.reduce((n, e) => n + e.size, 0),
      distinct: [...distinct.values()].reduce((n, s) => n + s, 0),
      archive: tar.bytesWritten,
    },
    ...(archive ? { archive } : {}),
    durationMs: performance.now() - started,
  };
}

/** A sink collecting what it is given, refusing more than `limit` bytes. */
function collect(limit: number): { sink: Writable; bytes(): Uint8Array } {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      sink.destroy(new Error(`bundle archive exceeds ${limit} bytes; write it to a stream instead`));
      return;
    }
    chunks.push(chunk);
  });
  return { sink, bytes: () => new Uint8Array(Buffer.concat(chunks, size)) };
}

/**
 * `buildBundle` into the file `path`, atomically: the archive is streamed to a temporary
 * file beside it, flushed, then renamed over `path`. Nothing is left behind on failure.
 */
export async function writeBundleFile(
  path: string,
  kernels: KernelInputs,
  objects: readonly BpfObject[],
  options: Omit<BundleOptions, 'output'> = {},
): Promise<BundleResult> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const result = await buildBundle(kernels, objects, { ...options, output: createWriteStream(temp, { flags: 'wx', mode: 0o666 }) });
    // The stream has closed its descriptor by now; flush the data before the rename makes it visible.
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    return result;
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}
