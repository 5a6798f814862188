/**
 * The lookup chain of `btfhub fetch`: the four layers in order, stopping at the first whose
 * answer decodes as BTF.
 *
 *   1. configured  --btf PATH / BTFHUB_BTF_PATH
 *   2. kernel      <root>/sys/kernel/btf/vmlinux (nothing to fetch; --trim trims it here)
 *   3. bundle      --dir DIR|FILE.tar.gz / BTFHUB_BTF_DIR: <distro>/<version>/<arch>/<kernel>.btf
 *   4. service     --server URL / BTFHUB_URL, unless --offline
 *
 * A layer's answer is decoded before it is accepted; one that does not decode is reported
 * with the codec's reason and the next layer is tried. The kernel's own BTF without --trim is
 * the exception: nothing is made from it, so only its header is checked (layer 2 answers in
 * the time of a 24-byte read; libbpf decodes the file when it loads it). The host's identity
 * is resolved only when layer 3 is reached (layers 1 and 2 need none), so a host the rules
 * cannot identify still gets its configured or kernel BTF. The result is written atomically
 * (temporary file, then rename; a missing directory is created first) and only once it has
 * decoded: an agent never loads a partial or corrupt file. A write that fails is in the
 * report (`error`), never lost behind an exception.
 */
import { mkdir } from 'node:fs';
import { dirname, join } from 'node:path';
import { isRawBtf } from '../btf/btf.js';
import { isElf } from '../btf/elf.js';
import { parseBpfObject, type BpfObject } from '../btf/object.js';
import { writeFileAtomic } from '../storage/atomic-file.js';
import type { BtfhubClientOptions } from '../client/client.js';
import type { HostOverrides, HostProbeOptions, ResolvedHostIdentity } from '../identity/host.js';
import { IdentityError } from '../identity/kernel-identity.js';
import { configuredLayer } from './configured.js';
import { kernelLayer } from './kernel.js';
import {
  bundleSkipReason,
  failed,
  fsReason,
  kernelKey,
  LAYERS,
  serviceSkipReason,
  skipped,
  type LayerName,
  type LayerResult,
} from './layer.js';

// The layers past the kernel's own BTF, the host's identity, the archive reader (tar, xz), the
// trimmer and hashing are imported when first needed: an agent whose kernel has BTF (layer 2)
// starts without loading them. (Static imports above are what every run uses.)

export interface FetchOptions {
  /** The BPF objects the BTF is for (file name for messages, bytes). */
  objects: readonly { name: string; bytes: Uint8Array }[];
  /** Layer 1: a configured BTF file. */
  btfPath?: string;
  /** The host's filesystem root for identity and layer 2 ('/' by default; `/host` in a container). */
  root?: string;
  /** Layer 3: a bundle directory or .tar.gz. */
  dir?: string;
  /** Layer 4: the service's base URL. */
  server?: string;
  /** Skip layer 4. */
  offline?: boolean;
  /** Trim a full kernel BTF found locally (layers 1-3) for the objects, with our codec. */
  trim?: boolean;
  /** Identity overrides (`--distro`, `--distro-version`, `--arch`, `--kernel`). */
  overrides?: HostOverrides;
  /** uname replacements (tests). */
  host?: Pick<HostProbeOptions, 'unameRelease' | 'unameMachine'>;
  /** Layer 4's total time bound in ms (upload, job, download). */
  timeoutMs?: number;
  /** Client settings for layer 4. */
  client?: Omit<BtfhubClientOptions, 'baseUrl'>;
  /**
   * Write the result here (atomically; with the default writer, a missing directory is
   * created). Without it, nothing is written: the caller has `btf`.
   */
  out?: string;
  /** Writes `out`; `writeCreatingDirectory` by default. A failure is reported, not thrown. */
  write?: (path: string, data: Uint8Array) => Promise<void>;
  /** Progress, one line at a time (layer outcomes, retries). */
  log?: (line: string) => void;
}

export type LayerOutcome = 'answered' | 'failed' | 'skipped' | 'not-tried';

export interface LayerReport {
  layer: LayerName;
  outcome: LayerOutcome;
  /** Where the answer came from (answered), or what was read before failing. */
  path?: string;
  /** Why the layer did not answer (failed, skipped, not-tried). */
  reason?: string;
  /** How it answered: cache hit, job id, trimmed locally... */
  detail?: string;
}

export interface IdentityReport {
  distro: string;
  distroVersion: string;
  arch: string;
  kernel: string;
  source: ResolvedHostIdentity['source'];
  notes: string[];
  /** The os-release file read, as this process sees it (under --root), or null. */
  osReleasePath: string | null;
}

