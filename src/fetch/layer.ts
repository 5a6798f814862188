/**
 * What a lookup layer answers. A layer either has a candidate BTF (`ok`, with where it came
 * from and its bytes) or says why not (`reason`), and whether it was not even configured
 * (`skipped`). The chain (chain.ts) decodes every candidate before accepting it, so a layer
 * only finds bytes; it does not vouch for them.
 */
import type { KernelRef } from '../catalog/catalog.js';

/** The four layers, in the order they are tried. */
export const LAYERS = ['configured', 'kernel', 'bundle', 'service'] as const;
export type LayerName = (typeof LAYERS)[number];

export type LayerResult =
  | {
      ok: true;
      /** A file path, a path inside a bundle (`bundle.tar.gz:ubuntu/22.04/...`) or a URL. */
      path: string;
      /** The candidate: raw BTF, an ELF with .BTF, or a .btf.tar.xz (for the configured file). */
      bytes: Uint8Array;
      /** `full` for a kernel's whole BTF (trimmed locally with --trim), `trimmed` when made for the objects. */
      form: 'full' | 'trimmed';
      /** One line on how it was found (cache hit, job id...). */
      detail?: string;
      /**
       * `header`: the layer read and checked only the header (`bytes` is the header), which
       * is enough for an answer nothing is made from (the kernel's own BTF without --trim).
       */
      checked?: 'header';
    }
  | {
      ok: false;
      /** True when the layer is not configured (no --btf, no --dir, --offline...). */
      skipped: boolean;
      reason: string;
    };

export const skipped = (reason: string): LayerResult => ({ ok: false, skipped: true, reason });
export const failed = (reason: string): LayerResult => ({ ok: false, skipped: false, reason });

/** `distro/distro_version/arch/kernel`: the kernel's place in the archive and bundle layouts. */
export function kernelKey(ref: KernelRef): string {
  return `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`;
}

/** A file-system error as a short reason: "no such file", "permission denied". */
export function fsReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Why layers 3 and 4 are skipped, or undefined when they run. Here, not in their modules, so
 * the chain knows a layer is not configured without loading it.
 */
export function bundleSkipReason(location: string | undefined): string | undefined {
  return location === undefined || location === '' ? 'no bundle configured (--dir, BTFHUB_BTF_DIR)' : undefined;
}

export function serviceSkipReason(options: { server: string | undefined; offline?: boolean }): string | undefined {
  if (options.offline) return '--offline';
  if (options.server === undefined || options.server === '') return 'no service configured (--server, BTFHUB_URL)';
  return undefined;
}

/** Layer 4's default bound on the whole exchange with the service. */
export const DEFAULT_SERVICE_TIMEOUT_MS = 120_000;
