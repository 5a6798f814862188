/**
 * Replacing a local file atomically: the data goes to a temporary file beside the target (same
 * directory, so the same filesystem), is flushed to disk, then renamed over the target.
 * Readers see the old file or the whole new one, never a partial write; a failed write leaves
 * no temporary file behind. The filesystem object store and the CLI's outputs both write this way.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `data` to `temporary` (which must not exist), flushes it, renames it to `target`. Node's errors pass through. */
export async function replaceFileVia(temporary: string, target: string, data: Uint8Array): Promise<void> {
  try {
    const handle = await open(temporary, 'wx', 0o666);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** `replaceFileVia` with a hidden temporary name beside `path` (`.<name>.<pid>.<random>.tmp`). */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  await replaceFileVia(join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`), path, data);
}
