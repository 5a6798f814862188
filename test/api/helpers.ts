/**
 * An API under test: `buildApp` over the embedded backends of a temporary data directory
 * (`createBackends`, as `btfhub serve` makes them: fs store, SQLite catalog, in-process queue
 * running the real processors), with the fixture kernel registered, ready for `app.inject()`.
 * Torn down with the test.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import type { Test } from 'tap';
import { buildApp } from '../../src/api/app.js';
import { ServiceMetrics } from '../../src/api/metrics.js';
import type { ApiConfig } from '../../src/api/limits.js';
import { makeBtfTarXz } from '../../src/archive/kernel-btf.js';
import type { CatalogBackend, KernelRef } from '../../src/catalog/index.js';
import { loadConfig } from '../../src/config/schema.js';
import type { JobQueue } from '../../src/queue/job.js';
import type { JobKinds } from '../../src/queue/kinds.js';
import type { CodecExecutor } from '../../src/executor/codec-executor.js';
import { createBackends } from '../../src/service/backends.js';
import { kernelKey } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { type FixtureSet, loadFixtures, PREBUILT_OBJECTS } from '../helpers/fixtures.js';

/** The fixture objects every fixture set has. */
export type CommonFixture = (typeof PREBUILT_OBJECTS)[number];

/** The fixture kernel, stored as raw BTF. */
export const RAW_KERNEL: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
/**
 * A kernel stored as a BTFHub .btf.tar.xz (only when `withArchiveKernel`). Its BTF is a small
 * one (`ARCHIVE_KERNEL_BTF`: bpftool's output over all fixtures) so xz stays quick.
 */
export const XZ_KERNEL: KernelRef = { distro: 'debian', distroVersion: '11', arch: 'arm64', kernel: '5.10.0-26-arm64' };

export const RAW_FIELDS = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' };
/** The form fields naming XZ_KERNEL. */
export const XZ_FIELDS = {
  distro: XZ_KERNEL.distro,
  distro_version: XZ_KERNEL.distroVersion,
  arch: XZ_KERNEL.arch,
  kernel_version: XZ_KERNEL.kernel,
};

export interface TestApi {
  app: FastifyInstance;
  fixtures: FixtureSet;
  store: ObjectStore;
  catalog: CatalogBackend;
  queue: JobQueue<JobKinds>;
  metrics: ServiceMetrics;
  /** The codec executor the app and the jobs use (worker threads unless BTFHUB_CODEC_THREADS=0). */
  codec: CodecExecutor;
  dir: string;
}

