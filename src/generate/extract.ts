/**
 * Finds the debug vmlinux in what a user or a repository hands us and puts it where pahole
 * can read it: a bare vmlinux ELF is used in place; a Debian/Ubuntu package (ar archive
 * with `data.tar[.gz|.xz|.zst]`) or an RPM (cpio payload, compressed as its header says) is
 * streamed, entry by entry, and only the vmlinux is written, into `workDir`.
 *
 * Bounds (ExtractionLimits): the input's size, the decompressed bytes streamed (a package
 * whose data expands without end is stopped, not extracted), the size of the vmlinux
 * written, and the time the whole extraction may take. Other entries are never written.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { readTarEntries } from '../archive/index.js';
import { normalizeKernelRelease } from '../identity/kernel-identity.js';
import { isAr, readArMembers } from './ar.js';
import { ByteReader } from './byte-reader.js';
import { readCpioStream } from './cpio.js';
import { decompressChunks, sniffCompression, type Compression } from './decompress.js';
import { isElfHead } from './elf-sections.js';
import { GenerateError } from './errors.js';
import { isRpm, readRpmHeaders } from './rpm.js';
import { readTarStream } from './tar-stream.js';
import { normalizeEntryPath, releaseFromFileName, releaseFromVmlinuxPath } from './vmlinux-path.js';

export type PackageFormat = 'vmlinux' | 'deb' | 'rpm';

export interface ExtractionLimits {
  /** The input file (package or vmlinux), in bytes. */
  maxInputBytes: number;
  /** Decompressed bytes streamed through the package's payload, skipped entries included. */
  maxExtractedBytes: number;
  /** The vmlinux written to the work directory. */
  maxVmlinuxBytes: number;
  /** Wall-clock time for the whole extraction. */
  extractTimeoutMs: number;
}

/** What a package says it is: for provenance. */
export interface PackageIdentity {
  name: string;
  version: string;
  arch: string;
}

export interface ExtractedVmlinux {
  /** The vmlinux to hand pahole: the input itself when it is one, else a file in workDir. */
  path: string;
  release: string;
  format: PackageFormat;
  /** How the package's payload was compressed (packages only). */
  compression?: Compression;
  /** The vmlinux's path inside the package (packages only). */
  entryPath?: string;
  package?: PackageIdentity;
  vmlinuxBytes: number;
}

export interface ExtractOptions {
  limits: ExtractionLimits;
  /** The release the caller expects; the vmlinux's path must name the same one. */
  kernel?: string;
  signal?: AbortSignal;
  xzPath?: string;
  zstdPath?: string;
}

/** Control files of a .deb are a few KiB. */
const MAX_CONTROL_BYTES = 16 * 1024 * 1024;

/** The release given by a user, checked: a GenerateError('BAD_RELEASE') when unusable as a name. */
export function checkedRelease(kernel: string): string {
  try {
    return normalizeKernelRelease(kernel);
  } catch (err) {
    throw new GenerateError('BAD_RELEASE', `kernel release '${kernel}' ${(err as Error).message.replace(/^kernel_version:?\s*/, '')}`, {
      cause: err,
    });
  }
}

