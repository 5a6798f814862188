/**
 * `generateFromRepositories`: kernel BTF for a release, with nothing but the release given:
 * look the debug package up in the configured repositories, download it (bounded, verified
 * against the index's SHA256), generate, and delete the download. One generation per
 * kernel at a time through a GenerationGate, which also answers recent failures from its
 * negative cache. The service's generate job will be this call.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkedRelease } from './extract.js';
import { generateKernelBtf, type GenerateKernelBtfOptions, type GeneratedKernelBtf } from './generate.js';
import type { GenerationGate } from './generation-gate.js';
import type { GenerateConfig } from './repository/config.js';
import { findDebugPackage, type DebugPackage } from './repository/find-package.js';
import { downloadVerified, type FetchFunction } from './repository/http.js';

export interface GeneratedFromRepository extends GeneratedKernelBtf {
  /** The package as the repository index listed it. */
  debugPackage: DebugPackage;
}

export interface OnDemandOptions extends GenerateKernelBtfOptions {
  config: GenerateConfig;
  gate: GenerationGate;
  fetch?: FetchFunction;
}

export async function generateFromRepositories(kernel: string, options: OnDemandOptions): Promise<GeneratedFromRepository> {
  const release = checkedRelease(kernel);
  return options.gate.run(release, () => findDownloadGenerate(release, options));
}

async function findDownloadGenerate(release: string, options: OnDemandOptions): Promise<GeneratedFromRepository> {
  const { config } = options;
  const say = (message: string) => options.onProgress?.({ phase: 'extract', message });
  const debugPackage = await findDebugPackage(release, config.repositories, {
    maxIndexBytes: config.maxIndexBytes,
    indexTimeoutMs: config.indexTimeoutMs,
    onProgress: say,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'btfhub-download-'));
  try {
    say(`downloading ${debugPackage.url}${debugPackage.size !== undefined ? ` (${debugPackage.size} bytes)` : ''}`);
    const download = await downloadVerified(debugPackage.url, join(dir, debugPackage.fileName), {
      sha256: debugPackage.sha256,
      maxBytes: config.maxDownloadBytes,
      timeoutMs: config.downloadTimeoutMs,
      ...(debugPackage.size !== undefined ? { expectedBytes: debugPackage.size } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const generated = await generateKernelBtf(
      { file: download.path, kernel: release, sha256: download.sha256, url: debugPackage.url },
      options,
    );
    return { ...generated, debugPackage };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
