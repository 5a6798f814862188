/**
 * RPM repository metadata: `repodata/repomd.xml` names the `primary` index (its location,
 * and its SHA256), and primary.xml(.gz/.xz/.zst) lists each package's name, version,
 * release, arch, location, size and SHA256. The debug package of kernel REL is
 * `kernel-debuginfo` or `kernel-uek-debuginfo` whose `VERSION-RELEASE.ARCH` is REL
 * (RHEL, CentOS, Fedora, Oracle Linux), or SUSE's `kernel-FLAVOR-debuginfo` whose
 * `VERSION-RELEASE` without its last rebuild counter, then `-FLAVOR`, is REL
 * (`5.14.21-150400.24.46.1` of kernel-default-debuginfo is `5.14.21-150400.24.46-default`).
 *
 * The XML is read with patterns for the few elements used, not a general parser: the
 * files come from createrepo and are regular, and a malformed one is an INDEX error.
 */
import { GenerateError } from '../errors.js';

export interface RepomdPrimary {
  href: string;
  sha256: string;
  size?: number;
}

export interface RpmIndexEntry {
  name: string;
  version: string;
  release: string;
  arch: string;
  href: string;
  size?: number;
  sha256: string;
}

/** The debuginfo packages we look kernels up in. */
export const RPM_DEBUG_PACKAGE_NAMES = ['kernel-debuginfo', 'kernel-uek-debuginfo', 'kernel-default-debuginfo'] as const;

export function parseRepomd(xml: string, where: string): RepomdPrimary {
  for (const match of xml.matchAll(/<data\s+type="primary"\s*>([\s\S]*?)<\/data>/g)) {
    const body = match[1]!;
    const checksum = /<checksum\s+type="(sha256)"\s*>\s*([0-9a-fA-F]{64})\s*<\/checksum>/.exec(body);
    const href = /<location\s+(?:[^>]*\s)?href="([^"]+)"/.exec(body);
    const size = /<size>\s*(\d+)\s*<\/size>/.exec(body);
    if (!href) throw new GenerateError('INDEX', `${where}: the primary entry has no location`);
    if (!checksum)
      throw new GenerateError('INDEX', `${where}: the primary entry has no sha256 checksum (other checksum types are not trusted)`);
    return {
      href: checkedHref(decodeXml(href[1]!), where),
      sha256: checksum[2]!.toLowerCase(),
      ...(size ? { size: Number(size[1]) } : {}),
    };
  }
  throw new GenerateError('INDEX', `${where}: no <data type="primary"> entry`);
}

/** The uname -r a debuginfo package's vmlinux is for, in each naming scheme its name allows. */
export function rpmKernelReleases(entry: Pick<RpmIndexEntry, 'name' | 'version' | 'release' | 'arch'>): string[] {
  const suse = /^kernel-(default|[a-z0-9]+)-debuginfo$/.exec(entry.name);
  const out = [`${entry.version}-${entry.release}.${entry.arch}`];
  if (suse && entry.name !== 'kernel-uek-debuginfo') out.push(`${entry.version}-${entry.release.replace(/\.\d+$/, '')}-${suse[1]}`);
  return out;
}

/** The entries of primary.xml that are debuginfo packages for `release`. */
export function findRpmEntries(xml: string, release: string, where: string): RpmIndexEntry[] {
  const names = new Set<string>(RPM_DEBUG_PACKAGE_NAMES);
  const found: RpmIndexEntry[] = [];
  for (const match of xml.matchAll(/<name>([^<]*)<\/name>/g)) {
    if (!names.has(match[1]!)) continue;
    const start = xml.lastIndexOf('<package', match.index);
    const end = xml.indexOf('</package>', match.index);
    if (start === -1 || end === -1) throw new GenerateError('INDEX', `${where}: <name>${match[1]}</name> outside a <package> element`);
    const entry = parsePackage(xml.slice(start, end), match[1]!, where);
    if (rpmKernelReleases(entry).includes(release)) found.push(entry);
  }
  return found;
}

function parsePackage(block: string, name: string, where: string): RpmIndexEntry {
  const arch = /<arch>([^<]*)<\/arch>/.exec(block)?.[1];
  const version = /<version\s+([^>]*)\/?>/.exec(block)?.[1] ?? '';
  const ver = /\bver="([^"]*)"/.exec(version)?.[1];
  const rel = /\brel="([^"]*)"/.exec(version)?.[1];
  const checksum = /<checksum\s+type="sha256"[^>]*>\s*([0-9a-fA-F]{64})\s*<\/checksum>/.exec(block)?.[1];
  const href = /<location\s+(?:[^>]*\s)?href="([^"]+)"/.exec(block)?.[1];
  const size = /<size\s+[^>]*\bpackage="(\d+)"/.exec(block)?.[1];
  if (arch === undefined || ver === undefined || rel === undefined || href === undefined) {
    throw new GenerateError('INDEX', `${where}: package ${name} lacks its arch, version or location`);
  }
  if (checksum === undefined) throw new GenerateError('INDEX', `${where}: package ${name}-${ver}-${rel} has no sha256 checksum`);
  return {
    name,
    version: decodeXml(ver),
    release: decodeXml(rel),
    arch: decodeXml(arch),
    href: checkedHref(decodeXml(href), where),
    sha256: checksum.toLowerCase(),
    ...(size !== undefined ? { size: Number(size) } : {}),
  };
}

function checkedHref(href: string, where: string): string {
  if (/^[a-z]+:/i.test(href) || href.startsWith('/') || href.split('/').includes('..')) {
    throw new GenerateError('INDEX', `${where}: unsafe location '${href}'`);
  }
  return href;
}

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);
}
