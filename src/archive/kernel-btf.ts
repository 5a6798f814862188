/**
 * Kernel BTF as people hand it to us: raw BTF (`/sys/kernel/btf/vmlinux`, a BTFHub `.btf`),
 * an ELF with a `.BTF` section (a vmlinux), or a BTFHub archive: `<kernel>.btf.tar.xz`, an
 * xz-compressed tar holding one `<kernel>.btf`. Told apart by magic, not by file name.
 */
import { isRawBtf } from '../btf/btf.js';
import { isElf } from '../btf/elf.js';
import { ArchiveError } from './errors.js';
import { readTarEntries, safeEntryPath, type TarEntry } from './tar.js';
import { writeSingleFileTar } from './tar-write.js';
import { compressXz, decompressXz, isXz, type XzOptions } from './xz.js';

/** Kernel BTF is 2-15 MiB; far above that, an archive is not what it claims to be. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024;

let processMaxUncompressedBytes = DEFAULT_MAX_UNCOMPRESSED_BYTES;

/**
 * Sets the bound every `readKernelBtfFile` call of this process uses when it passes none:
 * `btfhub serve` and `btfhub worker` set BTFHUB_MAX_DECOMPRESSED_BYTES here at start, so
 * archives read anywhere (trims, kernel uploads, imports, bundles) share the configured bound.
 */
export function setMaxUncompressedBytes(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`decompression bound must be a positive integer, got ${bytes}`);
  processMaxUncompressedBytes = bytes;
}

export interface ReadKernelBtfOptions extends XzOptions {
  /** Bound on the decompressed tar; ArchiveError('LIMIT') beyond it. Default: `setMaxUncompressedBytes`'s, 256 MiB unless set. */
  maxUncompressedBytes?: number;
}

/**
 * The raw BTF or ELF bytes inside `bytes`, ready for `Btf.parse`. `nameHint` (a file
 * name) only serves error messages and, when an archive holds several `.btf` files,
 * picks the one named like the archive.
 */
export async function readKernelBtfFile(bytes: Uint8Array, nameHint = 'input', options: ReadKernelBtfOptions = {}): Promise<Uint8Array> {
  if (isRawBtf(bytes) || isElf(bytes)) return bytes;
  if (isXz(bytes)) {
    const maxOutputBytes = options.maxUncompressedBytes ?? processMaxUncompressedBytes;
    const tar = await decompressXz(bytes, { maxOutputBytes, xzPath: options.xzPath }).catch((err: unknown) => {
      throw withContext(err, nameHint);
    });
    return btfFromTar(tar, nameHint);
  }
  if (isTar(bytes)) return btfFromTar(bytes, nameHint);
  throw new ArchiveError('FORMAT', `${nameHint}: not raw BTF, an ELF file with .BTF, or a .btf.tar.xz archive`);
}

/**
 * A BTFHub archive for `kernel` (a release such as `5.15.0-91-generic`, or a file name
 * ending in `.btf`): xz-compressed tar holding `<kernel>.btf`. `btf` must be raw BTF,
 * which is what BTFHub ships.
 */
export async function makeBtfTarXz(kernel: string, btf: Uint8Array, options: XzOptions = {}): Promise<Uint8Array> {
  if (kernel === '' || kernel.includes('/') || kernel === '.' || kernel === '..') {
    throw new ArchiveError('FORMAT', `'${kernel}' is not a kernel release usable as a file name`);
  }
  if (!isRawBtf(btf)) throw new ArchiveError('FORMAT', `${kernel}: BTFHub archives hold raw BTF (magic 0xEB9F)`);
  const entryName = kernel.endsWith('.btf') ? kernel : `${kernel}.btf`;
  return compressXz(writeSingleFileTar(entryName, btf), options);
}

/** ustar and GNU tar both put "ustar" at offset 257. */
function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 512 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar';
}

function btfFromTar(tar: Uint8Array, nameHint: string): Uint8Array {
  let entries: TarEntry[];
  try {
    entries = [...readTarEntries(tar)];
  } catch (err) {
    throw withContext(err, nameHint);
  }
  const entry = pickBtfEntry(entries, nameHint);
  const path = safeEntryPath(entry);
  if (!isRawBtf(entry.data) && !isElf(entry.data)) {
    throw new ArchiveError('FORMAT', `${nameHint}: '${path}' is neither raw BTF nor an ELF file`);
  }
  return entry.data;
}

/** The one regular `*.btf` file; with several, the one named like the archive. */
function pickBtfEntry(entries: TarEntry[], nameHint: string): TarEntry {
  const candidates = entries.filter((e) => e.type === 'file' && e.name.endsWith('.btf'));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    const names = entries.map((e) => e.name).slice(0, 5);
    throw new ArchiveError('FORMAT', `${nameHint}: archive holds no .btf file (entries: ${names.join(', ') || 'none'})`);
  }
  const wanted = baseName(nameHint).replace(/\.tar\.xz$|\.tar$/, '');
  const named = candidates.filter((e) => baseName(e.name) === wanted);
  if (named.length === 1) return named[0]!;
  const names = candidates.map((e) => e.name).slice(0, 5);
  throw new ArchiveError('FORMAT', `${nameHint}: archive holds ${candidates.length} .btf files (${names.join(', ')}); expected one`);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Prefix an archive error with the file it came from. */
function withContext(err: unknown, nameHint: string): unknown {
  if (err instanceof ArchiveError) return new ArchiveError(err.code, `${nameHint}: ${err.message}`, { cause: err });
  return err;
}
