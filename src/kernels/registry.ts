/**
 * Registering kernels: what puts a kernel's full BTF in the catalog, so trim jobs can find
 * it. Two sources:
 *
 * - `registerKernelsFromStore`: every kernel file already in an object store laid out like
 *   the BTFHub archive (`<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz`, or `.btf`),
 *   e.g. a btfhub-archive checkout or a bucket synced from it. `btfhub import` builds on it.
 * - `registerHostKernel`: the BTF of the machine the service runs on
 *   (/sys/kernel/btf/vmlinux), copied into the store first, by content.
 *
 * A file is registered only once it decodes: an archive that is not xz, a tar without a
 * `.btf`, a truncated blob are reported with their key and the reason, never registered.
 * Re-running is cheap and safe: a file whose key and sha256 the catalog already has is not
 * decoded again, and the catalog's upsert says whether anything changed. BTFHub's marker
 * files (`.failed`, `.hasbtf`) are recorded per kernel in the catalog, not registered.
 *
 * For `btfhub import` (src/kernels/import.ts) two options go further:
 * - `resume`: what was found at each key is remembered in the catalog (`imported_files`,
 *   per store description), so a later run, or an interrupted one started again, skips the
 *   files whose size and mtime are unchanged without reading them at all;
 * - `copyTo`: each valid file is copied into another store (the service's own) under its
 *   content key (`kernel-files/<sha256>.<format>`, as admin uploads are) and registered
 *   there, so every worker can read it.
 *
 * Copies (and the host kernel) are written by content first, beside whatever the catalog's
 * row names, never over it; the row then switches to the new content in one upsert. A crash
 * between the two leaves the old kernel whole (the new content is an orphan `btfhub verify
 * --repair` removes), and a trim job queued for the old content still finds it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { machine, release } from 'node:os';
import type { Logger } from 'pino';
import { ArchiveError, readKernelBtfFile } from '../archive/index.js';
import { Btf, CodecError } from '../btf/index.js';
import type { Catalog, ImportedFileRecord, KernelMarker, KernelRef, UpsertOutcome } from '../catalog/catalog.js';
import { hostIdentityFromOsRelease, IdentityError, normalizeKernelRef } from '../identity/index.js';
// keys.js and object-store.js, not storage/index.js: that one loads the S3 backend (the AWS SDK),
// which the CLI's archive commands (compat, bundle) reading this module never need.
import { putContentAddressed } from '../storage/content-addressed.js';
import {
  isKernelContentKey,
  kernelContentKey,
  kernelFileFormat,
  kernelKey,
  SERVICE_PREFIXES,
  type KernelBtfFormat,
} from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { keepUnpacked } from './unpacked-copy.js';

/** BTFHub marks kernels it could not get BTF for (`.failed`) or that ship their own (`.hasbtf`). */
export const MARKER_SUFFIXES = ['.failed', '.hasbtf'] as const;

/** Kernel file suffixes, longest first so `.btf.tar.xz` is not taken for `.btf`. */
const KERNEL_SUFFIXES: ReadonlyArray<readonly [string, KernelBtfFormat]> = [
  ['.btf.tar.xz', 'btf.tar.xz'],
  ['.btf', 'btf'],
];

export type RegistrationOutcome = UpsertOutcome | 'invalid' | 'alias';

/**
 * Decodes a kernel's unpacked BTF (raw BTF or an ELF with .BTF) whole, as registering needs:
 * null when it is usable kernel BTF, else the reason it is not. Throws only for failures that
 * are not the file's. The service passes one that runs on its codec executor's threads (a
 * hostile file in an archive never blocks its event loop); `checkKernelBtfInline` is the
 * default, for the CLI.
 */
export type KernelBtfCheck = (raw: Uint8Array, key: string) => Promise<string | null>;

/** The KernelBtfCheck on this thread (`btfhub import`, tests). */
export const checkKernelBtfInline: KernelBtfCheck = async (raw) => {
  try {
    return Btf.parse(raw).typeCount <= 1 ? NO_TYPES : null;
  } catch (error) {
    if (error instanceof CodecError) return error.message;
    throw error;
  }
};

/** Why a BTF of only `void` is not registered. */
export const NO_TYPES = 'the BTF holds no types';

export interface RegistrationProgress {
  key: string;
  outcome: RegistrationOutcome;
  /** The normalized identity (not for layout errors). */
  ref?: KernelRef;
  /** Why the file is invalid, or which key it is an alias of. */
  reason?: string;
  /** Kernel files handled so far, this one included, and how many there are. */
  done: number;
  total: number;
}

