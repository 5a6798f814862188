/** Reading and writing BTFHub files: `.btf.tar.xz` archives of kernel BTF. */
export { ArchiveError, type ArchiveErrorCode } from './errors.js';
export { readTarEntries, safeEntryPath, unsafePathReason, TAR_BLOCK, type TarEntry, type TarEntryType } from './tar.js';
export { writeSingleFileTar, type TarFileOptions } from './tar-write.js';
export { compressXz, decompressXz, isXz, XZ_MAGIC, type DecompressOptions, type XzOptions } from './xz.js';
export { decompressGzip, isGzip, GZIP_MAGIC } from './gzip.js';
export {
  DEFAULT_MAX_UNCOMPRESSED_BYTES,
  makeBtfTarXz,
  readKernelBtfFile,
  setMaxUncompressedBytes,
  type ReadKernelBtfOptions,
} from './kernel-btf.js';