export interface TestApiOptions {
  requestWaitMs?: number;
  maxFileBytes?: number;
  maxFiles?: number;
  /** Also register XZ_KERNEL from a .btf.tar.xz (costs an xz run). */
  withArchiveKernel?: boolean;
  /** More settings for buildApp (limits, rate limit, admin token...). */
  config?: Partial<ApiConfig>;
  /** Environment of the backends' configuration on top of the helper's (codec bounds, threads). */
  env?: Record<string, string>;
  /** The archive sync POST /api/v1/sync runs (none by default). */
  sync?: { source: string | null; intervalMs?: number };
  /** Replace dependencies (failure injection). */
  wrap?: (deps: { store: ObjectStore; catalog: CatalogBackend; queue: JobQueue<JobKinds> }) => Partial<{
    store: ObjectStore;
    catalog: CatalogBackend;
    queue: JobQueue<JobKinds>;
  }>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The BTF inside XZ_KERNEL's archive. */
export const archiveKernelBtf = (fixtures: FixtureSet) => fixtures.oracle.all;

export async function registerKernel(
  store: ObjectStore,
  catalog: CatalogBackend,
  ref: KernelRef,
  format: 'btf' | 'btf.tar.xz',
  bytes: Uint8Array,
) {
  const storageKey = kernelKey(ref, format);
  await store.put(storageKey, bytes);
  await catalog.upsertKernel({ ...ref, storageKey, size: bytes.length, sha256: sha256(bytes) });
}

export async function setupApi(t: Test, options: TestApiOptions = {}): Promise<TestApi> {
  const fixtures = await loadFixtures();
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-api-'));
  const config = loadConfig({
    BTFHUB_DATA_DIR: dir,
    BTFHUB_WORKER_CONCURRENCY: '2',
    BTFHUB_KERNEL_CACHE_BYTES: String(512 * 1024 * 1024),
    BTFHUB_REGISTER_HOST_KERNEL: 'false',
    ...options.env,
  });
  // Server errors retried after 10 ms, not seconds.
  const backends = createBackends(config, {
    logger: pino({ level: 'silent' }),
    policies: (p) => ({ ...p, trim: { ...p.trim, backoffMs: 10 } }),
  });
  const { store, catalog } = await backends.prepare();
  const queue = await backends.jobs();
  const { codec } = backends;
  await registerKernel(store, catalog, RAW_KERNEL, 'btf', fixtures.vmlinux);
  if (options.withArchiveKernel) {
    const archive = await makeBtfTarXz(XZ_KERNEL.kernel, archiveKernelBtf(fixtures));
    await registerKernel(store, catalog, XZ_KERNEL, 'btf.tar.xz', archive);
  }
  const deps = { store, catalog, queue, ...options.wrap?.({ store, catalog, queue }) };
  const metrics = new ServiceMetrics({
    decodedKernels: { count: () => codec.decodedKernels().count, bytes: () => codec.decodedKernels().bytes },
  });
  const app = await buildApp({
    config: {
      requestWaitMs: options.requestWaitMs ?? 30_000,
      maxFileBytes: options.maxFileBytes ?? 64 * 1024 * 1024,
      maxFiles: options.maxFiles ?? 16,
      ...options.config,
    },
    store: deps.store,
    catalog: deps.catalog,
    queue: deps.queue,
    codec,
    metrics,
    ...(options.sync !== undefined && { sync: options.sync }),
  });
  t.teardown(async () => {
    await app.close();
    await backends.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, fixtures, store, catalog, queue, metrics, codec, dir };
}

export interface Part {
  name: string;
  /** A file part when set. */
  filename?: string;
  data: Uint8Array | string;
  contentType?: string;
}

/** A multipart/form-data body built by hand, so tests control every byte. */
export function multipart(parts: readonly Part[], boundary = `----btfhub${Math.random().toString(16).slice(2)}`) {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.filename !== undefined || part.contentType !== undefined)
      head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** The parts of POST /api/v1/btf for the raw kernel and the given objects. */
export function btfForm(objects: readonly { name: string; bytes: Uint8Array }[], fields: Record<string, string> = RAW_FIELDS) {
  return multipart([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    ...objects.map((o) => ({ name: 'object', filename: `${o.name}.bpf.o`, data: o.bytes })),
  ]);
}

/**
 * A fixture object by name. Only objects of both fixture sets (the built one and the
 * committed prebuilt one a machine without clang/bpftool falls back to) may be used, so the
 * API tests pass on either: asking for another fails at once, even where it was built.
 */
export function fixtureObject(fixtures: FixtureSet, name: CommonFixture): { name: string; bytes: Uint8Array } {
  if (!(PREBUILT_OBJECTS as readonly string[]).includes(name))
    throw new Error(`${name} is not in the prebuilt fixture set; use one of ${PREBUILT_OBJECTS.join(', ')}`);
  const object = fixtures.objects.get(name);
  if (object === undefined) throw new Error(`fixture object ${name} missing`);
  return { name, bytes: object.bytes };
}

export function oracle(fixtures: FixtureSet, name: string): Uint8Array {
  const bytes = fixtures.oracle.single.get(name);
  if (bytes === undefined) throw new Error(`no bpftool output for ${name}`);
  return bytes;
}

/** An assertion message: the status, plus the body when it is an error (JSON). */
export function why(res: LightMyRequestResponse): string {
  return res.statusCode < 400 ? `status ${res.statusCode}` : `status ${res.statusCode}: ${res.body.slice(0, 300)}`;
}

/** Every object key under `prefix`. */
export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

/** An ELF CO-RE object with its .BTF.ext section renamed, so it has none. */
export function withoutBtfExt(bytes: Uint8Array): Uint8Array {
  const copy = Buffer.from(bytes);
  const needle = Buffer.from('.BTF.ext\0');
  let at = copy.indexOf(needle);
  if (at < 0) throw new Error('no .BTF.ext name in the object');
  while (at >= 0) {
    copy.write('.BTF.exx', at, 'latin1');
    at = copy.indexOf(needle, at + 1);
  }
  return new Uint8Array(copy);
}
