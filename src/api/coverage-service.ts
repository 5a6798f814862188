/**
 * What the coverage routes share: kernel filters from request fields, the registered kernels
 * a filter matches, submitting a compat or bundle job for uploaded objects, and job statuses
 * as the API shows them.
 *
 * Submitting follows POST /api/v1/btf: objects may come gzip-compressed, and every one must
 * parse as a BPF CO-RE object (422 otherwise) before anything is written; then the objects are stored (`objects/<sha256>.o`),
 * the job is enqueued under an id that hashes objects, filter and matched kernels, and the
 * request waits up to BTFHUB_REQUEST_WAIT_MS for it.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog, JobFileRole, KernelFilter, KernelRecord } from '../catalog/catalog.js';
import { type Distro, normalizeArch, normalizeDistro, normalizeDistroVersion, validateIdentityValue } from '../identity/kernel-identity.js';
import type { JobStatus } from '../queue/job.js';
import {
  type BundleJobResult,
  type CompatJobResult,
  type ObjectsJobData,
  objectsJobId,
  objectsRebuildJobId,
  type SyncJobData,
  type SyncJobResult,
  type UploadedObjectRef,
} from '../queue/kinds.js';
import { putContentAddressed } from '../storage/content-addressed.js';
import { readVerified, reportDamage } from '../storage/integrity.js';
import { bundleKey, compatReportKey, objectKey } from '../storage/keys.js';
import { filterBody } from '../coverage/compat-report.js';
import {
  COVERAGE_FILTER_FIELDS,
  CoverageFilterFields,
  type CoverageFilterInput,
  type CoverageJobStatusBody,
  type SyncRunBody,
} from './coverage-schemas.js';
import { CodecTaskError } from '../executor/codec-executor.js';
import { ApiError, boundExceeded, boundInMessage, missingField } from './errors.js';
import { parseInput } from './plugins/app/zod-validation.js';
import { MAX_PAGE_LIMIT } from './schemas.js';
import type { AppServices } from './services.js';
import { kernelLabel, objectsHash, recordIssuedJob } from './trim-service.js';
import { readUpload, type UploadedFile } from './uploads.js';

/** The status of a compat, bundle or sync job. */
export type CoverageJobStatus = JobStatus<ObjectsJobData | SyncJobData, CompatJobResult | BundleJobResult | SyncJobResult>;

/** The kernel filter of request fields, normalized like every identity (`focal` is 20.04, `aarch64` arm64). */
function filterFromFields(fields: CoverageFilterInput): KernelFilter {
  const filter: KernelFilter = {};
  let distro: Distro | undefined;
  if (fields.distro !== undefined) filter.distro = distro = normalizeDistro(fields.distro);
  if (fields.distro_version !== undefined) {
    filter.distroVersion =
      distro === undefined
        ? validateIdentityValue('distro_version', fields.distro_version)
        : normalizeDistroVersion(distro, fields.distro_version);
  }
  if (fields.arch !== undefined) filter.arch = normalizeArch(fields.arch);
  if (fields.kernel_version !== undefined && fields.kernel_version !== '') filter.kernelPrefix = fields.kernel_version;
  return filter;
}

/** Every registered kernel matching `filter`, in the catalog's order. */
export async function matchingKernels(catalog: Pick<Catalog, 'listKernels'>, filter: KernelFilter): Promise<KernelRecord[]> {
  const records: KernelRecord[] = [];
  for (let offset = 0; ; offset += MAX_PAGE_LIMIT) {
    const page = await catalog.listKernels(filter, { limit: MAX_PAGE_LIMIT, offset });
    records.push(...page.items);
    if (page.items.length < MAX_PAGE_LIMIT || records.length >= page.total) return records;
  }
}

/** What a set of kernels is: identities and file hashes. */
export function kernelsFingerprint(records: readonly KernelRecord[]): string {
  const hash = createHash('sha256');
  for (const r of records) hash.update(`${kernelLabel(r)} ${r.sha256}\n`);
  return hash.digest('hex');
}

function describeFilter(filter: KernelFilter): string {
  const parts = Object.entries(filterBody(filter)).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? 'no filter' : parts.join(', ');
}

export interface SubmittedJob {
  id: string;
  status: CoverageJobStatus;
  kernels: number;
  data: ObjectsJobData;
}

