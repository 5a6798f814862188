/**
 * ObjectStore over a directory tree. Keys map one to one onto relative paths, so a
 * btfhub-archive checkout is readable as is, and the trimmed results the service writes are
 * plain files an operator can inspect.
 *
 * Two properties the rest of the service relies on:
 *  - put is atomic: the data goes to a temporary file in the target directory, is fsynced, then
 *    renamed over the key. Readers see the old object or the whole new one.
 *  - no key ever reaches outside the root: keys are validated (no '..'), and every path is
 *    resolved with realpath and checked against the real root, so a symlink pointing elsewhere
 *    is refused (INVALID_KEY) or, in a listing, skipped. A symlink created between the check
 *    and the use can still race it; the root is trusted not to be hostile, only its contents.
 *
 * The BTFHub archive aliases releases with symlinked directories (ubuntu/focal -> 20.04).
 * `list` follows them, but lists each real directory once: under its real name when the real
 * directory is itself part of the listing, else under the first alias in key order.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import {
  copyFile,
  type FileHandle,
  constants as fsConstants,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { replaceFileVia } from './atomic-file.js';
import { StorageError } from './errors.js';
import { assertValidKey, assertValidPrefix, compareKeys } from './keys.js';
import type { Allocate, ObjectInfo, ObjectStore, PutTiming, SweepSummary } from './object-store.js';

/** Temporary files of in-flight puts start with this; list hides them and keys may not use it. */
const TEMP_FILE_MARK = '.btfhub-tmp-';

/** A directory still to be read by `list`: where it is on disk and which key prefix it stands for. */
interface PendingDirectory {
  /** Path as reached from the root (may run through symlinks). */
  path: string;
  /** Its canonical path, used to list an aliased directory once. */
  realPath: string;
  /** Key of the directory, with a trailing '/' ('' for the root). */
  keyPrefix: string;
}

