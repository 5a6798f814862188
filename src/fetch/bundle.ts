/**
 * Layer 3: trimmed BTFs shipped with the agent, in bundle layout
 *
 *   <distro>/<distro_version>/<arch>/<kernel>.btf
 *
 * as a directory or a `.tar.gz` of one (what `POST /api/v1/bundle` and `btfhub bundle` make,
 * and what BTFHub's btfgen script leaves). A directory in BTFHub archive layout works too:
 * `<kernel>.btf.tar.xz` is the kernel's full BTF (trimmed with --trim).
 *
 * Only the exact kernel matches. Picking a "nearest" kernel when the exact one is missing
 * is how agents end up with offsets of another build; the reason says what the bundle has
 * for this distro, release and arch instead.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { readTarEntries, type TarEntry } from '../archive/tar.js';
import type { KernelRef } from '../catalog/catalog.js';
import { bundleSkipReason, failed, fsReason, kernelKey, skipped, type LayerResult } from './layer.js';

/** A bundle of trimmed BTFs is small; this bounds a hostile or mistaken .tar.gz. */
export const MAX_BUNDLE_BYTES = 1024 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const gunzipAsync = promisify(gunzip);

export interface BundleLayerOptions {
  /** A directory or a .tar.gz; undefined when none is configured. */
  location: string | undefined;
  /** The host's identity, already resolved. */
  kernel: KernelRef;
}

/** File names tried for a kernel, in order, with the form of what each holds. */
function candidates(kernel: KernelRef): { name: string; form: 'full' | 'trimmed' }[] {
  const key = kernelKey(kernel);
  return [
    { name: `${key}.btf`, form: 'trimmed' },
    { name: `${key}.btf.tar.xz`, form: 'full' },
  ];
}

/** Why the layer is skipped (no bundle configured), or undefined when it runs. */
export { bundleSkipReason };

export async function bundleLayer(options: BundleLayerOptions): Promise<LayerResult> {
  const location = options.location;
  const skip = bundleSkipReason(location);
  if (skip !== undefined || location === undefined) return skipped(skip ?? '');
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(location)).isDirectory();
  } catch (err) {
    return failed(`${location}: ${fsReason(err)}`);
  }
  return isDirectory ? fromDirectory(location, options.kernel) : fromTarball(location, options.kernel);
}

async function fromDirectory(dir: string, kernel: KernelRef): Promise<LayerResult> {
  for (const candidate of candidates(kernel)) {
    const path = join(dir, candidate.name);
    try {
      return { ok: true, path, bytes: await readFile(path), form: candidate.form };
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') return failed(`${path}: ${fsReason(err)}`);
    }
  }
  const siblings = await readdir(join(dir, kernel.distro, kernel.distroVersion, kernel.arch)).catch(() => [] as string[]);
  return failed(notFound(kernel, dir, siblings.filter((name) => name.endsWith('.btf') || name.endsWith('.btf.tar.xz')).length));
}

async function fromTarball(path: string, kernel: KernelRef): Promise<LayerResult> {
  let compressed: Uint8Array;
  try {
    if (!(await startsWith(path, GZIP_MAGIC))) return failed(`${path}: neither a directory nor a .tar.gz (no gzip magic)`);
    compressed = await readFile(path);
  } catch (err) {
    return failed(`${path}: ${fsReason(err)}`);
  }
  let tar: Uint8Array;
  try {
    tar = await gunzipAsync(compressed, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    return failed(`${path}: cannot gunzip: ${err instanceof Error ? err.message : String(err)}`);
  }
  const files: TarEntry[] = [];
  try {
    for (const entry of readTarEntries(tar)) if (entry.type === 'file') files.push(entry);
  } catch (err) {
    return failed(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Bundles may put everything under one top directory (`btf/ubuntu/...`) or `./`.
  const named = (name: string) => (entry: TarEntry) => {
    const entryName = entry.name.replace(/^(\.\/)+/, '');
    return entryName === name || entryName.endsWith(`/${name}`);
  };
  for (const candidate of candidates(kernel)) {
    const entry = files.find(named(candidate.name));
    if (entry !== undefined) return { ok: true, path: `${path}:${entry.name}`, bytes: entry.data, form: candidate.form };
  }
  const prefix = `${kernel.distro}/${kernel.distroVersion}/${kernel.arch}/`;
  const siblings = files.filter((entry) => entry.name.includes(prefix) && /\.btf(\.tar\.xz)?$/.test(entry.name)).length;
  return failed(notFound(kernel, path, siblings));
}

function notFound(kernel: KernelRef, where: string, siblings: number): string {
  const key = kernelKey(kernel);
  const others = `${kernel.distro}/${kernel.distroVersion}/${kernel.arch}`;
  return `no ${key}.btf in ${where} (it has ${siblings === 0 ? 'no kernels' : `${siblings} other kernel${siblings === 1 ? '' : 's'}`} for ${others}; only the exact kernel is used)`;
}

async function startsWith(path: string, magic: readonly number[]): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(magic.length);
    const { bytesRead } = await handle.read(head, 0, magic.length, 0);
    return bytesRead === magic.length && magic.every((byte, i) => head[i] === byte);
  } finally {
    await handle.close();
  }
}