/** Finds the vmlinux in `file` and (for packages) extracts it into `workDir`. */
export async function extractVmlinux(file: string, workDir: string, options: ExtractOptions): Promise<ExtractedVmlinux> {
  const what = basename(file);
  const kernel = options.kernel === undefined ? undefined : checkedRelease(options.kernel);
  const size = (await stat(file)).size;
  if (size > options.limits.maxInputBytes) {
    throw new GenerateError('LIMIT', `${what}: ${size} bytes is more than the input bound of ${options.limits.maxInputBytes} bytes`);
  }
  const head = await readHead(file, 8);
  if (isElfHead(head)) return bareVmlinux(file, size, kernel);
  const format: PackageFormat | undefined = isAr(head) ? 'deb' : isRpm(head) ? 'rpm' : undefined;
  if (format === undefined) {
    throw new GenerateError('NOT_A_PACKAGE', `${what}: not a vmlinux ELF, a .deb/.ddeb or an RPM package (${describeHead(head)})`);
  }

  const timeout = new AbortController();
  const timer = setTimeout(() => {
    timeout.abort(new GenerateError('TIMEOUT', `${what}: extraction ran longer than its bound of ${options.limits.extractTimeoutMs} ms`));
  }, options.limits.extractTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
  const reader = new ByteReader(createReadStream(file, { signal, highWaterMark: 1 << 20 }), what);
  const search = new VmlinuxSearch(what, workDir, kernel, options.limits);
  try {
    if (format === 'deb') return await extractFromDeb(reader, search, options, signal);
    return await extractFromRpm(reader, search, options, signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    await reader.close();
  }
}

function bareVmlinux(file: string, size: number, kernel: string | undefined): ExtractedVmlinux {
  const named = releaseFromFileName(file);
  if (kernel !== undefined && named !== undefined && named !== kernel) {
    throw new GenerateError('RELEASE_MISMATCH', `${basename(file)} is named for kernel ${named}, not for --kernel ${kernel}`);
  }
  const release = kernel ?? named;
  if (release === undefined) {
    throw new GenerateError(
      'BAD_RELEASE',
      `cannot tell the kernel release of '${basename(file)}' from its name (vmlinux-RELEASE): give it with --kernel RELEASE`,
    );
  }
  return { path: file, release, format: 'vmlinux', vmlinuxBytes: size };
}

async function extractFromDeb(
  reader: ByteReader,
  search: VmlinuxSearch,
  options: ExtractOptions,
  signal: AbortSignal,
): Promise<ExtractedVmlinux> {
  let index = 0;
  let identity: PackageIdentity | undefined;
  for await (const member of readArMembers(reader)) {
    if (index++ === 0 && member.name !== 'debian-binary') {
      throw new GenerateError(
        'NOT_A_PACKAGE',
        `${reader.what}: an ar archive but not a Debian package (first member '${member.name}', expected 'debian-binary')`,
      );
    }
    const control = /^control\.tar(\.(?:gz|xz|zst))?$/.exec(member.name);
    if (control && member.size <= MAX_CONTROL_BYTES) {
      const compression = compressionOfSuffix(control[1] ?? '', member.name, reader.what);
      identity = await readControl(reader, member.size, compression, `${reader.what}: ${member.name}`, options, signal);
      continue;
    }
    const data = /^data\.tar(\.[a-z0-9]+)?$/.exec(member.name);
    if (!data) continue;
    const compression = compressionOfSuffix(data[1] ?? '', member.name, reader.what);
    const where = `${reader.what}: ${member.name}`;
    const payload = new ByteReader(
      decompressChunks(compression, reader.slice(member.size, `ar member '${member.name}'`), decompressOptions(options, signal, where)),
      where,
    );
    try {
      for await (const entry of readTarStream(payload)) {
        if (entry.type !== 'file') continue;
        if (await search.offer(entry.name, entry.size, payload)) {
          return { ...search.result('deb', compression), ...(identity ? { package: identity } : {}) };
        }
      }
    } finally {
      await payload.close();
    }
    throw search.notFound();
  }
  throw new GenerateError('NOT_A_PACKAGE', `${reader.what}: a Debian package without a data.tar member`);
}

async function extractFromRpm(
  reader: ByteReader,
  search: VmlinuxSearch,
  options: ExtractOptions,
  signal: AbortSignal,
): Promise<ExtractedVmlinux> {
  const header = await readRpmHeaders(reader);
  if (header.payloadFormat !== 'cpio') {
    throw new GenerateError('UNSUPPORTED', `${reader.what}: RPM payload format '${header.payloadFormat}' is not supported (cpio expected)`);
  }
  const compression = await rpmCompression(reader, header.payloadCompressor);
  const where = `${reader.what}: payload`;
  const payload = new ByteReader(decompressChunks(compression, reader.rest(), decompressOptions(options, signal, where)), where);
  try {
    for await (const entry of readCpioStream(payload)) {
      if (entry.type !== 'file') continue;
      if (await search.offer(entry.name, entry.size, payload)) {
        return {
          ...search.result('rpm', compression),
          package: { name: header.name, version: `${header.version}-${header.release}`, arch: header.arch },
        };
      }
    }
  } finally {
    await payload.close();
  }
  throw search.notFound();
}

/** The payload's compression from PAYLOADCOMPRESSOR, checked against the payload's first bytes. */
async function rpmCompression(reader: ByteReader, compressor: string): Promise<Compression> {
  const head = await reader.peek(6);
  const sniffed = sniffCompression(head);
  const uncompressed = new TextDecoder('latin1').decode(head.subarray(0, 5)) === '07070';
  const named: Record<string, Compression | undefined> = { gzip: 'gzip', xz: 'xz', zstd: 'zstd' };
  const compression = named[compressor];
  if (compression === undefined) {
    if (uncompressed) return 'none';
    throw new GenerateError(
      'UNSUPPORTED',
      `${reader.what}: RPM payload compressor '${compressor}' is not supported (gzip, xz, zstd or none)`,
    );
  }
  // rpmbuild's w0.ufdio writes no compression but leaves the tag (or its gzip default).
  if (uncompressed) return 'none';
  if (sniffed !== compression) {
    throw new GenerateError(
      'CORRUPT',
      `${reader.what}: the RPM header says the payload is ${compressor}, but it does not start like ${compressor} data (${describeHead(head)})`,
    );
  }
  return compression;
}

function compressionOfSuffix(suffix: string, member: string, what: string): Compression {
  switch (suffix) {
    case '':
      return 'none';
    case '.gz':
      return 'gzip';
    case '.xz':
      return 'xz';
    case '.zst':
      return 'zstd';
    default:
      throw new GenerateError(
        'UNSUPPORTED',
        `${what}: member '${member}' is compressed in a way this reader does not support (gzip, xz, zstd or none)`,
      );
  }
}

function decompressOptions(options: ExtractOptions, signal: AbortSignal, what: string) {
  return {
    maxOutputBytes: options.limits.maxExtractedBytes,
    signal,
    what,
    ...(options.xzPath ? { xzPath: options.xzPath } : {}),
    ...(options.zstdPath ? { zstdPath: options.zstdPath } : {}),
  };
}

/** Package, Version and Architecture from a .deb's control.tar member. */
async function readControl(
  reader: ByteReader,
  size: number,
  compression: Compression,
  where: string,
  options: ExtractOptions,
  signal: AbortSignal,
): Promise<PackageIdentity | undefined> {
  const chunks: Uint8Array[] = [];
  const bounded = { ...decompressOptions(options, signal, where), maxOutputBytes: MAX_CONTROL_BYTES };
  for await (const chunk of decompressChunks(compression, reader.slice(size, where), bounded)) chunks.push(chunk);
  const tar = Buffer.concat(chunks);
  let control: Uint8Array | undefined;
  try {
    control = [...readTarEntries(tar)].find((e) => e.type === 'file' && normalizeEntryPath(e.name) === 'control')?.data;
  } catch (err) {
    throw new GenerateError('CORRUPT', `${where}: ${(err as Error).message}`, { cause: err });
  }
  if (!control) return undefined;
  const fields = new Map<string, string>();
  for (const line of new TextDecoder('utf-8').decode(control).split('\n')) {
    const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
  }
  return { name: fields.get('package') ?? '', version: fields.get('version') ?? '', arch: fields.get('architecture') ?? '' };
}

/** The state of a search through a package's entries for its vmlinux. */
class VmlinuxSearch {
  private found?: { entryPath: string; release: string; bytes: number; path: string };
  /** vmlinux entries for another release than the one asked. */
  private readonly otherReleases: string[] = [];
  private readonly debugPaths: string[] = [];
  private entries = 0;

  constructor(
    private readonly what: string,
    private readonly workDir: string,
    private readonly kernel: string | undefined,
    private readonly limits: ExtractionLimits,
  ) {}

  /** Looks at one regular file of the package; extracts it (and returns true) when it is the vmlinux. */
  async offer(name: string, size: number, payload: ByteReader): Promise<boolean> {
    this.entries++;
    const entryPath = `/${normalizeEntryPath(name)}`;
    const release = releaseFromVmlinuxPath(name);
    if (release === undefined) {
      if (entryPath.startsWith('/usr/lib/debug/') && this.debugPaths.length < 3) this.debugPaths.push(entryPath);
      return false;
    }
    if (this.kernel !== undefined && release !== this.kernel) {
      this.otherReleases.push(`${release} (${entryPath})`);
      return false;
    }
    if (size > this.limits.maxVmlinuxBytes) {
      throw new GenerateError(
        'LIMIT',
        `${this.what}: ${entryPath} is ${size} bytes, more than the vmlinux bound of ${this.limits.maxVmlinuxBytes} bytes`,
      );
    }
    const path = join(this.workDir, `vmlinux-${release}`);
    const out = createWriteStream(path, { flags: 'wx' });
    try {
      await payload.copyTo(size, out, entryPath);
    } finally {
      out.end();
      await finished(out).catch(() => {});
    }
    this.found = { entryPath, release, bytes: size, path };
    return true;
  }

  result(format: PackageFormat, compression: Compression): ExtractedVmlinux {
    const found = this.found!;
    return { path: found.path, release: found.release, format, compression, entryPath: found.entryPath, vmlinuxBytes: found.bytes };
  }

  notFound(): GenerateError {
    if (this.otherReleases.length > 0) {
      return new GenerateError(
        'RELEASE_MISMATCH',
        `${this.what}: the package holds a vmlinux for ${this.otherReleases.join(', ')}, not for --kernel ${this.kernel}`,
      );
    }
    const seen = this.debugPaths.length > 0 ? `; debug files seen: ${this.debugPaths.join(', ')}` : '';
    return new GenerateError(
      'NO_VMLINUX',
      `${this.what}: no vmlinux in the package (looked through ${this.entries} files for /usr/lib/debug/boot/vmlinux-REL, /usr/lib/debug/lib/modules/REL/vmlinux and /usr/lib/debug/boot/vmlinux-REL.debug${seen})`,
    );
  }
}

async function readHead(file: string, length: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const buffer = new Uint8Array(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function describeHead(head: Uint8Array): string {
  if (head.length === 0) return 'the file is empty';
  return `it starts with ${[...head].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}
