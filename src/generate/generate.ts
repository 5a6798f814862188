/**
 * `generateKernelBtf`: kernel BTF for a kernel no archive has, from its debug vmlinux or the
 * distribution's debug package, the way BTFHub's maintainers make it by hand (download the
 * debug package, extract vmlinux, run pahole), as one bounded call. Its result carries what
 * the service records as provenance; a failure is a GenerateError whose code and reason a
 * `.failed` marker can hold.
 *
 * Steps: hash the input; find and extract the vmlinux (extract.ts); check it has DWARF;
 * run pahole with the flags of its version (pahole.ts); decode the BTF with our codec and
 * check the core kernel types (verify.ts). The work directory is removed whatever happens.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Compression } from './decompress.js';
import { hasDwarf, readElfSections } from './elf-sections.js';
import { GenerateError } from './errors.js';
import { extractVmlinux, type ExtractionLimits, type PackageFormat, type PackageIdentity } from './extract.js';
import { detectPaholeVersion, paholeFlags, runPahole, type BtfEncodingOptions } from './pahole.js';
import { checkKernelBtf, type KernelBtfChecker } from './verify.js';

export interface GenerationLimits extends ExtractionLimits {
  /** Wall-clock time pahole may run before it is killed. */
  paholeTimeoutMs: number;
  /** Address space pahole may map; unbounded when unset (the service sets BTFHUB_GENERATE_MEMORY_BYTES). */
  paholeMemoryBytes?: number;
}

const GiB = 1024 * 1024 * 1024;

/**
 * Sized for the largest debug packages distributions ship: an Ubuntu linux-image-unsigned
 * dbgsym .ddeb is ~1.2 GB compressed and ~6 GB of data (module debug files before the
 * vmlinux); a vmlinux with DWARF is 300-900 MB. pahole needs ~1-3 minutes and a few GB of
 * memory for the largest. See docs/GENERATE.md.
 */
export const DEFAULT_GENERATION_LIMITS: Readonly<GenerationLimits> = Object.freeze({
  maxInputBytes: 4 * GiB,
  maxExtractedBytes: 16 * GiB,
  maxVmlinuxBytes: 2 * GiB,
  extractTimeoutMs: 20 * 60_000,
  paholeTimeoutMs: 20 * 60_000,
});

export type GeneratePhase = 'hash' | 'extract' | 'dwarf' | 'pahole' | 'verify';

export interface GenerateProgress {
  phase: GeneratePhase;
  /** One line for people. */
  message: string;
}

export interface GenerateKernelBtfInput {
  /** A vmlinux ELF with DWARF, a .deb/.ddeb or an RPM debug package. */
  file: string;
  /** The kernel release expected; must agree with the release the vmlinux's path names. */
  kernel?: string;
  /** SHA256 of `file` when already known (a verified download): skips hashing it again. */
  sha256?: string;
  /** Where the file came from (a repository URL), recorded as is. */
  url?: string;
}

export interface GenerateKernelBtfOptions extends BtfEncodingOptions {
  limits?: Partial<GenerationLimits>;
  /** Parent of the temporary work directory; the system's by default. */
  tmpDir?: string;
  paholePath?: string;
  xzPath?: string;
  zstdPath?: string;
  signal?: AbortSignal;
  onProgress?: (event: GenerateProgress) => void;
  /** The clock for timestamps; tests pass their own. */
  now?: () => Date;
  /** How pahole's BTF is checked (default `checkKernelBtf`, on this thread; the service's runs on its codec executor). */
  checkBtf?: KernelBtfChecker;
}

/** Where the BTF came from: what a catalog records as provenance. */
export interface GeneratedSource {
  /** The input's file name. */
  fileName: string;
  url?: string;
  format: PackageFormat;
  compression?: Compression;
  /** The package's own name, version and arch (packages only). */
  package?: PackageIdentity;
  /** The vmlinux's path inside the package (packages only). */
  entryPath?: string;
  bytes: number;
  sha256: string;
}

export interface GeneratedKernelBtf {
  release: string;
  /** Raw BTF, as pahole wrote it (and as BTFHub's `.btf` files are). */
  btf: Uint8Array;
  btfSha256: string;
  /** Types in the BTF, not counting void. */
  typeCount: number;
  source: GeneratedSource;
  vmlinuxBytes: number;
  pahole: {
    version: string;
    /** The encoding flags used (without the output file and the input). */
    flags: string[];
    durationMs: number;
    peakRssBytes?: number;
  };
  startedAt: string;
  finishedAt: string;
  extractMs: number;
}