export interface RegistrationSummary {
  added: number;
  unchanged: number;
  updated: number;
  /** Kernel files not registered: bad layout, bad identity, or not decodable. */
  invalid: Array<{ key: string; reason: string }>;
  /** `.failed` / `.hasbtf` marker files (recorded in the catalog's kernel markers). */
  markers: number;
  /** Files whose identity normalizes to one already registered in this run (a release alias). */
  aliases: number;
  /** Other keys: the service's own prefixes, hidden files, anything not a kernel file. */
  ignored: number;
  /** With `resume`: files not read at all, since size and mtime match the last run. */
  unread: number;
  /** With `copyTo`: files written to that store (those already there, same bytes, are not). */
  copied: number;
  /**
   * Kernels the service was given itself (an admin upload, a generated kernel: stored under a
   * `kernel-files/` content key) that this store also has: the service's own copy is kept and
   * the store's is not registered over it, on every run.
   */
  kept: number;
}

export interface RegisterKernelsOptions {
  logger?: Logger;
  onProgress?: (progress: RegistrationProgress) => void;
  /** Only keys under this prefix (e.g. `ubuntu/`); default the whole store. */
  prefix?: string;
  /** Files read and decoded at once. Default 4. */
  concurrency?: number;
  /** Remember each key's size, mtime, sha256 and outcome in the catalog; skip unchanged files on later runs. */
  resume?: boolean;
  /** Copy each valid kernel file into this store, same key, and register it there (default: register in place). */
  copyTo?: ObjectStore;
  /** How each new or changed file is decoded (default `checkKernelBtfInline`). */
  checkKernel?: KernelBtfCheck;
  /**
   * Keep the unpacked BTF of each new or changed `.btf.tar.xz` here as its unpacked copy
   * (`keepUnpacked`, the copy trims, compat reports and bundles read): the file is unpacked to
   * be checked anyway, and xz is most of a kernel's load, so even the first trim on it skips
   * xz. Costs the raw BTF's size in this store (about 5x the `.btf.tar.xz`). Default: none,
   * the copy is then made on first use.
   */
  unpackedCopies?: ObjectStore;
}

/** The identity and format a BTFHub-layout key names, or why it does not name one. */
export type ParsedKernelKey = { ok: true; ref: KernelRef; format: KernelBtfFormat } | { ok: false; reason: string };

/**
 * Reads `<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz` (or `.btf`) and normalizes
 * the identity (ubuntu/focal → ubuntu/20.04, aarch64 → arm64). Null when the key is not a
 * kernel file at all.
 */
export function parseKernelKey(key: string): ParsedKernelKey | null {
  const file = key.slice(key.lastIndexOf('/') + 1);
  const suffix = KERNEL_SUFFIXES.find(([s]) => file.endsWith(s));
  if (suffix === undefined) return null;
  const segments = key.split('/');
  if (segments.length !== 4) {
    return { ok: false, reason: 'not in the <distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz layout' };
  }
  const [distro, distroVersion, arch] = segments as [string, string, string, string];
  const kernel = file.slice(0, -suffix[0].length);
  try {
    return { ok: true, ref: normalizeKernelRef({ distro, distroVersion, arch, kernel }), format: suffix[1] };
  } catch (error) {
    if (error instanceof IdentityError) return { ok: false, reason: error.message };
    throw error;
  }
}

/**
 * Registers every kernel file of `store` in `catalog` (see the module comment). Storage and
 * catalog failures abort the walk; a bad file only lands in `invalid`.
 */
