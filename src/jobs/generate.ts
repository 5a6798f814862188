/**
 * The generate job: a kernel's BTF made with pahole (src/generate) from an uploaded debug
 * package (`data.package`, read from the object store into a temporary file, so any worker
 * can run it) or from the debug repositories configured for the kernel's distro; stored as
 * `<distro>/<distro_version>/<arch>/<kernel>.btf.tar.xz`, registered in the catalog with its
 * provenance, and, when the job was started by a miss on POST /api/v1/btf, followed by the
 * trim that request asked for (`data.trimAfter`).
 *
 * Failures of the kernel (a GenerateError) leave BTFHub's `.failed` marker beside where the
 * BTF would be, holding `{code, reason, at}`, recorded in the catalog's kernel markers, and
 * register nothing; a later success removes it. The marker is also the negative cache of
 * repository generations (GenerationGate over `MarkerFailures`): a kernel that failed is
 * refused (RECENTLY_FAILED) until BTFHUB_GENERATE_RETRY_MS has passed. An uploaded package is
 * always tried. The uploaded package is deleted from the store once the job has run.
 *
 * Bounds: the whole job is cut at BTFHUB_GENERATE_TIMEOUT_MS (an AbortSignal kills pahole or
 * the decompressor), pahole's address space at BTFHUB_GENERATE_MEMORY_BYTES, the package at
 * BTFHUB_MAX_PACKAGE_BYTES, extraction by the library's defaults.
 *
 * Safe to run twice: the same package gives the same BTF, the kernel upsert is then
 * `unchanged`, provenance is replaced with equal values.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Catalog, KernelRef } from '../catalog/catalog.js';
import type { GenerateSettings } from '../config/schema.js';
import { type CodecExecutor, CodecTaskError, type KernelCheck } from '../executor/codec-executor.js';
import {
  CORE_KERNEL_STRUCTS,
  DEFAULT_GENERATION_LIMITS,
  type FailureCache,
  GenerateError,
  type GenerateErrorCode,
  type GenerateFailure,
  type GeneratedKernelBtf,
  generateFromRepositories,
  generateKernelBtf,
  GenerationGate,
  type GenerationLimits,
  kernelBtfFileBytes,
  type KernelBtfChecker,
  lacksCoreStructs,
  parseRepositoriesByDistro,
  undecodableBtf,
} from '../generate/index.js';
import { IdentityError, normalizeKernelRef } from '../identity/kernel-identity.js';
import { JobError, type JobProcessor } from '../queue/job.js';
import type { GenerateJobData, GenerateJobResult, TrimJobData, TrimJobResult } from '../queue/kinds.js';
import { getFileStreaming } from '../storage/file-transfer.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { isSha256Hex, kernelContentKey, kernelMarkerKey, packageKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface GenerateProcessorDeps {
  store: ObjectStore;
  catalog: Catalog;
  logger: Logger;
  settings: GenerateSettings;
  /** The trim processor, for `trimAfter`. */
  trim: JobProcessor<TrimJobData, TrimJobResult>;
  /** Parent of the temporary directories (packages read from the store, pahole's work); the system's by default. */
  tmpDir?: string;
  /** pahole to run (tests use failing or slow stand-ins); `pahole` on the PATH by default. */
  paholePath?: string;
  /** Decodes pahole's BTF off this thread (worker threads in the service); checked inline without it. */
  codec?: CodecExecutor;
}

/**
 * GenerateError codes that say the uploaded package is at fault (a 4xx for whoever sent it),
 * not the service or the repository.
 */
const PACKAGE_FAULTS: ReadonlySet<GenerateErrorCode> = new Set([
  'NOT_A_PACKAGE',
  'UNSUPPORTED',
  'TRUNCATED',
  'CORRUPT',
  'LIMIT',
  'NO_VMLINUX',
  'RELEASE_MISMATCH',
  'BAD_RELEASE',
  'NO_DWARF',
  'BAD_BTF',
]);