/** Checks the objects, stores them, enqueues the job and waits up to `waitMs` for it. */
async function submitObjectsJob(
  services: AppServices,
  kind: 'compat' | 'bundle',
  files: readonly UploadedFile[],
  filter: KernelFilter,
  waitMs: number,
): Promise<SubmittedJob> {
  // The same object twice is one object (as for trims); the first name given is its name.
  const distinct = new Map<string, UploadedFile>();
  for (const file of files) if (!distinct.has(file.sha256)) distinct.set(file.sha256, file);
  const hash = objectsHash([...distinct.keys()]);

  // Objects whose work killed workers (or a thread's heap) are answered without any work, as trims are.
  const refused = await services.refused.reason(hash);
  if (refused !== undefined) throw new ApiError(422, 'invalid_object', `these objects are refused for a while: ${refused}`, 'object');

  // Nothing is written before every object is known to be a CO-RE object: a failure here is a 422.
  try {
    await services.codec.checkObjects(files.map((file) => ({ name: file.filename, bytes: file.bytes, sha256: file.sha256 })));
  } catch (error) {
    if (error instanceof CodecTaskError && error.stage === 'memory') await services.refused.refuse(hash, error.message);
    throw error;
  }
  const kernels = await matchingKernels(services.catalog, filter);
  if (kernels.length === 0) {
    throw new ApiError(
      404,
      'kernel_not_found',
      `no registered kernel matches (${describeFilter(filter)}); GET /api/v1/coverage lists what there is`,
    );
  }
  const objects: UploadedObjectRef[] = [];
  for (const [sha256, file] of distinct) {
    objects.push({ sha256, name: file.filename });
    await putContentAddressed(services.store, objectKey(sha256), file.bytes, 'object');
    await services.catalog.recordObject(sha256, file.bytes.length);
  }
  const id = objectsJobId(kind, objects, filter, kernelsFingerprint(kernels));
  const data: ObjectsJobData = { kind, objects, objectsHash: hash, filter };
  await services.queue.enqueue(kind, id, data);
  await recordIssuedJob(services.catalog, id, kind);
  const status = await services.queue.waitFor(kind, id, waitMs);
  // A job that stopped every worker it ran on: its objects are refused for a while.
  if (status.state === 'failed' && status.error?.poisoned === true) await services.refused.refuse(hash, status.error.message);
  return { id, status, kernels: kernels.length, data };
}

/**
 * Why a finished job's stored file is not sent: it is gone (404), or it was damaged (500),
 * in which case it has been removed. Either way a POST of the same request makes it again.
 */
export class StoredResultUnavailable extends ApiError {
  constructor(
    readonly damaged: boolean,
    kind: 'compat' | 'bundle',
    jobId: string,
  ) {
    const what = kind === 'compat' ? 'report' : 'bundle';
    super(
      damaged ? 500 : 404,
      damaged ? 'result_damaged' : 'job_not_found',
      damaged
        ? `the stored ${what} of job ${jobId} is damaged (its sha256 is not the one recorded) and was removed; submit the request again (POST /api/v1/${kind}) to make it again`
        : `the ${what} of job ${jobId} is no longer stored; POST /api/v1/${kind} makes it again`,
    );
  }
}

/**
 * The stored files of job `jobId` (`roles`, in order), each checked against the sha256 its
 * catalog row holds (`job_files`). None is ever returned unchecked: a file without a row
 * (never recorded, or stored before migration 005) or gone is StoredResultUnavailable(404);
 * a damaged one is logged and counted, removed with the job's other files and their rows (so
 * a re-submission makes them all again), and StoredResultUnavailable(500).
 */
export async function readJobFiles(
  services: Pick<AppServices, 'store' | 'catalog'>,
  kind: 'compat' | 'bundle',
  jobId: string,
  roles: readonly JobFileRole[],
): Promise<Uint8Array[]> {
  const rows = await Promise.all(roles.map((role) => services.catalog.getJobFile(jobId, role)));
  const files: Uint8Array[] = [];
  let damaged = false;
  let missing = false;
  for (const row of rows) {
    if (row === null) {
      missing = true;
      continue;
    }
    const read = await readVerified(services.store, row.storageKey, row.sha256);
    if (read.state === 'ok') files.push(read.bytes);
    else if (read.state === 'missing') missing = true;
    else {
      damaged = true;
      reportDamage({
        kind: kind === 'compat' ? 'compat_report' : 'bundle',
        key: row.storageKey,
        expected: row.sha256,
        actual: read.actual,
        action: 'removed',
      });
    }
  }
  if (!damaged && !missing) return files;
  // Whatever is left of the job's files goes too: a rebuild writes them all again, together.
  for (const row of rows) {
    if (row === null) continue;
    if (damaged) await services.store.delete(row.storageKey);
    await services.catalog.deleteJobFile(jobId, row.role, row.storageKey);
  }
  throw new StoredResultUnavailable(damaged, kind, jobId);
}

