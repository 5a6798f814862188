/** The CLI's file I/O: reads with messages that name the file, and atomic writes. */
import { readFileSync } from 'node:fs';
import { writeFileAtomic as replaceFile } from '../storage/atomic-file.js';
import { CliError } from './errors.js';
import { readBpfObjectSync } from './object-file.js';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
};

/** A Node file-system error as "PATH: reason", the way Unix tools report them. */
export function fileError(path: string, err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err;
  return new CliError(`${path}: ${REASONS[code] ?? (err as Error).message}`, { cause: err });
}

/**
 * Reads a whole input file. Synchronously, on purpose: a CLI command reads its inputs one
 * after the other with nothing else to do meanwhile, and one read(2) of the whole file is
 * several times faster than fs/promises' 512 KiB chunks through the thread pool (a corpus of
 * a hundred objects spent more time waiting on those than trimming).
 */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fileError(path, err);
  }
}

/** A BPF object for the codec: the ELF parts it parses (object-file.ts). */
export async function readObjectFile(path: string): Promise<Uint8Array> {
  try {
    return readBpfObjectSync(path);
  } catch (err) {
    throw fileError(path, err);
  }
}

/**
 * Writes `data` to a temporary file beside `path`, flushes it, then renames it over
 * `path`: readers see the old file or the whole new one, never a partial write.
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  try {
    await replaceFile(path, data);
  } catch (err) {
    throw fileError(path, err);
  }
}
