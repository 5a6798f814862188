/**
 * Unpacked copies of `.btf.tar.xz` kernels: the raw BTF kept in the service's store under its
 * derived key (`derivedKernelKey` of the packed file's sha256), its own sha256 recorded in
 * the catalog's `derived_files` (format `btf`). xz is most of the cost of loading a kernel
 * (~100 ms of CPU for a 5 MB BTF, against a few ms to read and check 5 MB), so every load
 * after the first on this content (a restart, a kernel evicted from the decoded cache, a
 * compat report, a bundle) reads the copy instead. Content-addressed: a replaced kernel has
 * another sha256, so another copy; a copy that no longer matches its recorded sha256 is
 * reported and rebuilt, never used. The packed file stays the source of truth.
 */
import type { Catalog, KernelRecord } from '../catalog/catalog.js';
import { readInto } from '../storage/file-transfer.js';
import { reportDamage, sha256Hex, type UncheckedBytes } from '../storage/integrity.js';
import { derivedKernelKey, kernelFileFormat } from '../storage/keys.js';
import type { Allocate, ObjectStore } from '../storage/object-store.js';

export type UnpackedCopyCatalog = Pick<Catalog, 'getDerivedFile' | 'recordDerivedFile'>;

/**
 * The raw BTF of `record` (arguments: catalog, cache, record, unpack, allocate?): from its
 * unpacked copy in `cache` when one was recorded and still matches, else `unpack()` (the
 * caller's read, check and unpack of the stored file, with its own errors), kept as the copy
 * when the stored file is a `.btf.tar.xz`. Other formats are raw already: `unpack()` as is.
 * `allocate`: where the copy is read into (a reused buffer).
 */
export async function loadUnpacked(...args: Parameters<typeof loadUnpackedUnchecked>): Promise<Uint8Array> {
  const { bytes, check } = await loadUnpackedUnchecked(...args);
  return (await check()) ?? bytes;
}

/**
 * `loadUnpacked` with the copy's check left to the caller: the copy's bytes as read, and its
 * sha256 check to run once they are on their way (a codec thread decodes them meanwhile).
 * A damaged copy is reported and rebuilt by the check. Bytes that come from `unpack()` were
 * checked there: their check is null at once.
 */
export async function loadUnpackedUnchecked(
  catalog: UnpackedCopyCatalog,
  cache: ObjectStore,
  record: Pick<KernelRecord, 'storageKey' | 'sha256' | 'kernel'>,
  unpack: () => Promise<Uint8Array>,
  allocate?: Allocate,
): Promise<UncheckedBytes> {
  const checked = (bytes: Uint8Array): UncheckedBytes => ({ bytes, check: () => Promise.resolve(null) });
  if (kernelFileFormat(record.storageKey) !== 'btf.tar.xz') return checked(await unpack());
  const key = derivedKernelKey(record.sha256, record.kernel, 'btf');
  const unpackAndKeep = async () => {
    const raw = await unpack();
    await keepUnpacked(catalog, cache, record, raw);
    return raw;
  };
  const known = await catalog.getDerivedFile(record.sha256, 'btf');
  const bytes = known !== null && known.storageKey === key ? await readInto(cache, key, allocate) : null;
  if (known === null || bytes === null) return checked(await unpackAndKeep());
  return {
    bytes,
    check: async () => {
      const actual = sha256Hex(bytes);
      if (actual === known.sha256) return null;
      reportDamage({ kind: 'derived', key, expected: known.sha256, actual, action: 'rebuilt' });
      return unpackAndKeep();
    },
  };
}

/**
 * Keeps `raw`, the unpacked BTF of `record` (a `.btf.tar.xz`), as its copy in `cache` and
 * records it: what `loadUnpacked` does on first use, and what an import does with the BTF it
 * has just unpacked to check the file, so that even the first trim on a kernel skips xz.
 */
export async function keepUnpacked(
  catalog: UnpackedCopyCatalog,
  cache: ObjectStore,
  record: Pick<KernelRecord, 'sha256' | 'kernel'>,
  raw: Uint8Array,
): Promise<void> {
  const key = derivedKernelKey(record.sha256, record.kernel, 'btf');
  await cache.put(key, raw);
  await catalog.recordDerivedFile({
    sourceSha256: record.sha256,
    format: 'btf',
    storageKey: key,
    sha256: sha256Hex(raw),
    size: raw.length,
  });
}
