/**
 * A registered kernel's full BTF, as raw BTF or as a BTFHub `.btf.tar.xz`, whichever way it
 * is stored: an archive is unpacked for a raw download, a raw blob packed for an archive
 * one. A conversion costs seconds of xz for a 5 MiB BTF, so its output is kept in the store
 * under its derived key (`derivedKernelKey`: by the stored file's sha256, so a
 * re-registered kernel never gets a stale copy) and reused.
 */
import { makeBtfTarXz, readKernelBtfFile } from '../archive/kernel-btf.js';
import type { Catalog, KernelFilter, KernelProvenance, KernelRecord } from '../catalog/catalog.js';
import { derivedKernelKey, kernelFileFormat, type KernelBtfFormat } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ApiError } from './errors.js';
import { kernelPath } from './http.js';
import type { KernelInfoBody } from './schemas.js';
import { kernelLabel } from './trim-service.js';

/**
 * A registered kernel as the API describes it (KernelInfo). `provenance` is the catalog's
 * row for it, if any: it applies only while it describes the stored file (same sha256).
 */
export function kernelInfo(record: KernelRecord, provenance?: KernelProvenance | null): KernelInfoBody {
  const generated = provenance !== undefined && provenance !== null && provenance.kernelSha256 === record.sha256;
  return {
    distro: record.distro,
    distro_version: record.distroVersion,
    arch: record.arch,
    kernel_version: record.kernel,
    format: storedFormat(record),
    size: record.size,
    sha256: record.sha256,
    added_at: record.addedAt.toISOString(),
    btf_url: `/api/v1/kernels/${kernelPath(record)}/btf`,
    source: generated ? 'generated' : 'archive',
    ...(generated && {
      provenance: { package: provenance.package, pahole: provenance.pahole, generated_at: provenance.generatedAt.toISOString() },
    }),
  };
}

/** The provenance rows of `filter`'s generated kernels, by `kernelLabel`. */
export async function provenanceByKernel(catalog: Pick<Catalog, 'listKernelProvenance'>, filter: KernelFilter): Promise<Map<string, KernelProvenance>> {
  return new Map((await catalog.listKernelProvenance(filter)).map((p) => [kernelLabel(p), p]));
}

function storedFormat(record: KernelRecord): KernelBtfFormat {
  return kernelFileFormat(record.storageKey);
}

async function storedBytes(store: ObjectStore, record: KernelRecord): Promise<Uint8Array> {
  const bytes = await store.get(record.storageKey);
  if (bytes === null) {
    throw new ApiError(500, 'internal_error', `kernel ${kernelLabel(record)} is in the catalog but ${record.storageKey} is missing from the store`);
  }
  return bytes;
}

/** Conversions in progress, so concurrent requests for the same file share one xz run. */
const converting = new Map<string, Promise<Uint8Array>>();

/** The kernel's BTF in `format`; unpacking an archive is bounded by `maxDecompressedBytes`. */
export async function kernelBtf(store: ObjectStore, record: KernelRecord, format: KernelBtfFormat, options: { maxDecompressedBytes?: number } = {}): Promise<Uint8Array> {
  if (storedFormat(record) === format) return storedBytes(store, record);
  const key = derivedKernelKey(record.sha256, record.kernel, format);
  const kept = await store.get(key);
  if (kept !== null) return kept;
  let pending = converting.get(key);
  if (pending === undefined) {
    pending = convert(store, record, format, key, options.maxDecompressedBytes).finally(() => converting.delete(key));
    converting.set(key, pending);
  }
  return pending;
}

async function convert(store: ObjectStore, record: KernelRecord, format: KernelBtfFormat, key: string, maxDecompressedBytes?: number): Promise<Uint8Array> {
  const raw = await readKernelBtfFile(await storedBytes(store, record), record.storageKey, maxDecompressedBytes === undefined ? {} : { maxUncompressedBytes: maxDecompressedBytes });
  const bytes = format === 'btf' ? raw : await makeBtfTarXz(record.kernel, raw);
  await store.put(key, bytes);
  return bytes;
}
