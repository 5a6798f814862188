/**
 * How many codec threads a process runs when BTFHUB_CODEC_THREADS is not set.
 *
 * One core is left to the event loop, which receives and hashes uploads, answers cached
 * requests and writes results; at most two threads, each of which may end up holding a hot
 * kernel's decode (a busy kernel's trims spill to an idle thread). On a two-core machine
 * that is one thread: a second one there only competes with the event loop for the same two
 * cores, and under `npm run soak -- --dist --embedded` it held ~55 MB more (its own heap and
 * malloc arena) for the same new trims per second (docs/CONFIGURATION.md).
 */
import { availableParallelism } from 'node:os';

export function defaultCodecThreads(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(2, cores - 1));
}
