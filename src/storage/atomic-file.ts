/**
 * Replacing a local file atomically: the data goes to a temporary file beside the target (same
 * directory, so the same filesystem), is flushed to disk, then renamed over the target.
 * Readers see the old file or the whole new one, never a partial write; a failed write leaves
 * no temporary file behind. The filesystem object store and the CLI's outputs both write this way.
 *
 * node:fs's callback API, not node:fs/promises (which loads Node's streams), and no node:crypto
 * for the temporary name: the CLI pays for every module it loads at start, for a write of a few
 * kilobytes. 'wx' refuses to reuse a name, so a random suffix from Math.random is enough.
 */
import { close, fsync, open, rename, unlink, write } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const fs = {
  open: promisify(open),
  write: (fd: number, data: Uint8Array, offset: number, length: number) =>
    new Promise<number>((resolve, reject) => write(fd, data, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)))),
  fsync: promisify(fsync),
  close: promisify(close),
  rename: promisify(rename),
  unlink: promisify(unlink),
};

/**
 * Writes `data` to `temporary` (which must not exist), flushes it, renames it to `target`.
 * Node's errors pass through. `timing.syncMs` gets the fsync's milliseconds added.
 */
export async function replaceFileVia(temporary: string, target: string, data: Uint8Array, timing?: { syncMs: number }): Promise<void> {
  try {
    const fd = await fs.open(temporary, 'wx', 0o666);
    try {
      for (let done = 0; done < data.length;) done += await fs.write(fd, data, done, data.length - done);
      const syncing = timing === undefined ? 0 : performance.now();
      await fs.fsync(fd);
      if (timing !== undefined) timing.syncMs += performance.now() - syncing;
    } catch (error) {
      await fs.close(fd).catch(() => undefined);
      throw error;
    }
    // The data is on disk: the file is renamed while its descriptor closes (POSIX renames an
    // open file), one wait on the thread pool instead of two. Both settle before either
    // outcome counts, so a failure below never races the rename.
    const [closed, renamed] = await Promise.allSettled([fs.close(fd), fs.rename(temporary, target)]);
    if (renamed.status === 'rejected') throw renamed.reason;
    if (closed.status === 'rejected') throw closed.reason;
  } catch (error) {
    await fs.unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** `replaceFileVia` with a hidden temporary name beside `path` (`.<name>.<pid>.<random>.tmp`). */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const suffix = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  await replaceFileVia(join(dirname(path), `.${basename(path)}.${process.pid}.${suffix}.tmp`), path, data);
}
