/**
 * Debian/Ubuntu repository indexes: `dists/SUITE/COMPONENT/binary-ARCH/Packages.xz` (or
 * `.gz`), one RFC 822 stanza per package. The debug package of kernel REL is
 * `linux-image-unsigned-REL-dbgsym` or `linux-image-REL-dbgsym` (Ubuntu's ddebs) or
 * `linux-image-REL-dbg` (Debian); its stanza gives the file (`Filename`, relative to the
 * archive root), its `Size` and its `SHA256`.
 */
import { GenerateError } from '../errors.js';

export interface DebIndexEntry {
  package: string;
  version: string;
  architecture: string;
  filename: string;
  size: number;
  sha256: string;
}

/** Package names that carry kernel REL's debug vmlinux, in the order they are preferred. */
export function debDebugPackageNames(release: string): string[] {
  return [`linux-image-unsigned-${release}-dbgsym`, `linux-image-${release}-dbgsym`, `linux-image-${release}-dbg`];
}

/**
 * The stanzas of `text` whose Package is one of `names`. Other stanzas are passed over
 * without being parsed (a suite's index lists tens of thousands of packages).
 */
export function findDebEntries(text: string, names: readonly string[], where: string): DebIndexEntry[] {
  const wanted = new Set(names);
  const found: DebIndexEntry[] = [];
  for (const match of text.matchAll(/^Package:[ \t]*(\S+)[ \t]*$/gm)) {
    if (!wanted.has(match[1]!)) continue;
    const start = match.index;
    const end = text.indexOf('\n\n', start);
    const stanza = text.slice(start, end === -1 ? text.length : end);
    found.push(parseStanza(stanza, where));
  }
  return found;
}

function parseStanza(stanza: string, where: string): DebIndexEntry {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of stanza.split('\n')) {
    if (/^[ \t]/.test(line) && last !== undefined) {
      fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).toLowerCase();
    fields.set(last, line.slice(colon + 1).trim());
  }
  const pkg = fields.get('package') ?? '';
  const need = (field: string) => {
    const value = fields.get(field.toLowerCase());
    if (value === undefined || value === '') throw new GenerateError('INDEX', `${where}: package ${pkg} has no ${field} field`);
    return value;
  };
  const filename = need('Filename');
  if (filename.startsWith('/') || filename.split('/').includes('..')) {
    throw new GenerateError('INDEX', `${where}: package ${pkg} has an unsafe Filename '${filename}'`);
  }
  const size = Number(need('Size'));
  if (!Number.isSafeInteger(size) || size < 0)
    throw new GenerateError('INDEX', `${where}: package ${pkg} has a bad Size '${fields.get('size')}'`);
  const sha256 = need('SHA256').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new GenerateError('INDEX', `${where}: package ${pkg} has a bad SHA256 '${sha256}'`);
  return { package: pkg, version: need('Version'), architecture: need('Architecture'), filename, size, sha256 };
}
