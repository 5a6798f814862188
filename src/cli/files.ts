/** The CLI's file I/O: reads with messages that name the file, and atomic writes. */
import { close, fsync, open, readFileSync, rename, unlink, write } from 'node:fs';
import { promisify } from 'node:util';
import { basename, dirname, join } from 'node:path';
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
  // Unique enough with the pid and a random suffix; 'wx' refuses to reuse a name anyway. (Not
  // node:crypto: loading it cost a CLI command more than writing its output.)
  const suffix = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${suffix}.tmp`);
  try {
    const fd = await fs.open(temp, 'wx', 0o666);
    try {
      for (let done = 0; done < data.length; ) done += await fs.write(fd, data, done, data.length - done, null);
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(temp, path);
  } catch (err) {
    await fs.unlink(temp).catch(() => {});
    throw fileError(path, err);
  }
}

/**
 * node:fs's callback API as promises. Not node:fs/promises: that module loads Node's streams,
 * a cost every CLI command would pay at start for a write of a few kilobytes.
 */
const fs = {
  open: promisify(open),
  write: (fd: number, data: Uint8Array, offset: number, length: number, position: number | null) =>
    new Promise<number>((resolve, reject) => write(fd, data, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))),
  fsync: promisify(fsync),
  close: promisify(close),
  rename: promisify(rename),
  unlink: promisify(unlink),
};