export interface FetchReport {
  ok: boolean;
  /** The layer that answered, or null when none did. */
  layer: LayerName | null;
  /** Where the answer came from: a path, a path inside a bundle, or the service's URL. */
  path: string | null;
  /**
   * The file written, or null: nothing was written when the kernel's own BTF answered
   * without --trim (libbpf finds it there), or when no `out` was given.
   */
  out: string | null;
  /** Size and sha256 of the resulting BTF (null when nothing resulted). */
  size: number | null;
  sha256: string | null;
  /** `trimmed` when made for the objects (by the service, a bundle, or --trim), else `full`. */
  form: 'full' | 'trimmed' | null;
  /** The host's identity, when it was needed; `error` when it could not be determined. */
  identity: IdentityReport | { error: string } | null;
  layers: LayerReport[];
  /** Why a layer's answer could not be written to `out` (then `ok` is false), else null. */
  error: string | null;
}

export interface FetchResult {
  report: FetchReport;
  /** The BTF to use, or null (kernel BTF in place, or nothing found). */
  btf: Uint8Array | null;
}

/** Runs the chain. Bad objects throw (CodecError); a layer that fails never does. */
export async function fetchBtf(options: FetchOptions): Promise<FetchResult> {
  const log = options.log ?? (() => {});
  const reports: LayerReport[] = [];
  const objects = parseObjects(options.objects);
  let identity: FetchReport['identity'] = null;
  let resolved: ResolvedHostIdentity | IdentityError | undefined;

  /** The host identity, resolved once when first needed; an IdentityError is kept and reported. */
  const hostIdentity = async (): Promise<ResolvedHostIdentity | IdentityError> => {
    if (resolved !== undefined) return resolved;
    try {
      const { detectHostIdentity } = await import('../identity/host.js');
      resolved = await detectHostIdentity({ root: options.root, overrides: options.overrides, ...options.host });
      // The identity names os-release as a path under the root; the report names the file read.
      const osReleasePath = resolved.osReleasePath === null ? null : join(options.root ?? '/', resolved.osReleasePath);
      identity = {
        ...resolved.ref,
        source: resolved.source,
        notes: resolved.notes,
        osReleasePath,
      };
      log(
        `host: ${kernelKey(resolved.ref)} (from ${describeSource(resolved, osReleasePath)})${resolved.notes.length > 0 ? `; ${resolved.notes.join('; ')}` : ''}`,
      );
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      resolved = err;
      identity = { error: err.message };
      log(`host: cannot identify: ${err.message}`);
    }
    return resolved;
  };

  const run = async (layer: LayerName): Promise<LayerResult> => {
    switch (layer) {
      case 'configured':
        return configuredLayer({ path: options.btfPath });
      case 'kernel':
        return kernelLayer({ root: options.root, headerOnly: options.trim !== true });
      case 'bundle': {
        const skip = bundleSkipReason(options.dir);
        if (skip !== undefined) return skipped(skip);
        const host = await hostIdentity();
        if (host instanceof IdentityError) return failed(`the host's identity is unknown: ${host.message}`);
        const { bundleLayer } = await import('./bundle.js');
        return bundleLayer({ location: options.dir, kernel: host.ref });
      }
      case 'service': {
        const skip = serviceSkipReason({ server: options.server, offline: options.offline });
        if (skip !== undefined) return skipped(skip);
        const host = await hostIdentity();
        if (host instanceof IdentityError) return failed(`the host's identity is unknown: ${host.message}`);
        const { serviceLayer } = await import('./service.js');
        return serviceLayer({
          server: options.server,
          kernel: host.ref,
          objects: options.objects,
          timeoutMs: options.timeoutMs,
          client: options.client,
          log: (line) => log(`service: ${line}`),
        });
      }
    }
  };

  for (const layer of LAYERS) {
    const result = await run(layer);
    if (!result.ok) {
      reports.push({ layer, outcome: result.skipped ? 'skipped' : 'failed', reason: result.reason });
      log(`${layer}: ${result.skipped ? 'skipped' : 'failed'}: ${result.reason}`);
      continue;
    }
    const accepted = await accept(result, layer, objects, options.trim === true);
    if (!accepted.ok) {
      reports.push({ layer, outcome: 'failed', path: result.path, reason: accepted.reason });
      log(`${layer}: failed: ${accepted.reason}`);
      continue;
    }
    const detail = [result.detail, accepted.detail].filter((d) => d !== undefined).join('; ') || undefined;
    reports.push({ layer, outcome: 'answered', path: result.path, ...(detail !== undefined && { detail }) });
    for (const rest of LAYERS.slice(LAYERS.indexOf(layer) + 1)) reports.push({ layer: rest, outcome: 'not-tried' });
    log(`${layer}: answered: ${result.path}${detail !== undefined ? ` (${detail})` : ''}`);

    const btf = accepted.btf;
    let out: string | null = null;
    let error: string | null = null;
    if (btf !== null && options.out !== undefined) {
      error = await writeResult(options.out, btf, options.write ?? ((path, data) => writeCreatingDirectory(path, data)));
      if (error === null) out = options.out;
      else log(`${layer}: answered, but ${error}`);
    }
    return {
      btf,
      report: {
        ok: error === null,
        layer,
        path: result.path,
        out,
        size: btf?.length ?? null,
        sha256: btf === null ? null : (await import('node:crypto')).createHash('sha256').update(btf).digest('hex'),
        form: btf === null ? 'full' : accepted.form,
        identity,
        layers: reports,
        error,
      },
    };
  }
  return {
    btf: null,
    report: { ok: false, layer: null, path: null, out: null, size: null, sha256: null, form: null, identity, layers: reports, error: null },
  };
}

