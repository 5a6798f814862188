/**
 * What a kernel release string (`uname -r`) tells about the distribution that built it.
 * Distribution kernels carry a recognizable tag: `.el8_6.` (Enterprise Linux 8), `.amzn2.`,
 * `.fc34.`, `-150400.` (SLES 15 SP4), `-cloud-amd64` (Debian), `-generic` (Ubuntu).
 * Used when /etc/os-release is missing, or disagrees with the kernel (an agent reading a
 * container's os-release instead of the host's).
 */
import type { Distro } from './kernel-identity.js';

export interface KernelReleaseHint {
  /** Archive distros that publish this kernel; the first is the default choice. */
  distros: readonly [Distro, ...Distro[]];
  /** The archive release, when the kernel release tells it. */
  version?: string;
  /** True when `version` is written in the release string; false when inferred. */
  versionCertain: boolean;
  /** What was recognized, for notes and errors: "an Enterprise Linux 8 kernel (.el8)". */
  description: string;
}

/**
 * Debian's kernel ABI per release: a stock (non-backport) kernel's major.minor names its
 * release. A backport (`.bpo.`) is built for the release before.
 */
export const DEBIAN_KERNEL_SERIES: Readonly<Record<string, string>> = {
  '3.16': '8',
  '4.9': '9',
  '4.19': '10',
  '5.10': '11',
  '6.1': '12',
  '6.12': '13',
};

/** Kernel flavours Ubuntu builds (`5.15.0-1019-aws`); the release is not in the string. */
const UBUNTU_FLAVOURS = [
  'generic',
  'lowlatency',
  'aws',
  'azure',
  'gcp',
  'gke',
  'gkeop',
  'kvm',
  'oracle',
  'ibm',
  'oem',
  'nvidia',
  'raspi',
  'realtime',
  'fips',
];

const UEK = /\.el(\d+)uek(?:\.|$)/;
const ENTERPRISE_LINUX = /\.el(\d+)(?:a|_[\d_]+)?(?:\.|$)/;
const AMAZON = /\.amzn(\d+)(?:\.|$)/;
const FEDORA = /\.fc(\d+)(?:\.|$)/;
/** SLES 15 SP3 and later: `5.14.21-150400.24.46-default` is 15 SP4. */
const SLES = /^[\d.]+-(\d\d)(\d\d)00\.[\d.]+-[a-z0-9]+$/;
/**
 * `4.19.0-17-cloud-amd64`, `5.10.0-0.deb10.17-arm64` (built for 10), `4.19.0-0.bpo.19-amd64`
 * (a backport); from Debian 13 on the ABI part reads `6.12.38+deb13` or `6.12.12+bpo`.
 */
const DEBIAN = /^(\d+\.\d+)\.\d+(?:-[\w.]+|\+[\w.]+)-(?:(?:rt|cloud)-)?(?:amd64|arm64)$/;
const DEBIAN_BUILT_FOR = /[.+]deb(\d+)(?:[.-]|$)/;
const DEBIAN_BACKPORT = /\.bpo\.|\+bpo(?:[.-]|$)/;
const UBUNTU = new RegExp(`^\\d+\\.\\d+\\.\\d+-\\d+-(${UBUNTU_FLAVOURS.join('|')})(?:-[a-z0-9]+)*$`);

export function kernelReleaseHint(release: string): KernelReleaseHint | null {
  let match: RegExpExecArray | null;
  if ((match = UEK.exec(release))) {
    return { distros: ['ol'], version: match[1], versionCertain: true, description: `an Oracle Linux UEK kernel (.el${match[1]}uek)` };
  }
  if ((match = ENTERPRISE_LINUX.exec(release))) {
    return {
      distros: ['centos', 'rhel', 'ol'],
      version: match[1],
      versionCertain: true,
      description: `an Enterprise Linux ${match[1]} kernel (.el${match[1]})`,
    };
  }
  if ((match = AMAZON.exec(release))) {
    return {
      distros: ['amzn'],
      version: match[1],
      versionCertain: true,
      description: `an Amazon Linux ${match[1]} kernel (.amzn${match[1]})`,
    };
  }
  if ((match = FEDORA.exec(release))) {
    return { distros: ['fedora'], version: match[1], versionCertain: true, description: `a Fedora ${match[1]} kernel (.fc${match[1]})` };
  }
  if ((match = SLES.exec(release))) {
    const version = `${Number(match[1])}.${Number(match[2])}`;
    return { distros: ['sles'], version, versionCertain: true, description: `a SLES ${version} kernel (-${match[1]}${match[2]}00.)` };
  }
  if ((match = DEBIAN.exec(release))) return debianHint(release, match[1] as string);
  if ((match = UBUNTU.exec(release))) {
    return { distros: ['ubuntu'], versionCertain: false, description: `an Ubuntu kernel (-${match[1]})` };
  }
  return null;
}

function debianHint(release: string, series: string): KernelReleaseHint {
  const builtFor = DEBIAN_BUILT_FOR.exec(release)?.[1];
  if (builtFor !== undefined) {
    return { distros: ['debian'], version: builtFor, versionCertain: true, description: `a Debian ${builtFor} kernel (deb${builtFor})` };
  }
  const stock = DEBIAN_KERNEL_SERIES[series];
  if (stock === undefined) {
    return { distros: ['debian'], versionCertain: false, description: `a Debian kernel of the ${series} series` };
  }
  const backport = DEBIAN_BACKPORT.test(release);
  const version = backport ? String(Number(stock) - 1) : stock;
  const kind = backport ? 'backport' : 'kernel';
  return { distros: ['debian'], version, versionCertain: false, description: `a Debian ${version} ${kind} (${series} series)` };
}
