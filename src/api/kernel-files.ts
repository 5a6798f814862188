/**
 * A registered kernel's full BTF, as raw BTF or as a BTFHub `.btf.tar.xz`, whichever way it
 * is stored: an archive is unpacked for a raw download, a raw blob packed for an archive
 * one. A conversion costs seconds of xz for a 5 MiB BTF, so its output is kept in the store
 * under its derived key (`derivedKernelKey`: by the stored file's sha256, so a
 * re-registered kernel never gets a stale copy), its own sha256 in the catalog
 * (`derived_files`), and reused. Every byte sent is checked against a recorded sha256.
 */
import { makeBtfTarXz, readKernelBtfFile } from '../archive/kernel-btf.js';
import type { Catalog, KernelFilter, KernelProvenance, KernelRecord } from '../catalog/catalog.js';
import { readVerified, reportDamage, sha256Hex } from '../storage/integrity.js';
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
export async function provenanceByKernel(
  catalog: Pick<Catalog, 'listKernelProvenance'>,
  filter: KernelFilter,
): Promise<Map<string, KernelProvenance>> {
  return new Map((await catalog.listKernelProvenance(filter)).map((p) => [kernelLabel(p), p]));
}

function storedFormat(record: KernelRecord): KernelBtfFormat {
  return kernelFileFormat(record.storageKey);
}

/** Where a kernel's files are read from and their sha256s recorded. */
export interface KernelFileServices {
  store: ObjectStore;
  catalog: Catalog;
}

/**
 * The kernel file as stored, checked against the catalog's sha256: a damaged or missing copy
 * is never sent (there is no other copy to make it from), but a clear 500 naming what to do.
 */
async function storedBytes(store: ObjectStore, record: KernelRecord): Promise<Uint8Array> {
  const read = await readVerified(store, record.storageKey, record.sha256);
  if (read.state === 'missing') {
    throw new ApiError(
      500,
      'kernel_missing',
      `kernel ${kernelLabel(record)} is in the catalog but ${record.storageKey} is missing from the store; upload or import it again`,
    );
  }
  if (read.state === 'damaged') {
    reportDamage({ kind: 'kernel', key: record.storageKey, expected: record.sha256, actual: read.actual, action: 'refused' });
    throw new ApiError(
      500,
      'kernel_damaged',
      `kernel ${kernelLabel(record)}: the stored ${record.storageKey} does not match its sha256 ${record.sha256}; upload or import it again (btfhub verify lists damaged files)`,
    );
  }
  return read.bytes;
}

/** Conversions in progress, so concurrent requests for the same file share one xz run. */
const converting = new Map<string, Promise<Uint8Array>>();

/**
 * The kernel's BTF in `format`; unpacking an archive is bounded by `maxDecompressedBytes`. A
 * derived copy is served only when it hashes to the sha256 recorded when it was made; one
 * that does not (or was never recorded) is made again from the checked kernel file.
 */
export async function kernelBtf(
  services: KernelFileServices,
  record: KernelRecord,
  format: KernelBtfFormat,
  options: { maxDecompressedBytes?: number } = {},
): Promise<Uint8Array> {
  const { store, catalog } = services;
  if (storedFormat(record) === format) return storedBytes(store, record);
  const key = derivedKernelKey(record.sha256, record.kernel, format);
  const known = await catalog.getDerivedFile(record.sha256, format);
  if (known !== null && known.storageKey === key) {
    const read = await readVerified(store, key, known.sha256);
    if (read.state === 'ok') return read.bytes;
    if (read.state === 'damaged') reportDamage({ kind: 'derived', key, expected: known.sha256, actual: read.actual, action: 'rebuilt' });
  }
  let pending = converting.get(key);
  if (pending === undefined) {
    pending = convert(services, record, format, key, options.maxDecompressedBytes).finally(() => converting.delete(key));
    converting.set(key, pending);
  }
  return pending;
}

/**
 * Makes the derived copy from the kernel file whose sha256 the record names (checked), stores
 * it under that sha256's derived key, then records its own sha256: a copy is only ever
 * trusted through that record, so one written but not recorded (a crash between the two) is
 * made again, never served unchecked.
 */
async function convert(
  services: KernelFileServices,
  record: KernelRecord,
  format: KernelBtfFormat,
  key: string,
  maxDecompressedBytes?: number,
): Promise<Uint8Array> {
  const { store, catalog } = services;
  const raw = await readKernelBtfFile(
    await storedBytes(store, record),
    record.storageKey,
    maxDecompressedBytes === undefined ? {} : { maxUncompressedBytes: maxDecompressedBytes },
  );
  const bytes = format === 'btf' ? raw : await makeBtfTarXz(record.kernel, raw);
  await store.put(key, bytes);
  await catalog.recordDerivedFile({ sourceSha256: record.sha256, format, storageKey: key, sha256: sha256Hex(bytes), size: bytes.length });
  return bytes;
}