/** A missing directory of `out` that could not be created. */
class OutDirectoryError extends Error {
  override readonly name = 'OutDirectoryError';
}

/**
 * The default writer (and the CLI's, around its own atomic write): the directory of `path`
 * is created when missing, then `write` writes the file.
 */
export async function writeCreatingDirectory(
  path: string,
  data: Uint8Array,
  write: (path: string, data: Uint8Array) => Promise<void> = writeFileAtomic,
): Promise<void> {
  const dir = dirname(path);
  try {
    await new Promise<void>((resolve, reject) => mkdir(dir, { recursive: true }, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw new OutDirectoryError(`cannot create the directory ${dir}: ${fsReason(err)}`, { cause: err });
  }
  await write(path, data);
}

/** Writes the result; why it could not be written, or null. */
async function writeResult(out: string, btf: Uint8Array, write: (path: string, data: Uint8Array) => Promise<void>): Promise<string | null> {
  try {
    await write(out, btf);
    return null;
  } catch (err) {
    if (err instanceof OutDirectoryError) return err.message;
    const message = err instanceof Error ? err.message : String(err);
    // The CLI's writer already words it "PATH: reason"; a bare errno error gets the path here.
    return `cannot write ${message.startsWith(`${out}: `) ? message : `${out}: ${fsReason(err)}`}`;
  }
}

type Accepted = { ok: true; btf: Uint8Array | null; form: 'full' | 'trimmed'; detail?: string } | { ok: false; reason: string };

/**
 * Decodes a layer's answer as BTF and makes the result: the raw BTF (a .BTF section taken
 * out of an ELF, a .btf.tar.xz unpacked), trimmed when asked and the answer is a full
 * kernel BTF. The kernel's own BTF without --trim results in nothing (it stays in place).
 */
async function accept(
  result: Extract<LayerResult, { ok: true }>,
  layer: LayerName,
  objects: readonly BpfObject[],
  trim: boolean,
): Promise<Accepted> {
  if (result.checked === 'header') {
    // Only the kernel's own BTF without --trim comes as a checked header: nothing is made from it.
    return {
      ok: true,
      btf: null,
      form: 'full',
      detail: 'the kernel has its own BTF: nothing to fetch (its header checked); --trim writes a trimmed copy',
    };
  }
  const { Btf } = await import('../btf/btf.js');
  let btf: ReturnType<typeof Btf.parse>;
  try {
    // Raw BTF and ELF need no unpacking; only a .btf.tar.xz loads the archive reader (tar, xz).
    const raw =
      isRawBtf(result.bytes) || isElf(result.bytes)
        ? result.bytes
        : await (await import('../archive/kernel-btf.js')).readKernelBtfFile(result.bytes, result.path);
    btf = Btf.parse(raw);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const why = message.startsWith(`${result.path}: `) ? message.slice(result.path.length + 2) : message;
    return { ok: false, reason: `${result.path} does not decode as BTF: ${why}` };
  }
  if (result.form === 'trimmed' || !trim) {
    if (layer === 'kernel')
      return { ok: true, btf: null, form: 'full', detail: 'the kernel has its own BTF: nothing to fetch; --trim writes a trimmed copy' };
    return { ok: true, btf: btf.bytes, form: result.form };
  }
  // trimBtf throws a CodecError when a relocation is one libbpf rejects: that is the objects' fault, not the layer's.
  const { trimBtf } = await import('../btf/trim.js');
  const trimmed = trimBtf(btf, objects);
  Btf.parse(trimmed);
  return { ok: true, btf: trimmed, form: 'trimmed', detail: `trimmed here from ${btf.typeCount - 1} types to ${trimmed.length} bytes` };
}

function parseObjects(objects: FetchOptions['objects']): BpfObject[] {
  if (objects.length === 0) throw new TypeError('fetchBtf needs at least one BPF object');
  return objects.map((object) => parseBpfObject(object.bytes, object.name));
}

function describeSource(identity: ResolvedHostIdentity, osReleasePath: string | null): string {
  switch (identity.source) {
    case 'os-release':
      return osReleasePath ?? 'os-release';
    case 'kernel-release':
      return 'the kernel release';
    case 'override':
      return 'the given values';
  }
}

/** The report as `--json` prints it: snake_case keys, like the API. */
export function reportJson(report: FetchReport): Record<string, unknown> {
  const identity = report.identity;
  return {
    ok: report.ok,
    layer: report.layer,
    path: report.path,
    out: report.out,
    size: report.size,
    sha256: report.sha256,
    form: report.form,
    identity:
      identity === null || 'error' in identity
        ? identity
        : {
            distro: identity.distro,
            distro_version: identity.distroVersion,
            arch: identity.arch,
            kernel_version: identity.kernel,
            source: identity.source,
            notes: identity.notes,
            os_release_path: identity.osReleasePath,
          },
    layers: report.layers,
    error: report.error,
  };
}