/** Makes raw kernel BTF from `input.file`; see the module comment. */
export async function generateKernelBtf(
  input: GenerateKernelBtfInput,
  options: GenerateKernelBtfOptions = {},
): Promise<GeneratedKernelBtf> {
  const now = options.now ?? (() => new Date());
  const limits: GenerationLimits = { ...DEFAULT_GENERATION_LIMITS, ...options.limits };
  const progress = options.onProgress ?? (() => {});
  const fileName = basename(input.file);
  const startedAt = now();

  // Checked first: a missing or too old pahole should not cost a gigabyte of extraction.
  const version = await detectPaholeVersion(options.paholePath);
  const flags = paholeFlags(version, options);

  let sha256 = input.sha256;
  if (sha256 === undefined) {
    progress({ phase: 'hash', message: `hashing ${fileName}` });
    sha256 = await sha256File(input.file, options.signal).catch((err: unknown) => {
      throw fileError(err, input.file);
    });
  }

  const workDir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'btfhub-generate-'));
  try {
    progress({ phase: 'extract', message: `looking for the vmlinux in ${fileName}` });
    const extractStart = performance.now();
    const extracted = await extractVmlinux(input.file, workDir, {
      limits,
      ...(input.kernel !== undefined ? { kernel: input.kernel } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.xzPath ? { xzPath: options.xzPath } : {}),
      ...(options.zstdPath ? { zstdPath: options.zstdPath } : {}),
    }).catch((err: unknown) => {
      throw fileError(err, input.file);
    });
    const extractMs = Math.round(performance.now() - extractStart);
    const shown = extracted.entryPath ?? fileName;
    if (extracted.format !== 'vmlinux') {
      progress({ phase: 'extract', message: `extracted ${extracted.entryPath} (${extracted.vmlinuxBytes} bytes) in ${extractMs} ms` });
    }

    progress({ phase: 'dwarf', message: `checking ${shown} for DWARF` });
    const sections = await readElfSections(extracted.path, shown).catch((err: unknown) => {
      throw err instanceof GenerateError && err.code === 'NOT_A_PACKAGE'
        ? new GenerateError('NO_VMLINUX', `${shown} is not an ELF file`, { cause: err })
        : err;
    });
    if (!hasDwarf(sections)) {
      throw new GenerateError(
        'NO_DWARF',
        `${shown} has no DWARF (no .debug_info section): it is a stripped kernel image, not the debug vmlinux`,
      );
    }

    progress({
      phase: 'pahole',
      message: `running pahole ${version.text} ${flags.join(' ')} on ${shown} (${extracted.vmlinuxBytes} bytes)`,
    });
    const run = await runPahole(extracted.path, join(workDir, `${extracted.release}.btf`), {
      flags,
      timeoutMs: limits.paholeTimeoutMs,
      ...(limits.paholeMemoryBytes !== undefined ? { maxMemoryBytes: limits.paholeMemoryBytes } : {}),
      ...(options.paholePath ? { paholePath: options.paholePath } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });

    progress({ phase: 'verify', message: `checking the BTF (${run.btf.length} bytes)` });
    const what = `${extracted.release}.btf`;
    const summary = options.checkBtf ? await options.checkBtf(run.btf, what) : checkKernelBtf(run.btf, what);
    return {
      release: extracted.release,
      btf: run.btf,
      btfSha256: createHash('sha256').update(run.btf).digest('hex'),
      typeCount: summary.typeCount,
      source: {
        fileName,
        ...(input.url !== undefined ? { url: input.url } : {}),
        format: extracted.format,
        ...(extracted.compression ? { compression: extracted.compression } : {}),
        ...(extracted.package ? { package: extracted.package } : {}),
        ...(extracted.entryPath ? { entryPath: extracted.entryPath } : {}),
        bytes: (await stat(input.file)).size,
        sha256,
      },
      vmlinuxBytes: extracted.vmlinuxBytes,
      pahole: {
        version: version.text,
        flags,
        durationMs: run.durationMs,
        ...(run.peakRssBytes !== undefined ? { peakRssBytes: run.peakRssBytes } : {}),
      },
      startedAt: startedAt.toISOString(),
      finishedAt: now().toISOString(),
      extractMs,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const FILE_ERRORS: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'is a directory', EACCES: 'permission denied' };

/** A missing or unreadable input as a GenerateError naming it; other errors unchanged. */
function fileError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const reason = code === undefined ? undefined : FILE_ERRORS[code];
  return reason === undefined ? err : new GenerateError('INPUT', `${path}: ${reason}`, { cause: err });
}