/**
 * Sends the stored result of completed job `submitted`; when it is gone or was damaged (and
 * removed), makes it again first: the queue remembers the job as done, so a job of a fresh
 * id runs it again and records its files for this one, within the request's wait.
 */
async function sendOrRebuild(
  services: AppServices,
  reply: FastifyReply,
  kind: 'compat' | 'bundle',
  submitted: SubmittedJob,
  sendResult: SendJobResult,
): Promise<FastifyReply> {
  try {
    return await sendResult(reply, submitted.id);
  } catch (error) {
    if (!(error instanceof StoredResultUnavailable)) throw error;
  }
  const rebuildId = objectsRebuildJobId(kind, submitted.id);
  await services.queue.enqueue(kind, rebuildId, { ...submitted.data, resultFor: submitted.id });
  await recordIssuedJob(services.catalog, rebuildId, kind);
  const again = await services.queue.waitFor(kind, rebuildId, services.config.requestWaitMs);
  if (again.state === 'completed') return sendResult(reply, submitted.id);
  if (again.state === 'failed') throw coverageJobFailure(again);
  return sendJobPending(reply, again);
}

/** Sends the stored result of a finished job (the report, the bundle). */
export type SendJobResult = (reply: FastifyReply, jobId: string) => Promise<FastifyReply>;

/**
 * `POST /api/v1/{compat,bundle}`: the request's objects (`object` parts, gzip accepted) and
 * kernel filter, submitted as a job of `kind`; its result sent when it ends within
 * BTFHUB_REQUEST_WAIT_MS, its failure answered, else 202 with where to follow it.
 */
export async function answerObjectsJob(
  request: FastifyRequest,
  reply: FastifyReply,
  kind: 'compat' | 'bundle',
  sendResult: SendJobResult,
): Promise<FastifyReply> {
  const services = request.server.services;
  const upload = await readUpload(request, {
    fileFields: ['object'],
    textFields: COVERAGE_FILTER_FIELDS,
    rejectUnknown: true,
    decompress: true,
  });
  const filter = filterFromFields(parseInput(CoverageFilterFields, upload.fields));
  if (upload.files.length === 0) throw missingField('object', 'at least one BPF object is required, as a file part named "object"');
  const submitted = await submitObjectsJob(services, kind, upload.files, filter, services.config.requestWaitMs);
  const { status } = submitted;
  if (status.state === 'completed') return sendOrRebuild(services, reply, kind, submitted, sendResult);
  if (status.state === 'failed') throw coverageJobFailure(status);
  return sendJobPending(reply, status);
}

/** `GET /api/v1/{compat,bundle}/{id}`: 202 while the job runs, its failure, else its stored result. */
export async function answerJobResult(
  request: FastifyRequest,
  reply: FastifyReply,
  kind: 'compat' | 'bundle',
  id: string,
  sendResult: SendJobResult,
): Promise<FastifyReply> {
  const status = await request.server.services.queue.status(kind, id);
  if (status.state === 'waiting' || status.state === 'active') return sendJobPending(reply, status);
  if (status.state === 'failed') throw coverageJobFailure(status);
  return sendResult(reply, id);
}

/** 202: still running; Location says where to follow it. */
export function sendJobPending(reply: FastifyReply, status: Pick<JobStatus, 'id' | 'state'>): FastifyReply {
  return reply
    .code(202)
    .header('location', `/api/v1/jobs/${encodeURIComponent(status.id)}`)
    .send({ job_id: status.id, state: status.state === 'unknown' ? 'waiting' : status.state });
}

/** A failed job as an answer: 422 when the request was at fault, 500 otherwise. */
function coverageJobFailure(status: Pick<JobStatus, 'id' | 'error'>): ApiError {
  const message = status.error?.message ?? 'unknown error';
  const bound = boundInMessage(message);
  if (bound !== undefined) return boundExceeded(message, bound);
  if (status.error?.clientError) return new ApiError(422, 'invalid_object', message, 'object');
  return new ApiError(500, 'internal_error', `job ${status.id} failed: ${message}`);
}

/** Where a finished job's result is served. */
export function resultUrl(id: string, kind: 'compat' | 'bundle'): string {
  return `/api/v1/${kind}/${encodeURIComponent(id)}`;
}