export function createGenerateProcessor(deps: GenerateProcessorDeps): JobProcessor<GenerateJobData, GenerateJobResult> {
  const { store, catalog, logger, settings } = deps;
  // Checked when the service starts, not at the first miss: a typo in a URL stops the process.
  const repositories = parseRepositoriesByDistro(settings.repositories, { failureRetryMs: settings.retryMs });

  return async (data, context) => {
    const started = performance.now();
    const { ref, pkg } = checkJobData(data);
    const label = `${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`;
    const log = logger.child({ jobId: context.id, kernel: label });

    const abort = new AbortController();
    const timer = setTimeout(
      () =>
        abort.abort(
          new GenerateError(
            'TIMEOUT',
            `the generation ran longer than its bound of ${settings.timeoutMs} ms (BTFHUB_GENERATE_TIMEOUT_MS) and was stopped`,
          ),
        ),
      settings.timeoutMs,
    );
    const workDir = await mkdtemp(join(deps.tmpDir ?? tmpdir(), 'btfhub-generate-job-'));
    try {
      const limits: GenerationLimits = {
        ...DEFAULT_GENERATION_LIMITS,
        maxInputBytes: settings.maxPackageBytes,
        extractTimeoutMs: Math.min(DEFAULT_GENERATION_LIMITS.extractTimeoutMs, settings.timeoutMs),
        paholeTimeoutMs: Math.min(DEFAULT_GENERATION_LIMITS.paholeTimeoutMs, settings.timeoutMs),
        paholeMemoryBytes: settings.memoryBytes,
      };
      const options = {
        limits,
        tmpDir: workDir,
        signal: abort.signal,
        onProgress: (event: { phase: string; message: string }) => log.info({ phase: event.phase }, event.message),
        ...(deps.paholePath !== undefined && { paholePath: deps.paholePath }),
        ...(deps.codec !== undefined && { checkBtf: generatedBtfCheckOn(deps.codec) }),
      };
      const gate = new GenerationGate({
        failures: new MarkerFailures(store, catalog, ref),
        retryAfterMs: pkg === undefined ? settings.retryMs : 0,
      });

      // A job started by a miss finds the kernel there when another job made it meanwhile.
      const existing = pkg === undefined ? await catalog.getKernel(ref) : null;
      let result: GenerateJobResult;
      if (existing !== null) {
        const provenance = await catalog.getKernelProvenance(ref);
        log.info('kernel registered meanwhile; not generated again');
        result = {
          kind: 'generate',
          kernel: ref,
          storageKey: existing.storageKey,
          sha256: existing.sha256,
          size: existing.size,
          generated: false,
          typeCount: 0,
          package: provenance?.package ?? null,
          pahole: provenance === null ? null : { ...provenance.pahole, durationMs: 0, peakRssBytes: null },
          durationMs: 0,
        };
      } else {
        let generated: GeneratedKernelBtf;
        try {
          if (pkg !== undefined) {
            const file = join(workDir, pkg.fileName.replace(/[^A-Za-z0-9._+~-]/g, '_') || 'package');
            if (!(await getFileStreaming(store, pkg.key, file))) {
              throw new JobError('OBJECT_MISSING', false, `the uploaded package ${pkg.key} is not in the store ${store.description}`, {
                retryable: false,
              });
            }
            generated = await gate.run(label, () => generateKernelBtf({ file, kernel: ref.kernel, sha256: pkg.sha256 }, options));
          } else {
            const config = repositories.get(ref.distro);
            if (config === undefined) {
              throw new GenerateError(
                'NOT_FOUND',
                `no debug package repositories are configured for ${ref.distro} (BTFHUB_GENERATE_REPOSITORIES), so kernel ${ref.kernel} cannot be looked up`,
              );
            }
            generated = await gate.run(label, () =>
              generateFromRepositories(ref.kernel, { ...options, config: config, gate: passThroughGate() }),
            );
          }
        } catch (error) {
          throw generateFailure(error, pkg !== undefined);
        }
        result = await register(deps, ref, generated, pkg?.fileName);
        result.durationMs = Math.round(performance.now() - started);
        log.info(
          {
            key: result.storageKey,
            size: result.size,
            types: result.typeCount,
            paholeMs: result.pahole?.durationMs,
            paholePeakRss: result.pahole?.peakRssBytes,
          },
          'kernel generated and registered',
        );
      }
      if (data.trimAfter !== undefined) {
        result.trim = await deps.trim(
          { objectHashes: data.trimAfter.objectHashes, objectsHash: data.trimAfter.objectsHash, kernel: ref },
          context,
        );
      }
      result.durationMs = Math.round(performance.now() - started);
      return result;
    } finally {
      clearTimeout(timer);
      await rm(workDir, { recursive: true, force: true });
      // The upload served its one job: whatever happened, it is not kept.
      if (pkg !== undefined)
        await store.delete(pkg.key).catch((error: unknown) => log.warn({ err: error }, 'uploaded package not deleted'));
    }
  };
}

/** Stores the `.btf.tar.xz`, registers it and its provenance. */
async function register(
  deps: GenerateProcessorDeps,
  ref: KernelRef,
  generated: GeneratedKernelBtf,
  uploadName: string | undefined,
): Promise<GenerateJobResult> {
  const bytes = await kernelBtfFileBytes({ release: ref.kernel, btf: generated.btf }, 'btf.tar.xz');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // As an admin upload: content first, under its own sha256 (never over an older kernel's
  // content, and never replaced by an --archive copy of the same identity), then the catalog.
  const storageKey = kernelContentKey(sha256, 'btf.tar.xz');
  await putContentAddressed(deps.store, storageKey, bytes, 'kernel');
  await deps.catalog.upsertKernel({ ...ref, storageKey, size: bytes.length, sha256 });
  const source = generated.source;
  const pkg = {
    file: uploadName ?? source.fileName,
    name: source.package?.name ?? null,
    version: source.package?.version ?? null,
    sha256: source.sha256,
    url: source.url ?? null,
  };
  await deps.catalog.recordKernelProvenance({
    ...ref,
    kernelSha256: sha256,
    package: pkg,
    pahole: { version: generated.pahole.version, flags: generated.pahole.flags },
    generatedAt: new Date(generated.finishedAt),
  });
  return {
    kind: 'generate',
    kernel: ref,
    storageKey,
    sha256,
    size: bytes.length,
    generated: true,
    typeCount: generated.typeCount,
    package: pkg,
    pahole: { ...generated.pahole, peakRssBytes: generated.pahole.peakRssBytes ?? null },
    durationMs: 0,
  };
}

