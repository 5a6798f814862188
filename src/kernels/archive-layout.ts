/**
 * The BTFHub archive layout (keys parsed as the registry parses them), read from any
 * ObjectStore (a btfhub-archive checkout on disk, an S3 mirror):
 *
 *   <distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz   a kernel's BTF, as BTFHub ships it
 *   <distro>/<distro_version>/<arch>/<kernel>.btf          the same, uncompressed
 *   <distro>/<distro_version>/<arch>/<kernel>.failed       marker: BTFHub could not make this kernel's BTF
 *   <distro>/<distro_version>/<arch>/<kernel>.hasbtf       marker: the kernel ships its own BTF
 *
 * Each key is mapped to a normalized identity (src/identity), so a release reached through
 * an alias directory (`ubuntu/focal -> 20.04`) names the same kernel as the real one. The
 * filesystem store lists a symlinked directory once; an S3 mirror may hold both copies, so a
 * second key for an identity already seen is reported as a duplicate, not listed again.
 */
import type { KernelFilter, KernelMarker, KernelRef } from '../catalog/catalog.js';
import type { KernelBtfFormat } from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import { SERVICE_PREFIXES } from '../storage/keys.js';
import { MARKER_SUFFIXES, parseKernelKey } from './registry.js';

export type { KernelMarker } from '../catalog/catalog.js';

export interface ArchiveKernelFile {
  type: 'kernel';
  key: string;
  ref: KernelRef;
  format: KernelBtfFormat;
  size: number;
  modified?: Date;
}

export interface ArchiveMarker {
  type: 'marker';
  key: string;
  ref: KernelRef;
  marker: KernelMarker;
  size: number;
  modified?: Date;
}

/** A key that is not a kernel of the layout, with why (README.md, a bad identity, a duplicate). */
export interface ArchiveSkipped {
  type: 'skipped';
  key: string;
  reason: string;
  /** True for a key in the layout whose identity is invalid: worth reporting, unlike a README. */
  invalid: boolean;
}

export type ArchiveEntry = ArchiveKernelFile | ArchiveMarker | ArchiveSkipped;

/**
 * What one key of a store is in the layout (`parseKernelKey` of the registry, markers read
 * the same way). `info` gives size and mtime.
 */
export function parseArchiveKey(info: ObjectInfo): ArchiveKernelFile | ArchiveMarker | ArchiveSkipped {
  const { key } = info;
  if (SERVICE_PREFIXES.some((prefix) => key.startsWith(prefix)) || key.split('/').some((s) => s.startsWith('.'))) {
    return { type: 'skipped', key, reason: 'not part of the archive (a service prefix or a hidden file)', invalid: false };
  }
  const stats = { size: info.size, ...(info.modified ? { modified: info.modified } : {}) };
  const markerSuffix = MARKER_SUFFIXES.find((suffix) => key.endsWith(suffix));
  const parsed = parseKernelKey(markerSuffix === undefined ? key : `${key.slice(0, -markerSuffix.length)}.btf`);
  if (parsed === null) return { type: 'skipped', key, reason: 'not a kernel file (.btf.tar.xz, .btf, .failed, .hasbtf)', invalid: false };
  if (!parsed.ok) return { type: 'skipped', key, reason: parsed.reason, invalid: true };
  if (markerSuffix !== undefined) return { type: 'marker', key, ref: parsed.ref, marker: markerSuffix.slice(1) as KernelMarker, ...stats };
  return { type: 'kernel', key, ref: parsed.ref, format: parsed.format, ...stats };
}

/** "ubuntu/20.04/x86_64/5.4.0-42-generic": a kernel as people and messages name it. */
export function kernelLabel(ref: KernelRef): string {
  return `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`;
}

function matchesFilter(ref: KernelRef, filter: KernelFilter): boolean {
  return (
    (filter.distro === undefined || ref.distro === filter.distro) &&
    (filter.distroVersion === undefined || ref.distroVersion === filter.distroVersion) &&
    (filter.arch === undefined || ref.arch === filter.arch) &&
    (filter.kernelPrefix === undefined || ref.kernel.startsWith(filter.kernelPrefix))
  );
}

export interface ScanOptions {
  /** Only kernels (and markers) matching this; skipped keys are reported whatever the filter. */
  filter?: KernelFilter;
}

/**
 * Every entry of the layout in `store`, in key order. A kernel or marker whose identity was
 * already listed (an alias copy, or `.btf` beside `.btf.tar.xz`) comes out as skipped with
 * the key it duplicates.
 */
export async function* scanArchive(store: ObjectStore, options: ScanOptions = {}): AsyncIterable<ArchiveEntry> {
  const filter = options.filter ?? {};
  // Distro directories are never aliases, so the listing can start there; releases can be.
  const prefix = filter.distro !== undefined ? `${filter.distro}/` : '';
  const seen = new Map<string, string>();
  for await (const info of store.list(prefix)) {
    const entry = parseArchiveKey(info);
    if (entry.type === 'skipped') {
      yield entry;
      continue;
    }
    if (!matchesFilter(entry.ref, filter)) continue;
    const identity = `${entry.type}:${kernelLabel(entry.ref)}`;
    const first = seen.get(identity);
    if (first !== undefined) {
      yield { type: 'skipped', key: entry.key, reason: `same kernel as ${first}`, invalid: false };
      continue;
    }
    seen.set(identity, entry.key);
    yield entry;
  }
}