export function resultKey(id: string, kind: 'compat' | 'bundle'): string {
  return kind === 'compat' ? compatReportKey(id) : bundleKey(id);
}

const iso = (date: Date | undefined) => date?.toISOString();

/** What anonymous callers see in place of a sync's path, bucket, file names or error message. */
export const HIDDEN_DETAIL = '(shown with the admin token)';

/**
 * A coverage job's status as anonymous callers see it: a sync's source, invalid file names and
 * error message (which may name paths and hosts) are the admin's; other kinds are unchanged.
 */
export function withoutSyncDetails(body: CoverageJobStatusBody): CoverageJobStatusBody {
  if (body.kind !== 'sync') return body;
  const hidden: CoverageJobStatusBody = { ...body, source: HIDDEN_DETAIL };
  if (body.error !== undefined) hidden.error = { ...body.error, message: HIDDEN_DETAIL };
  if (body.result !== undefined && 'invalid_files' in body.result)
    hidden.result = { ...body.result, source: HIDDEN_DETAIL, invalid_files: [] };
  return hidden;
}

/** A coverage job's status as `GET /api/v1/jobs/{id}` shows it (the CoverageJobStatus schema). */
export function coverageJobBody(status: CoverageJobStatus): CoverageJobStatusBody {
  if (status.state === 'unknown' || status.data === undefined) throw new Error('coverageJobBody: unknown job');
  const data = status.data;
  const body: CoverageJobStatusBody = { job_id: status.id, kind: data.kind, state: status.state };
  if (status.attempts !== undefined) body.attempts = status.attempts;
  if (status.createdAt !== undefined) body.created_at = iso(status.createdAt);
  if (status.startedAt !== undefined) body.started_at = iso(status.startedAt);
  if (status.finishedAt !== undefined) body.finished_at = iso(status.finishedAt);
  if (status.progress !== undefined) body.progress = { ...status.progress };
  if (data.kind === 'sync') body.source = data.source;
  else {
    body.objects = data.objects.map((o) => ({ name: o.name, sha256: o.sha256 }));
    body.filter = filterBody(data.filter);
  }
  if (status.error !== undefined) body.error = { message: status.error.message, client_error: status.error.clientError };
  const result = status.result;
  if (result?.kind === 'compat') {
    body.result = {
      kernels: result.kernels,
      unreadable: result.unreadable,
      loadable: result.loadable,
      all_resolved: result.allResolved,
      relocations: result.relocations,
      duration_ms: result.durationMs,
      url: resultUrl(status.id, 'compat'),
    };
  } else if (result?.kind === 'bundle') {
    body.result = {
      kernels: result.kernels,
      distinct: result.distinct,
      failed: result.failed,
      failures: result.failures,
      size: result.size,
      sha256: result.sha256,
      bytes: result.bytes,
      duration_ms: result.durationMs,
      url: resultUrl(status.id, 'bundle'),
    };
  } else if (result?.kind === 'sync') {
    body.result = syncSummaryBody(result);
  }
  return body;
}

function syncSummaryBody(result: Extract<CoverageJobStatus['result'], { kind: 'sync' }>) {
  return {
    source: result.source,
    added: result.added,
    updated: result.updated,
    unchanged: result.unchanged,
    invalid: result.invalid,
    invalid_files: result.invalidFiles,
    markers: result.markers,
    aliases: result.aliases,
    ignored: result.ignored,
    unread: result.unread,
    copied: result.copied,
    duration_ms: result.durationMs,
  };
}

/** A sync job as an entry of `GET /api/v1/sync`. */
export function syncRunBody(status: CoverageJobStatus): SyncRunBody {
  const data = status.data?.kind === 'sync' ? status.data : undefined;
  const body: SyncRunBody = {
    job_id: status.id,
    trigger: data?.trigger ?? 'schedule',
    state: status.state === 'unknown' ? 'waiting' : status.state,
    source: data?.source ?? '',
  };
  if (status.createdAt !== undefined) body.created_at = iso(status.createdAt);
  if (status.startedAt !== undefined) body.started_at = iso(status.startedAt);
  if (status.finishedAt !== undefined) body.finished_at = iso(status.finishedAt);
  if (status.progress !== undefined) body.progress = { ...status.progress };
  if (status.error !== undefined) body.error = { message: status.error.message, client_error: status.error.clientError };
  if (status.result?.kind === 'sync') body.summary = syncSummaryBody(status.result);
  return body;
}