/**
 * A failure as the job's error. The message starts with the GenerateError's code. An uploaded
 * package at fault is a client error; a repository generation never is, so asking again runs
 * the job again (and the `.failed` marker answers until the retry time).
 */
function generateFailure(error: unknown, uploaded: boolean): unknown {
  if (!(error instanceof GenerateError)) return error;
  const clientError = uploaded && PACKAGE_FAULTS.has(error.code);
  return new JobError('GENERATE_FAILED', clientError, `${error.code}: ${error.message}`, { cause: error, retryable: false });
}

/** generateFromRepositories takes a gate of its own; the job's (over the marker) is the one that counts. */
function passThroughGate(): GenerationGate {
  return new GenerationGate({ retryAfterMs: 0, failures: { get: async () => undefined, put: async () => {}, delete: async () => {} } });
}

/**
 * The negative cache of one kernel, kept as BTFHub's `.failed` marker: the file (JSON
 * `{code, reason, at}`) beside where the kernel's BTF would be, and its catalog record (what
 * coverage counts). A marker that is not ours (an archive's empty one) holds no failure time,
 * so it does not stop a generation.
 */
class MarkerFailures implements FailureCache {
  private readonly key: string;

  constructor(
    private readonly store: ObjectStore,
    private readonly catalog: Catalog,
    private readonly ref: KernelRef,
  ) {
    this.key = kernelMarkerKey(ref, 'failed');
  }

  async get(): Promise<GenerateFailure | undefined> {
    const bytes = await this.store.get(this.key);
    if (bytes === null) return undefined;
    try {
      const failure = JSON.parse(new TextDecoder().decode(bytes)) as Partial<GenerateFailure>;
      if (
        typeof failure.code === 'string' &&
        typeof failure.reason === 'string' &&
        typeof failure.at === 'string' &&
        !Number.isNaN(Date.parse(failure.at))
      ) {
        return { code: failure.code, reason: failure.reason, at: failure.at };
      }
    } catch {
      // Not one of ours.
    }
    return undefined;
  }

  async put(_release: string, failure: GenerateFailure): Promise<void> {
    await this.store.put(this.key, new TextEncoder().encode(`${JSON.stringify(failure)}\n`));
    await this.catalog.recordKernelMarker({ ...this.ref, marker: 'failed', storageKey: this.key });
  }

  async delete(): Promise<void> {
    await this.store.delete(this.key);
    await this.catalog.deleteKernelMarker(this.ref, 'failed');
  }
}

function checkJobData(data: GenerateJobData): { ref: KernelRef; pkg: GenerateJobData['package'] } {
  if (typeof data !== 'object' || data === null || data.kind !== 'generate') throw new JobError('INVALID_JOB', true, 'not a generate job');
  let ref: KernelRef;
  try {
    const kernel: Partial<KernelRef> = data.kernel ?? {};
    ref = normalizeKernelRef({ distro: kernel.distro, distroVersion: kernel.distroVersion, arch: kernel.arch, kernel: kernel.kernel });
  } catch (error) {
    if (error instanceof IdentityError) throw new JobError('INVALID_JOB', true, error.message, { cause: error });
    throw error;
  }
  const pkg = data.package;
  if (pkg !== undefined && (!isSha256Hex(pkg.sha256) || pkg.key !== packageKey(pkg.sha256) || typeof pkg.fileName !== 'string')) {
    throw new JobError('INVALID_JOB', true, `invalid package reference ${JSON.stringify(pkg)}`);
  }
  const trim = data.trimAfter;
  if (
    trim !== undefined &&
    (!Array.isArray(trim.objectHashes) || !trim.objectHashes.every(isSha256Hex) || !isSha256Hex(trim.objectsHash))
  ) {
    throw new JobError('INVALID_JOB', true, 'invalid objects to trim after the generation');
  }
  return { ref, pkg };
}

/** pahole's BTF checked as `checkKernelBtf` checks it (same refusals), decoded on the codec executor. */
function generatedBtfCheckOn(codec: CodecExecutor): KernelBtfChecker {
  return async (bytes, what) => {
    let check: KernelCheck;
    try {
      check = await codec.checkKernel(bytes, { structs: CORE_KERNEL_STRUCTS });
    } catch (error) {
      if (error instanceof CodecTaskError && (error.stage === 'kernel' || error.stage === 'memory' || error.stage === 'timeout'))
        throw undecodableBtf(what, error.message, error);
      throw error;
    }
    if (check.missingStructs.length > 0) throw lacksCoreStructs(what, check.missingStructs);
    return { typeCount: check.typeCount };
  };
}