export async function registerKernelsFromStore(
  store: ObjectStore,
  catalog: Catalog,
  options: RegisterKernelsOptions = {},
): Promise<RegistrationSummary> {
  const { logger, onProgress } = options;
  const summary: RegistrationSummary = {
    added: 0,
    unchanged: 0,
    updated: 0,
    invalid: [],
    markers: 0,
    aliases: 0,
    ignored: 0,
    unread: 0,
    copied: 0,
    kept: 0,
  };
  const work: Array<{ key: string; ref: KernelRef; info: ObjectInfo }> = [];
  const markers: Array<{ key: string; ref: KernelRef; marker: KernelMarker; info: ObjectInfo }> = [];
  const layoutErrors: Array<{ key: string; reason: string; ref?: KernelRef }> = [];
  const aliases: Array<{ key: string; ref: KernelRef; of: string }> = [];
  const firstKey = new Map<string, string>();

  for await (const info of store.list(options.prefix ?? '')) {
    const { key } = info;
    if (SERVICE_PREFIXES.some((prefix) => key.startsWith(prefix)) || key.split('/').some((s) => s.startsWith('.'))) {
      summary.ignored++;
      continue;
    }
    const markerSuffix = MARKER_SUFFIXES.find((suffix) => key.endsWith(suffix));
    if (markerSuffix !== undefined) {
      // A marker names a kernel like its .btf would: parse it as one for the identity.
      const parsed = parseKernelKey(`${key.slice(0, -markerSuffix.length)}.btf`);
      if (parsed?.ok) {
        summary.markers++;
        markers.push({ key, ref: parsed.ref, marker: markerSuffix.slice(1) as KernelMarker, info });
      } else {
        layoutErrors.push({ key, reason: parsed?.reason ?? 'not a marker file' });
      }
      continue;
    }
    const parsed = parseKernelKey(key);
    if (parsed === null) {
      summary.ignored++;
    } else if (!parsed.ok) {
      layoutErrors.push({ key, reason: parsed.reason });
    } else {
      // Listing is in key order, so the first of several spellings of one kernel wins, every run.
      const id = refId(parsed.ref);
      const of = firstKey.get(id);
      if (of === undefined) {
        firstKey.set(id, key);
        work.push({ key, ref: parsed.ref, info });
      } else {
        aliases.push({ key, ref: parsed.ref, of });
      }
    }
  }

  const total = work.length + layoutErrors.length + aliases.length;
  let done = 0;
  const report = (progress: Omit<RegistrationProgress, 'done' | 'total'>) => {
    done++;
    onProgress?.({ ...progress, done, total });
  };
  for (const error of layoutErrors) {
    summary.invalid.push({ key: error.key, reason: error.reason });
    logger?.warn({ key: error.key, reason: error.reason }, 'kernel file not registered');
    report({ key: error.key, outcome: 'invalid', reason: error.reason });
  }
  for (const alias of aliases) {
    summary.aliases++;
    logger?.debug({ key: alias.key, of: alias.of }, 'same kernel as an earlier key; not registered twice');
    report({ key: alias.key, outcome: 'alias', ref: alias.ref, reason: `same kernel as ${alias.of}` });
  }

  const ledger = options.resume ? new ImportLedger(catalog, store.description, await catalog.listImportedFiles(store.description)) : null;
  for (const m of markers) {
    if (ledger?.unchanged(m.info)?.status === 'marker') continue; // recorded by an earlier run
    await catalog.recordKernelMarker({ ...m.ref, marker: m.marker, storageKey: m.key });
    await ledger?.record(m.info, { status: 'marker', sha256: null, reason: null });
  }

  const concurrency = Math.max(1, options.concurrency ?? 4);
  let next = 0;
  const lane = async () => {
    while (next < work.length) {
      const { key, ref, info } = work[next++]!;
      const outcome = await registerOne(store, catalog, key, ref, {
        info,
        ledger,
        copyTo: options.copyTo,
        checkKernel: options.checkKernel ?? checkKernelBtfInline,
        unpackedCopies: options.unpackedCopies,
      });
      if (outcome.kind !== 'gone' && outcome.kind !== 'kept' && outcome.unread) summary.unread++;
      if (outcome.kind === 'registered' && outcome.copied) summary.copied++;
      if (outcome.kind === 'kept') {
        summary.kept++;
        logger?.info({ key, kernel: ref, kept: outcome.storageKey }, 'kernel uploaded or generated for the service kept over this copy');
        report({ key, outcome: 'unchanged', ref, reason: `the service's own ${outcome.storageKey} is kept` });
      } else if (outcome.kind === 'invalid') {
        summary.invalid.push({ key, reason: outcome.reason });
        logger?.warn({ key, reason: outcome.reason }, 'kernel file not registered');
        report({ key, outcome: 'invalid', ref, reason: outcome.reason });
      } else if (outcome.kind === 'registered') {
        summary[outcome.outcome]++;
        if (outcome.outcome !== 'unchanged') logger?.info({ key, kernel: ref, outcome: outcome.outcome }, 'kernel registered');
        report({ key, outcome: outcome.outcome, ref });
      }
      // 'gone': deleted since it was listed; nothing to report.
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, work.length)) }, lane));
  summary.invalid.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  logger?.info(
    {
      added: summary.added,
      unchanged: summary.unchanged,
      updated: summary.updated,
      invalid: summary.invalid.length,
      markers: summary.markers,
      aliases: summary.aliases,
      ignored: summary.ignored,
      unread: summary.unread,
      copied: summary.copied,
      kept: summary.kept,
    },
    'kernel registration done',
  );
  return summary;
}

