/**
 * How many codec threads a process runs when BTFHUB_CODEC_THREADS is not set.
 *
 * One core is left to the event loop, which receives and hashes uploads, answers cached
 * requests and writes results; at most two threads, because every task for one kernel goes
 * to the same thread (its decode is made once), so more threads help only when trims spread
 * over many kernels at once. On a two-core machine that is one thread: a second one there
 * only competes with the event loop for the same two cores, and under `npm run soak --
 * --dist --embedded` it held ~55 MB more (its own heap and malloc arena) for the same new
 * trims per second, since they were all for one kernel (docs/CONFIGURATION.md).
 */
import { availableParallelism } from 'node:os';

export function defaultCodecThreads(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(2, cores - 1));
}