export class FsObjectStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;
  private realRootCache: string | undefined;
  /**
   * Directories `put` has prepared (created, checked inside the root), by path: every put of
   * a new trim writes to the same two (objects/, trimmed/), and preparing one is five
   * filesystem calls. A cached directory that is gone (removed by hand) is prepared again.
   */
  private readonly prepared = new Map<string, string>();

  constructor(rootDir: string) {
    this.root = resolve(rootDir);
    this.description = `fs:${this.root}`;
  }

  async get(key: string): Promise<Uint8Array | null> {
    assertValidKey(key);
    const path = await this.resolveExisting(key);
    if (path === null) return null;
    try {
      return await readFile(path);
    } catch (error) {
      if (isMissing(error) || errorCode(error) === 'EISDIR') return null;
      throw unavailable(`read ${key}`, error);
    }
  }

  async getInto(key: string, allocate: Allocate): Promise<Uint8Array | null> {
    assertValidKey(key);
    const path = await this.resolveExisting(key);
    if (path === null) return null;
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw unavailable(`read ${key}`, error);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) return null;
      const bytes = allocate(stats.size);
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      // Puts replace files whole (rename), so the size read is the file's; a file changed in
      // place under the read (by hand) is read again the ordinary way, whole, rather than cut.
      const more = await handle.read(new Uint8Array(1), 0, 1, filled);
      if (filled < bytes.length || more.bytesRead > 0) return await readFile(path);
      return bytes;
    } catch (error) {
      throw unavailable(`read ${key}`, error);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const path = await this.resolveExisting(key);
    if (path === null) return null;
    try {
      const stats = await stat(path);
      return stats.isFile() ? { key, size: stats.size, modified: stats.mtime } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw unavailable(`stat ${key}`, error);
    }
  }

  async put(key: string, data: Uint8Array, timing?: PutTiming): Promise<void> {
    assertValidKey(key);
    if (key.split('/').some((segment) => segment.startsWith(TEMP_FILE_MARK))) {
      throw new StorageError('INVALID_KEY', `invalid object key ${JSON.stringify(key)}: "${TEMP_FILE_MARK}" is reserved`);
    }
    const wanted = dirname(join(this.root, key));
    const cached = this.prepared.get(wanted);
    let directory = cached ?? (await this.prepareDirectory(wanted, key));
    // The directory is opened for its fsync while the data is written, not after the rename:
    // each step here waits on libuv's thread pool, and under load each wait costs more than
    // the call itself (~0.5 ms a step in `npm run bench -- api`).
    let opening = openDirectory(directory);
    try {
      await replaceFileVia(this.temporaryIn(directory), join(directory, basename(key)), data, timing);
    } catch (error) {
      closeDirectory(opening);
      // A prepared directory removed since (by hand, or pruned): prepared again, written again.
      if (cached === undefined || !isMissing(error)) throw writeFailure(key, error);
      this.prepared.delete(wanted);
      directory = await this.prepareDirectory(wanted, key);
      opening = openDirectory(directory);
      await replaceFileVia(this.temporaryIn(directory), join(directory, basename(key)), data, timing).catch((again: unknown) => {
        closeDirectory(opening);
        throw writeFailure(key, again);
      });
    }
    // Bounded: the archive layout has a directory per distro release and arch.
    if (this.prepared.size >= 256) this.prepared.clear();
    this.prepared.set(wanted, directory);
    const syncing = timing === undefined ? 0 : performance.now();
    await syncOpenedDirectory(opening);
    if (timing !== undefined) timing.syncMs += performance.now() - syncing;
  }

  /** A temporary name in `directory`; the writer's pid in it: a start-up sweep removes only what dead writers left. */
  private temporaryIn(directory: string): string {
    return join(directory, `${TEMP_FILE_MARK}${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /** A copy to a temporary file beside the target (the kernel does the streaming), renamed over it. */
  async putFile(key: string, path: string): Promise<void> {
    assertValidKey(key);
    if (key.split('/').some((segment) => segment.startsWith(TEMP_FILE_MARK))) {
      throw new StorageError('INVALID_KEY', `invalid object key ${JSON.stringify(key)}: "${TEMP_FILE_MARK}" is reserved`);
    }
    const directory = await this.prepareDirectory(dirname(join(this.root, key)), key);
    const temporary = join(directory, `${TEMP_FILE_MARK}${randomBytes(8).toString('hex')}`);
    const opening = openDirectory(directory);
    try {
      await copyFile(path, temporary, fsConstants.COPYFILE_EXCL);
      await rename(temporary, join(directory, basename(key)));
    } catch (error) {
      closeDirectory(opening);
      await unlink(temporary).catch(() => undefined);
      throw unavailable(`write ${key} from ${path}`, error);
    }
    await syncOpenedDirectory(opening);
  }

  async getFile(key: string, path: string): Promise<boolean> {
    assertValidKey(key);
    const source = await this.resolveExisting(key);
    if (source === null) return false;
    try {
      await copyFile(source, path, fsConstants.COPYFILE_EXCL);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw unavailable(`read ${key} into ${path}`, error);
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const parent = await this.resolveExisting(dirname(key) === '.' ? '' : dirname(key));
    if (parent === null) return;
    try {
      await unlink(join(parent, basename(key)));
    } catch (error) {
      // A directory at the key is not an object, so there is nothing to delete.
      if (isMissing(error) || errorCode(error) === 'EISDIR' || errorCode(error) === 'EPERM') return;
      throw unavailable(`delete ${key}`, error);
    }
  }

  /**
   * Collects the whole listing, then yields it sorted: a sorted directory walk alone is not
   * key order ('a.txt' sorts before 'a/b'), and aliases are resolved only once every real
   * directory has been seen.
   */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const realRoot = await this.realRoot();
    if (realRoot === null) return;
    const startKey = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const start = await this.resolveExisting(startKey);
    if (start === null) return;

    const objects: ObjectInfo[] = [];
    const visited = new Set<string>();
    const aliases: PendingDirectory[] = [];
    const pending: PendingDirectory[] = [{ path: join(this.root, startKey), realPath: start, keyPrefix: startKey }];
    for (;;) {
      let next = pending.pop();
      if (next === undefined) {
        // Real directories first, so an alias is only followed when its target was not listed.
        aliases.sort((a, b) => compareKeys(a.keyPrefix, b.keyPrefix));
        next = aliases.shift();
        if (next === undefined) break;
      }
      if (visited.has(next.realPath)) continue;
      visited.add(next.realPath);
      await this.readDirectory(next, prefix, realRoot, objects, pending, aliases);
    }
    objects.sort((a, b) => compareKeys(a.key, b.key));
    yield* objects;
  }

  /** Root must be a readable directory; a missing root is NOT_FOUND so a typo in a path is obvious. */
  async check(): Promise<void> {
    try {
      const stats = await stat(this.root);
      if (!stats.isDirectory()) throw new StorageError('UNAVAILABLE', `${this.description}: not a directory`);
      await readdir(this.root);
    } catch (error) {
      if (error instanceof StorageError) throw error;
      if (isMissing(error)) {
        throw new StorageError('NOT_FOUND', `${this.description}: directory does not exist`, { cause: error });
      }
      throw unavailable('check', error, this.description);
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /** Reads one directory of a listing: files matching the prefix become objects, directories are queued. */
  private async readDirectory(
    directory: PendingDirectory,
    prefix: string,
    realRoot: string,
    objects: ObjectInfo[],
    pending: PendingDirectory[],
    aliases: PendingDirectory[],
  ): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(directory.path, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw unavailable(`list ${directory.keyPrefix}`, error, this.description);
    }
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.name.startsWith(TEMP_FILE_MARK)) return;
        const key = directory.keyPrefix + entry.name;
        const path = join(directory.path, entry.name);
        const childPrefix = `${key}/`;
        if (entry.isDirectory()) {
          if (!couldContain(childPrefix, prefix)) return;
          pending.push({ path, realPath: join(directory.realPath, entry.name), keyPrefix: childPrefix });
        } else if (entry.isFile()) {
          if (!key.startsWith(prefix)) return;
          const info = await statObject(path, key);
          if (info !== null) objects.push(info);
        } else if (entry.isSymbolicLink()) {
          const target = await realpath(path).catch(() => null);
          if (target === null || !isInside(realRoot, target)) return; // dangling, or escapes the root
          const stats = await stat(target).catch(() => null);
          if (stats?.isDirectory()) {
            // A link to an ancestor only repeats the tree above it, endlessly: never follow one.
            if (isInside(target, directory.realPath)) return;
            if (couldContain(childPrefix, prefix)) aliases.push({ path, realPath: target, keyPrefix: childPrefix });
          } else if (stats?.isFile() && key.startsWith(prefix)) {
            objects.push({ key, size: stats.size, modified: stats.mtime });
          }
        }
      }),
    );
  }

  /** The root's canonical path, or null while the root does not exist. */
  private async realRoot(): Promise<string | null> {
    if (this.realRootCache === undefined) {
      try {
        this.realRootCache = await realpath(this.root);
      } catch (error) {
        if (isMissing(error)) return null;
        throw unavailable('resolve root', error, this.description);
      }
    }
    return this.realRootCache;
  }

  /**
   * Canonical path of `key` ('' for the root), or null when it does not exist. Throws
   * INVALID_KEY when a symlink on the way leads outside the root.
   */
  private async resolveExisting(key: string): Promise<string | null> {
    const realRoot = await this.realRoot();
    if (realRoot === null) return null;
    let path: string;
    try {
      path = await realpath(join(this.root, key));
    } catch (error) {
      if (isMissing(error)) return null;
      throw unavailable(`resolve ${key}`, error, this.description);
    }
    if (!isInside(realRoot, path)) {
      throw new StorageError('INVALID_KEY', `object key ${JSON.stringify(key)} resolves outside ${this.description}`);
    }
    return path;
  }

  /**
   * Creates `directory` (and the root) as needed and returns its canonical path. The nearest
   * existing ancestor is checked first, so mkdir never runs through a symlink leading outside.
   */
  private async prepareDirectory(directory: string, key: string): Promise<string> {
    try {
      await mkdir(this.root, { recursive: true });
    } catch (error) {
      throw unavailable('create root', error, this.description);
    }
    try {
      let existing = directory;
      while (!(await exists(existing))) existing = dirname(existing);
      const realRoot = (await this.realRoot()) ?? this.root;
      if (!isInside(realRoot, await realpath(existing))) {
        throw new StorageError('INVALID_KEY', `object key ${JSON.stringify(key)} resolves outside ${this.description}`);
      }
      await mkdir(directory, { recursive: true });
      return await realpath(directory);
    } catch (error) {
      if (error instanceof StorageError) throw error;
      if (errorCode(error) === 'ENOTDIR' || errorCode(error) === 'EEXIST') {
        throw new StorageError('INVALID_KEY', `cannot write ${key}: an object exists where a directory is needed`, {
          cause: error,
        });
      }
      throw unavailable(`write ${key}`, error, this.description);
    }
  }
}

/** Whether a directory with key prefix `directoryPrefix` may hold keys starting with `prefix`. */
function couldContain(directoryPrefix: string, prefix: string): boolean {
  return directoryPrefix.startsWith(prefix) || prefix.startsWith(directoryPrefix);
}

function isInside(realRoot: string, path: string): boolean {
  const rootWithSep = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  return path === realRoot || path.startsWith(rootWithSep);
}

async function statObject(path: string, key: string): Promise<ObjectInfo | null> {
  try {
    const stats = await stat(path);
    return stats.isFile() ? { key, size: stats.size, modified: stats.mtime } : null;
  } catch (error) {
    if (isMissing(error)) return null; // deleted while listing
    throw unavailable(`stat ${key}`, error);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** `directory` opened to be fsynced; undefined where it cannot be opened (syncing a directory is best effort). */
function openDirectory(directory: string): Promise<FileHandle | undefined> {
  return open(directory, 'r').catch(() => undefined);
}

/** Closes a directory `openDirectory` opened, in the background. */
function closeDirectory(opening: Promise<FileHandle | undefined>): void {
  void opening.then((handle) => handle?.close()).catch(() => undefined);
}

/**
 * Makes a rename durable: fsyncs the directory `openDirectory` opened (before the rename; the
 * fsync, after it, covers the directory's entries as they are when it runs), then closes it
 * in the background, the put being durable by then. Best effort: some filesystems refuse
 * fsync on a directory.
 */
async function syncOpenedDirectory(opening: Promise<FileHandle | undefined>): Promise<void> {
  const handle = await opening;
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // The data itself is already synced; only the rename's durability is at stake.
  }
  handle.close().catch(() => undefined);
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** No such path: absent, under a file, or a symlink loop (which can hold no object either). */
/** A failed write of `key` as the store's error. */
function writeFailure(key: string, error: unknown): StorageError {
  if (errorCode(error) === 'EISDIR' || errorCode(error) === 'ENOTEMPTY') {
    return new StorageError('INVALID_KEY', `cannot write ${key}: a directory exists at that key`, { cause: error });
  }
  return unavailable(`write ${key}`, error);
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

function unavailable(operation: string, cause: unknown, where?: string): StorageError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new StorageError('UNAVAILABLE', `${where ? `${where}: ` : ''}${operation}: ${reason}`, { cause });
}

export type { SweepSummary } from './object-store.js';

/** A temporary file of a writer still alive is left alone unless it is this old. */
const LIVE_WRITER_TEMP_MAX_AGE_MS = 3_600_000;

/**
 * Removes the temporary files of puts that never finished (a killed process leaves its
 * `.btfhub-tmp-<pid>-<random>` behind) under `root`: those of writers no longer running, and
 * any older than an hour. Symlinks are not followed. Never throws for one file it cannot remove.
 */
export async function sweepTemporaryFiles(root: string, now = Date.now()): Promise<SweepSummary> {
  const summary: SweepSummary = { files: 0, bytes: 0 };
  const pending = [resolve(root)];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile() && entry.name.startsWith(TEMP_FILE_MARK)) {
        const stats = await stat(path).catch(() => null);
        if (stats === null) continue;
        const pid = Number(/^(\d+)-/.exec(entry.name.slice(TEMP_FILE_MARK.length))?.[1] ?? NaN);
        const writerAlive = Number.isSafeInteger(pid) && (pid === process.pid || isAlive(pid));
        if (writerAlive && now - stats.mtimeMs < LIVE_WRITER_TEMP_MAX_AGE_MS) continue;
        if (!Number.isSafeInteger(pid) && now - stats.mtimeMs < 60_000) continue; // an older writer's name, maybe in flight
        if (
          await unlink(path).then(
            () => true,
            () => false,
          )
        ) {
          summary.files++;
          summary.bytes += stats.size;
        }
      }
    }
  }
  return summary;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}