type OneOutcome =
  | { kind: 'registered'; outcome: UpsertOutcome; unread?: boolean; copied?: boolean }
  | { kind: 'kept'; storageKey: string; unread?: boolean }
  | { kind: 'invalid'; reason: string; unread?: boolean }
  | { kind: 'gone' };

interface OneOptions {
  info: ObjectInfo;
  ledger: ImportLedger | null;
  copyTo: ObjectStore | undefined;
  checkKernel: KernelBtfCheck;
  unpackedCopies: ObjectStore | undefined;
}

async function registerOne(store: ObjectStore, catalog: Catalog, key: string, ref: KernelRef, options: OneOptions): Promise<OneOutcome> {
  const { info, ledger, copyTo, checkKernel, unpackedCopies } = options;
  const existing = await catalog.getKernel(ref);
  // What an admin uploaded or the service generated wins over an archive's copy (explicit
  // precedence, docs/ARCHITECTURE.md "Kernel precedence"): never registered over it. A content
  // key this very source key was copied to by an earlier import is the import's own, updated.
  if (
    existing !== null &&
    isKernelContentKey(existing.storageKey) &&
    !(copyTo !== undefined && ledger?.importedSha256(key) === existing.sha256)
  )
    return { kind: 'kept', storageKey: existing.storageKey, unread: true };
  const format = kernelFileFormat(key);
  /** Where the catalog row may point for this file: the key itself, or (copying) its content key; older imports copied to the key. */
  const ownKey = (sha256: string, where: string) => where === key || (copyTo !== undefined && where === kernelContentKey(sha256, format));
  const known = ledger?.unchanged(info);
  if (known?.status === 'invalid') return { kind: 'invalid', reason: known.reason ?? 'invalid', unread: true };
  if (
    known?.status === 'kernel' &&
    existing !== null &&
    existing.sha256 === known.sha256 &&
    existing.size === info.size &&
    ownKey(existing.sha256, existing.storageKey) &&
    (copyTo === undefined || (await copyTo.head(existing.storageKey))?.size === info.size)
  ) {
    return { kind: 'registered', outcome: 'unchanged', unread: true };
  }
  const bytes = await store.get(key);
  if (bytes === null) return { kind: 'gone' };
  const sha256 = sha256Hex(bytes);
  const stats = { ...info, size: bytes.length };
  // Decoded when it was registered, and the same bytes still: nothing to check again (a
  // copy missing or damaged in the target is written again, the same bytes at the same key).
  if (existing !== null && existing.sha256 === sha256 && existing.size === bytes.length && ownKey(sha256, existing.storageKey)) {
    const copied = copyTo !== undefined && (await putContentAddressed(copyTo, existing.storageKey, bytes, 'kernel')) !== 'present';
    await ledger?.record(stats, { status: 'kernel', sha256, reason: null });
    return { kind: 'registered', outcome: 'unchanged', copied };
  }
  const checked = await checkKernelFile(bytes, key, checkKernel);
  if ('reason' in checked) {
    const { reason } = checked;
    await ledger?.record(stats, { status: 'invalid', sha256, reason });
    return { kind: 'invalid', reason };
  }
  // Before the row: a trim that finds the new row finds its copy too.
  if (unpackedCopies !== undefined && format === 'btf.tar.xz')
    await keepUnpacked(catalog, unpackedCopies, { sha256, kernel: ref.kernel }, checked.raw);
  // Content first, under its own sha256 (never over the bytes the row names), then the row
  // switches to it in one upsert.
  const storageKey = copyTo === undefined ? key : kernelContentKey(sha256, format);
  const copied = copyTo !== undefined && (await putContentAddressed(copyTo, storageKey, bytes, 'kernel')) !== 'present';
  const outcome = await catalog.upsertKernel({ ...ref, storageKey, size: bytes.length, sha256 });
  await ledger?.record(stats, { status: 'kernel', sha256, reason: null });
  return { kind: 'registered', outcome, copied };
}

/**
 * What import found at each key of one source, kept in the catalog between runs. A key is
 * unchanged when its listed size and mtime equal the recorded ones (a source without mtimes
 * never is, so its files are always read).
 */
class ImportLedger {
  private readonly byKey: Map<string, ImportedFileRecord>;

  constructor(
    private readonly catalog: Catalog,
    private readonly source: string,
    records: readonly ImportedFileRecord[],
  ) {
    this.byKey = new Map(records.map((r) => [r.key, r]));
  }

