/**
 * `findDebugPackage`: which configured repository has the debug package of a kernel, looked
 * up in the repositories' own indexes (see deb-index.ts and rpm-index.ts), and where to
 * download it with which SHA256. Repositories are asked in the order configured; the first
 * that lists a package wins.
 */
import { createHash } from 'node:crypto';
import { decompressChunks, sniffCompression, type Compression } from '../decompress.js';
import { GenerateError } from '../errors.js';
import type { DebugRepository, DebRepository, RpmRepository } from './config.js';
import { debDebugPackageNames, findDebEntries } from './deb-index.js';
import { fetchIndex, type FetchFunction } from './http.js';
import { findRpmEntries, parseRepomd } from './rpm-index.js';

export interface DebugPackage {
  /** The configured repository's name. */
  repository: string;
  kind: 'deb' | 'rpm';
  name: string;
  version: string;
  arch: string;
  url: string;
  /** The file name to save it under (the last segment of its location). */
  fileName: string;
  sha256: string;
  size?: number;
}

export interface FindOptions {
  maxIndexBytes: number;
  indexTimeoutMs: number;
  signal?: AbortSignal;
  fetch?: FetchFunction;
  onProgress?: (message: string) => void;
}

export async function findDebugPackage(
  release: string,
  repositories: readonly DebugRepository[],
  options: FindOptions,
): Promise<DebugPackage> {
  if (repositories.length === 0) {
    throw new GenerateError('NOT_FOUND', `no debug package repositories are configured, so kernel ${release} cannot be looked up`);
  }
  const looked: string[] = [];
  const failures: GenerateError[] = [];
  for (const repo of repositories) {
    try {
      const found = repo.kind === 'deb' ? await findInDeb(release, repo, options, looked) : await findInRpm(release, repo, options, looked);
      if (found) return found;
    } catch (err) {
      if (!(err instanceof GenerateError) || options.signal?.aborted) throw err;
      failures.push(err);
      looked.push(`${repo.name} (failed: ${err.message})`);
    }
  }
  // A repository that could not be read may have had it: that is not a "not found".
  const cause = failures[0];
  const summary = `no debug package for kernel ${release} in ${looked.join('; ')}`;
  if (cause) throw new GenerateError(cause.code, summary, { cause });
  throw new GenerateError('NOT_FOUND', summary);
}

async function findInDeb(release: string, repo: DebRepository, options: FindOptions, looked: string[]): Promise<DebugPackage | undefined> {
  const names = debDebugPackageNames(release);
  const base = repo.baseUrl.replace(/\/+$/, '');
  for (const suite of repo.suites) {
    for (const component of repo.components) {
      for (const arch of repo.architectures) {
        const dir = `${base}/dists/${suite}/${component}/binary-${arch}`;
        options.onProgress?.(`looking for ${names.join(', ')} in ${dir}/Packages`);
        const index = await fetchFirstIndex([`${dir}/Packages.xz`, `${dir}/Packages.gz`], options);
        if (!index) {
          looked.push(`${repo.name} ${suite}/${component}/binary-${arch} (no Packages.xz or Packages.gz)`);
          continue;
        }
        const entries = findDebEntries(index.text, names, index.url);
        const entry = names.map((n) => entries.find((e) => e.package === n)).find((e) => e !== undefined);
        if (entry) {
          return {
            repository: repo.name,
            kind: 'deb',
            name: entry.package,
            version: entry.version,
            arch: entry.architecture,
            url: `${base}/${entry.filename}`,
            fileName: lastSegment(entry.filename),
            sha256: entry.sha256,
            size: entry.size,
          };
        }
        looked.push(`${repo.name} ${suite}/${component}/binary-${arch} (none of ${names.join(', ')})`);
      }
    }
  }
  return undefined;
}

async function findInRpm(release: string, repo: RpmRepository, options: FindOptions, looked: string[]): Promise<DebugPackage | undefined> {
  const base = repo.baseUrl.replace(/\/+$/, '');
  const repomdUrl = `${base}/repodata/repomd.xml`;
  options.onProgress?.(`looking for kernel ${release} debuginfo in ${base}`);
  const repomd = await fetchIndex(repomdUrl, indexBounds(options));
  if (!repomd) throw new GenerateError('INDEX', `${repomdUrl}: 404 Not Found (not an RPM repository?)`);
  const primary = parseRepomd(new TextDecoder('utf-8').decode(repomd), repomdUrl);
  const primaryUrl = `${base}/${primary.href}`;
  const compressed = await fetchIndex(primaryUrl, indexBounds(options));
  if (!compressed) throw new GenerateError('INDEX', `${primaryUrl}: 404 Not Found (repomd.xml names it)`);
  const sha256 = createHash('sha256').update(compressed).digest('hex');
  if (sha256 !== primary.sha256) {
    throw new GenerateError('CHECKSUM', `${primaryUrl}: SHA256 ${sha256} does not match repomd.xml's ${primary.sha256}`);
  }
  const xml = await decompressIndex(compressed, primaryUrl, options);
  const entry = findRpmEntries(xml, release, primaryUrl)[0];
  if (!entry) {
    looked.push(`${repo.name} (no kernel-debuginfo, kernel-uek-debuginfo or kernel-default-debuginfo for ${release})`);
    return undefined;
  }
  return {
    repository: repo.name,
    kind: 'rpm',
    name: entry.name,
    version: `${entry.version}-${entry.release}`,
    arch: entry.arch,
    url: `${base}/${entry.href}`,
    fileName: lastSegment(entry.href),
    sha256: entry.sha256,
    ...(entry.size !== undefined ? { size: entry.size } : {}),
  };
}

function indexBounds(options: FindOptions) {
  return {
    maxBytes: options.maxIndexBytes,
    timeoutMs: options.indexTimeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
}

/** The first of `urls` the repository has, decompressed to text. */
async function fetchFirstIndex(urls: readonly string[], options: FindOptions): Promise<{ url: string; text: string } | undefined> {
  for (const url of urls) {
    const bytes = await fetchIndex(url, indexBounds(options));
    if (bytes) return { url, text: await decompressIndex(bytes, url, options) };
  }
  return undefined;
}

async function decompressIndex(bytes: Uint8Array, url: string, options: FindOptions): Promise<string> {
  const sniffed = sniffCompression(bytes);
  const suffix = /\.(gz|xz|zst|bz2)$/.exec(url)?.[1];
  const named =
    suffix === undefined
      ? undefined
      : ({ gz: 'gzip', xz: 'xz', zst: 'zstd', bz2: 'bzip2' } as const)[suffix as 'gz' | 'xz' | 'zst' | 'bz2'];
  if (named !== undefined && sniffed !== named) {
    throw new GenerateError('CORRUPT', `${url}: not ${named} data (${sniffed ? `${sniffed} data` : 'no known compression magic'})`);
  }
  if (sniffed === 'bzip2' || sniffed === 'lzma')
    throw new GenerateError('UNSUPPORTED', `${url}: ${sniffed}-compressed indexes are not supported`);
  const compression: Compression = sniffed ?? 'none';
  const chunks: Uint8Array[] = [];
  const source = (async function* () {
    yield bytes;
  })();
  const bounded = { maxOutputBytes: options.maxIndexBytes, what: url, ...(options.signal ? { signal: options.signal } : {}) };
  for await (const chunk of decompressChunks(compression, source, bounded)) chunks.push(chunk);
  return new TextDecoder('utf-8').decode(Buffer.concat(chunks));
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
