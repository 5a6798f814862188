/**
 * Where distributions put the kernel's debug vmlinux in their debug packages, and the
 * kernel release each path names:
 *
 * | distribution                         | path in the package                              |
 * |--------------------------------------|--------------------------------------------------|
 * | Ubuntu (.ddeb), Debian (-dbg .deb)   | `/usr/lib/debug/boot/vmlinux-REL`                |
 * | Debian, RHEL/CentOS/Fedora/OL (RPM)  | `/usr/lib/debug/lib/modules/REL/vmlinux`         |
 * | merged-/usr layouts                  | `/usr/lib/debug/usr/lib/modules/REL/vmlinux`     |
 * | SUSE (kernel-default-debuginfo)      | `/usr/lib/debug/boot/vmlinux-REL.debug`          |
 *
 * Build-id links (`/usr/lib/debug/.build-id/xx/yyyy.debug`) point at the same file; they are
 * symlinks and are never taken.
 */
import { normalizeKernelRelease } from '../identity/kernel-identity.js';

const PATTERNS: readonly RegExp[] = [
  /^usr\/lib\/debug\/boot\/vmlinux-([^/]+)\.debug$/,
  /^usr\/lib\/debug\/boot\/vmlinux-([^/]+)$/,
  /^usr\/lib\/debug\/(?:usr\/)?lib\/modules\/([^/]+)\/vmlinux$/,
];

/** A path inside a package as tar and cpio spell it: `./usr/...`, `/usr/...` or `usr/...`. */
export function normalizeEntryPath(path: string): string {
  return path.replace(/^(?:\.?\/)+/, '');
}

/** The kernel release a vmlinux at `path` (inside a package) is for, or undefined if it is no vmlinux path. */
export function releaseFromVmlinuxPath(path: string): string | undefined {
  const normalized = normalizeEntryPath(path);
  for (const pattern of PATTERNS) {
    const match = pattern.exec(normalized);
    if (match) return validRelease(match[1]!);
  }
  return undefined;
}

/**
 * The release a bare vmlinux file's name or path tells: `vmlinux-REL`, `vmlinux-REL.debug`,
 * or one of the package paths above. A file called just `vmlinux` tells none.
 */
export function releaseFromFileName(path: string): string | undefined {
  const fromPath = releaseFromVmlinuxPath(path);
  if (fromPath !== undefined) return fromPath;
  const base = path.slice(path.lastIndexOf('/') + 1);
  const match = /^vmlinux-(.+?)(?:\.debug)?$/.exec(base);
  return match ? validRelease(match[1]!) : undefined;
}

function validRelease(text: string): string | undefined {
  try {
    return normalizeKernelRelease(text);
  } catch {
    return undefined;
  }
}