  /** The sha256 of the kernel file this source had at `key` when an earlier run read it, if any. */
  importedSha256(key: string): string | undefined {
    const known = this.byKey.get(key);
    return known?.status === 'kernel' ? (known.sha256 ?? undefined) : undefined;
  }

  unchanged(info: ObjectInfo): ImportedFileRecord | undefined {
    const known = this.byKey.get(info.key);
    if (known === undefined || known.size !== info.size || known.modified === null || info.modified === undefined) return undefined;
    return known.modified.getTime() === info.modified.getTime() ? known : undefined;
  }

  async record(info: ObjectInfo, outcome: Pick<ImportedFileRecord, 'status' | 'sha256' | 'reason'>): Promise<void> {
    await this.catalog.recordImportedFile({
      source: this.source,
      key: info.key,
      size: info.size,
      modified: info.modified ?? null,
      ...outcome,
    });
  }
}

/** The unpacked BTF of `bytes` (a BTFHub file) when it unpacks and passes `check`, else the reason it does not. */
async function checkKernelFile(bytes: Uint8Array, key: string, check: KernelBtfCheck): Promise<{ raw: Uint8Array } | { reason: string }> {
  let raw: Uint8Array;
  try {
    raw = await readKernelBtfFile(bytes, key);
  } catch (error) {
    if (error instanceof ArchiveError) return { reason: error.message };
    throw error;
  }
  const reason = await check(raw, key);
  return reason === null ? { raw } : { reason };
}

export interface RegisterHostKernelOptions {
  /** Default /sys/kernel/btf/vmlinux. */
  btfPath?: string;
  /** Default /etc/os-release, then /usr/lib/os-release (os-release(5)). */
  osReleasePath?: string;
  /** `uname -r`; default os.release(). */
  unameRelease?: string;
  /** `uname -m`; default os.machine(). */
  unameMachine?: string;
  logger?: Logger;
}

export interface HostKernelRegistration {
  ref: KernelRef;
  storageKey: string;
  /** The catalog's answer. */
  outcome: UpsertOutcome;
  /** Whether the BTF was written to the store (false when the same bytes were there). */
  stored: boolean;
  /** How the identity was found (see hostIdentityFromOsRelease). */
  source: 'os-release' | 'kernel-release';
  notes: string[];
}

/**
 * Registers the running kernel: its BTF is validated, stored by content as
 * `kernel-files/<sha256>.btf` (unless those bytes are already there; never over the file the
 * catalog's row names, which has another sha256), and the row switched to it in one upsert.
 * Registered after the archive at every start, it wins over an archive copy of its identity. Throws a CodecError when the BTF does not decode, an
 * IdentityError when the distribution cannot be determined.
 */
export async function registerHostKernel(
  store: ObjectStore,
  catalog: Catalog,
  options: RegisterHostKernelOptions = {},
): Promise<HostKernelRegistration> {
  const btfPath = options.btfPath ?? '/sys/kernel/btf/vmlinux';
  const bytes = new Uint8Array(await readFile(btfPath));
  try {
    Btf.parse(bytes);
  } catch (error) {
    if (error instanceof CodecError) throw new CodecError(error.code, `${btfPath}: ${error.message}`, { cause: error });
    throw error;
  }
  const osRelease = await readOsRelease(options.osReleasePath);
  const identity = hostIdentityFromOsRelease({
    osRelease,
    unameRelease: options.unameRelease ?? release(),
    unameMachine: options.unameMachine ?? machine(),
  });
  const { ref } = identity;
  kernelKey(ref, 'btf'); // throws unless each identity field is one key segment, as for any kernel
  const sha256 = sha256Hex(bytes);
  const storageKey = kernelContentKey(sha256, 'btf');
  const stored = (await putContentAddressed(store, storageKey, bytes, 'kernel')) !== 'present';
  const outcome = await catalog.upsertKernel({ ...ref, storageKey, size: bytes.length, sha256 });
  options.logger?.info({ kernel: ref, storageKey, outcome, stored, notes: identity.notes }, 'host kernel registered');
  return { ref, storageKey, outcome, stored, source: identity.source, notes: identity.notes };
}

/** os-release text, or null when there is none; an explicit path is the only one tried. */
async function readOsRelease(path: string | undefined): Promise<string | null> {
  const candidates = path === undefined ? ['/etc/os-release', '/usr/lib/os-release'] : [path];
  for (const candidate of candidates) {
    try {
      return await readFile(candidate, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return null;
}

function refId(ref: KernelRef): string {
  return `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
