/**
 * The catalog in PostgreSQL, through a pg connection pool.
 *
 * An optional schema isolates the catalog's tables (tests give each run its own). It is set as
 * the `search_path` of every pooled connection through the startup `options` parameter, so no
 * query can run on a connection before the path is in place, and it is created by `migrate()`
 * when missing.
 */
import pg from 'pg';
import type {
  AppliedMigration,
  Catalog,
  CatalogInspection,
  DerivedFileRecord,
  JobFileRecord,
  JobFileRole,
  ImportedFileRecord,
  KernelFilter,
  KernelMarkerRecord,
  KernelMarker,
  KernelProvenance,
  KernelRecord,
  KernelRef,
  ObjectRecord,
  Page,
  TrimHits,
  TrimRecord,
  UpsertOutcome,
} from './catalog.js';
import { kernelFilterCondition } from './kernel-filter.js';
import { loadMigrations, pendingMigrations } from './migrations.js';
import {
  assertValidPage,
  type Clock,
  derivedFileFromRow,
  type DerivedFileRow,
  jobFileFromRow,
  type JobFileRow,
  importedFileFromRow,
  type ImportedFileRow,
  kernelFromRow,
  kernelMarkerFromRow,
  KERNEL_PROVENANCE_COLUMNS,
  kernelProvenanceFromRow,
  kernelProvenanceParams,
  type KernelProvenanceRow,
  type KernelMarkerRow,
  type KernelRow,
  kernelRefParams,
  migrationFromRow,
  type MigrationRow,
  objectFromRow,
  type ObjectRow,
  toNumber,
  trimFromRow,
  type TrimRow,
} from './rows.js';

export interface PostgresCatalogOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  /** Schema holding the tables; lowercase `[a-z_][a-z0-9_]*`. Default: the server's search_path. */
  schema?: string;
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** How long to wait for a connection before failing, in ms. Default 5000. */
  connectTimeoutMs?: number;
  now?: Clock;
  /** Where the migrations are; default the package's `migrations/` (tests point elsewhere). */
  migrationsDir?: string;
}

/** Plain lowercase identifiers only: they need no quoting in SQL nor in the startup options. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const KERNEL_KEY = 'distro = $1 AND distro_version = $2 AND arch = $3 AND kernel = $4';

export class PostgresCatalog implements Catalog, CatalogInspection {
  private readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private readonly now: Clock;
  private readonly migrationsDir: string | undefined;
  private closed = false;

  constructor(options: PostgresCatalogOptions) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`catalog: schema name '${options.schema}' must match ${SCHEMA_NAME.source}`);
    }
    this.schema = options.schema;
    this.now = options.now ?? Date.now;
    this.migrationsDir = options.migrationsDir;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: 'btfhub-online',
      ...(this.schema !== undefined ? { options: `-c search_path=${this.schema}` } : {}),
    });
    // An idle connection that dies (server restart, network) emits 'error' on the pool; left
    // unhandled it would crash the process. The pool drops that connection and the next
    // query opens a fresh one or fails with the reason, which is where it gets reported.
    this.pool.on('error', () => {});
  }

  async migrate(): Promise<void> {
    const migrations = await loadMigrations('postgres', this.migrationsDir);
    await this.transaction(async (client) => {
      // One lock per schema, held until COMMIT: a second process blocks here, then finds the
      // versions the first one recorded. The lock also covers creating the schema itself.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`btfhub-online migrate ${this.schema ?? '(search_path)'}`]);
      if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        applied_at BIGINT  NOT NULL
      )`);
      const rows = (await client.query<MigrationRow>('SELECT version, name FROM schema_migrations')).rows;
      const applied = new Map(rows.map((row) => [toNumber(row.version), row.name] as const));
      for (const migration of pendingMigrations(migrations, applied)) {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          this.now(),
        ]);
      }
    });
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    // to_regclass resolves through search_path and is NULL when the table does not exist.
    const exists = await this.pool.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists");
    if (!exists.rows[0]?.exists) return [];
    const result = await this.pool.query<MigrationRow>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    return result.rows.map(migrationFromRow);
  }

  async upsertKernel(kernel: Omit<KernelRecord, 'addedAt'>): Promise<UpsertOutcome> {
    const key = kernelRefParams(kernel);
    const content = [kernel.storageKey, kernel.size, kernel.sha256];
    // Two statements, each atomic on its own, so no transaction is needed: the insert tells
    // 'added', and the update only touches a row whose content differs.
    const inserted = await this.pool.query(
      `INSERT INTO kernels (distro, distro_version, arch, kernel, storage_key, size, sha256, added_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
      [...key, ...content, this.now()],
    );
    if (inserted.rowCount === 1) return 'added';
    const updated = await this.pool.query(
      `UPDATE kernels SET storage_key = $5, size = $6, sha256 = $7
       WHERE ${KERNEL_KEY} AND (storage_key <> $5 OR size <> $6 OR sha256 <> $7)`,
      [...key, ...content],
    );
    return updated.rowCount === 1 ? 'updated' : 'unchanged';
  }

  async getKernel(ref: KernelRef): Promise<KernelRecord | null> {
    const result = await this.pool.query<KernelRow>(`SELECT * FROM kernels WHERE ${KERNEL_KEY}`, kernelRefParams(ref));
    const row = result.rows[0];
    return row ? kernelFromRow(row) : null;
  }

  async listKernels(filter: KernelFilter, page: Page): Promise<{ items: KernelRecord[]; total: number }> {
    assertValidPage(page);
    const { where, params } = kernelFilterCondition(filter, (index) => `$${index}`);
    const n = params.length;
    const [items, count] = await Promise.all([
      this.pool.query<KernelRow>(
        `SELECT * FROM kernels ${where} ORDER BY distro, distro_version, arch, kernel LIMIT $${n + 1} OFFSET $${n + 2}`,
        [...params, page.limit, page.offset],
      ),
      this.pool.query<{ total: string }>(`SELECT COUNT(*) AS total FROM kernels ${where}`, params),
    ]);
    return { items: items.rows.map(kernelFromRow), total: toNumber(count.rows[0]?.total ?? 0) };
  }

  async recordObject(sha256: string, size: number): Promise<void> {
    const now = this.now();
    await this.pool.query(
      `INSERT INTO objects (sha256, size, first_seen, last_seen) VALUES ($1, $2, $3, $3)
       ON CONFLICT (sha256) DO UPDATE SET last_seen = excluded.last_seen`,
      [sha256, size, now],
    );
  }

  async getObject(sha256: string): Promise<ObjectRecord | null> {
    const result = await this.pool.query<ObjectRow>('SELECT * FROM objects WHERE sha256 = $1', [sha256]);
    const row = result.rows[0];
    return row ? objectFromRow(row) : null;
  }

  async listObjects(page: Page): Promise<{ items: ObjectRecord[]; total: number }> {
    assertValidPage(page);
    const [items, count] = await Promise.all([
      this.pool.query<ObjectRow>('SELECT * FROM objects ORDER BY sha256 LIMIT $1 OFFSET $2', [page.limit, page.offset]),
      this.pool.query<{ total: string }>('SELECT COUNT(*) AS total FROM objects'),
    ]);
    return { items: items.rows.map(objectFromRow), total: toNumber(count.rows[0]?.total ?? 0) };
  }

  async getTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<TrimRecord | null> {
    const result = await this.pool.query<TrimRow>(`SELECT * FROM trims WHERE ${KERNEL_KEY} AND objects_hash = $5 AND kernel_sha256 = $6`, [
      ...kernelRefParams(kernel),
      objectsHash,
      kernelSha256,
    ]);
    const row = result.rows[0];
    return row ? trimFromRow(row) : null;
  }

  async recordTrim(trim: Omit<TrimRecord, 'hits' | 'createdAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO trims (distro, distro_version, arch, kernel, objects_hash, kernel_sha256,
                          result_key, result_sha256, size, duration_ms, hits, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11) ON CONFLICT DO NOTHING`,
      [
        ...kernelRefParams(trim.kernel),
        trim.objectsHash,
        trim.kernelSha256,
        trim.resultKey,
        trim.resultSha256,
        trim.size,
        trim.durationMs,
        this.now(),
      ],
    );
  }

  async recordTrimHit(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void> {
    await this.recordTrimHits([{ objectsHash, kernel, kernelSha256, count: 1 }]);
  }

  async recordTrimHits(hits: readonly TrimHits[]): Promise<void> {
    // Entries for the same trim added up first: an UPDATE ... FROM changes a row once, whatever
    // the number of source rows that match it.
    const summed = new Map<string, TrimHits>();
    for (const hit of hits) {
      const key = [hit.objectsHash, ...kernelRefParams(hit.kernel), hit.kernelSha256].join('\n');
      const seen = summed.get(key);
      summed.set(key, seen === undefined ? { ...hit } : { ...seen, count: seen.count + hit.count });
    }
    if (summed.size === 0) return;
    const rows = [...summed.values()];
    const column = (of: (hit: TrimHits) => string | number) => rows.map(of);
    // One statement for the batch: one round trip, and atomic.
    await this.pool.query(
      `UPDATE trims AS t SET hits = t.hits + h.count, last_hit_at = $8
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           AS h(distro, distro_version, arch, kernel, objects_hash, kernel_sha256, count)
        WHERE t.distro = h.distro COLLATE "C" AND t.distro_version = h.distro_version COLLATE "C"
          AND t.arch = h.arch COLLATE "C" AND t.kernel = h.kernel COLLATE "C"
          AND t.objects_hash = h.objects_hash COLLATE "C" AND t.kernel_sha256 = h.kernel_sha256 COLLATE "C"`,
      [
        column((h) => h.kernel.distro),
        column((h) => h.kernel.distroVersion),
        column((h) => h.kernel.arch),
        column((h) => h.kernel.kernel),
        column((h) => h.objectsHash),
        column((h) => h.kernelSha256),
        column((h) => h.count),
        this.now(),
      ],
    );
  }

  async listTrims(page: Page): Promise<{ items: TrimRecord[]; total: number }> {
    assertValidPage(page);
    const [items, total] = await Promise.all([
      this.pool.query<TrimRow>(
        'SELECT * FROM trims ORDER BY objects_hash, distro, distro_version, arch, kernel, kernel_sha256 LIMIT $1 OFFSET $2',
        [page.limit, page.offset],
      ),
      this.countTrims(),
    ]);
    return { items: items.rows.map(trimFromRow), total };
  }

  async deleteTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void> {
    await this.pool.query(`DELETE FROM trims WHERE ${KERNEL_KEY} AND objects_hash = $5 AND kernel_sha256 = $6`, [
      ...kernelRefParams(kernel),
      objectsHash,
      kernelSha256,
    ]);
  }

  async getDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<DerivedFileRecord | null> {
    const result = await this.pool.query<DerivedFileRow>('SELECT * FROM derived_files WHERE source_sha256 = $1 AND format = $2', [
      sourceSha256,
      format,
    ]);
    const row = result.rows[0];
    return row ? derivedFileFromRow(row) : null;
  }

  async recordDerivedFile(file: Omit<DerivedFileRecord, 'createdAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO derived_files (source_sha256, format, storage_key, sha256, size, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (source_sha256, format) DO UPDATE SET storage_key = excluded.storage_key, sha256 = excluded.sha256,
         size = excluded.size, created_at = excluded.created_at`,
      [file.sourceSha256, file.format, file.storageKey, file.sha256, file.size, this.now()],
    );
  }

  async listDerivedFiles(page: Page): Promise<{ items: DerivedFileRecord[]; total: number }> {
    assertValidPage(page);
    const [items, count] = await Promise.all([
      this.pool.query<DerivedFileRow>('SELECT * FROM derived_files ORDER BY source_sha256, format LIMIT $1 OFFSET $2', [
        page.limit,
        page.offset,
      ]),
      this.pool.query<{ total: string }>('SELECT COUNT(*) AS total FROM derived_files'),
    ]);
    return { items: items.rows.map(derivedFileFromRow), total: toNumber(count.rows[0]?.total ?? 0) };
  }

  async deleteDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<void> {
    await this.pool.query('DELETE FROM derived_files WHERE source_sha256 = $1 AND format = $2', [sourceSha256, format]);
  }

  async getJobFile(jobId: string, role: JobFileRole): Promise<JobFileRecord | null> {
    const result = await this.pool.query<JobFileRow>('SELECT * FROM job_files WHERE job_id = $1 AND role = $2', [jobId, role]);
    const row = result.rows[0];
    return row ? jobFileFromRow(row) : null;
  }

  async recordJobFile(file: Omit<JobFileRecord, 'createdAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO job_files (job_id, role, storage_key, sha256, size, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (job_id, role) DO UPDATE SET storage_key = excluded.storage_key, sha256 = excluded.sha256,
         size = excluded.size, created_at = excluded.created_at`,
      [file.jobId, file.role, file.storageKey, file.sha256, file.size, this.now()],
    );
  }

  async listJobFiles(page: Page): Promise<{ items: JobFileRecord[]; total: number }> {
    assertValidPage(page);
    const [items, count] = await Promise.all([
      this.pool.query<JobFileRow>('SELECT * FROM job_files ORDER BY job_id, role LIMIT $1 OFFSET $2', [page.limit, page.offset]),
      this.pool.query<{ total: string }>('SELECT COUNT(*) AS total FROM job_files'),
    ]);
    return { items: items.rows.map(jobFileFromRow), total: toNumber(count.rows[0]?.total ?? 0) };
  }

  async deleteJobFile(jobId: string, role: JobFileRole, storageKey: string): Promise<void> {
    await this.pool.query('DELETE FROM job_files WHERE job_id = $1 AND role = $2 AND storage_key = $3', [jobId, role, storageKey]);
  }

  async countTrims(): Promise<number> {
    const result = await this.pool.query<{ total: string }>('SELECT COUNT(*) AS total FROM trims');
    return toNumber(result.rows[0]?.total ?? 0);
  }

  async recordKernelMarker(marker: Omit<KernelMarkerRecord, 'recordedAt'>): Promise<UpsertOutcome> {
    const key = [...kernelRefParams(marker), marker.marker];
    const inserted = await this.pool.query(
      `INSERT INTO kernel_markers (distro, distro_version, arch, kernel, marker, storage_key, recorded_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [...key, marker.storageKey, this.now()],
    );
    if (inserted.rowCount === 1) return 'added';
    const updated = await this.pool.query(
      `UPDATE kernel_markers SET storage_key = $6 WHERE ${KERNEL_KEY} AND marker = $5 AND storage_key <> $6`,
      [...key, marker.storageKey],
    );
    return updated.rowCount === 1 ? 'updated' : 'unchanged';
  }

  async deleteKernelMarker(ref: KernelRef, marker: KernelMarker): Promise<void> {
    await this.pool.query(`DELETE FROM kernel_markers WHERE ${KERNEL_KEY} AND marker = $5`, [...kernelRefParams(ref), marker]);
  }

  async recordKernelProvenance(provenance: KernelProvenance): Promise<void> {
    const columns = KERNEL_PROVENANCE_COLUMNS.join(', ');
    const values = KERNEL_PROVENANCE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
    const updates = KERNEL_PROVENANCE_COLUMNS.slice(4)
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    await this.pool.query(
      `INSERT INTO kernel_provenance (${columns}) VALUES (${values}) ON CONFLICT (distro, distro_version, arch, kernel) DO UPDATE SET ${updates}`,
      kernelProvenanceParams(provenance),
    );
  }

  async getKernelProvenance(ref: KernelRef): Promise<KernelProvenance | null> {
    const result = await this.pool.query<KernelProvenanceRow>(`SELECT * FROM kernel_provenance WHERE ${KERNEL_KEY}`, kernelRefParams(ref));
    const row = result.rows[0];
    return row === undefined ? null : kernelProvenanceFromRow(row);
  }

  async listKernelProvenance(filter: KernelFilter): Promise<KernelProvenance[]> {
    const { where, params } = kernelFilterCondition(filter, (index) => `$${index}`);
    const result = await this.pool.query<KernelProvenanceRow>(
      `SELECT * FROM kernel_provenance ${where} ORDER BY distro, distro_version, arch, kernel`,
      params,
    );
    return result.rows.map(kernelProvenanceFromRow);
  }

  async listKernelMarkers(filter: KernelFilter, page: Page): Promise<{ items: KernelMarkerRecord[]; total: number }> {
    assertValidPage(page);
    const { where, params } = kernelFilterCondition(filter, (index) => `$${index}`);
    const n = params.length;
    const [items, count] = await Promise.all([
      this.pool.query<KernelMarkerRow>(
        `SELECT * FROM kernel_markers ${where} ORDER BY distro, distro_version, arch, kernel, marker LIMIT $${n + 1} OFFSET $${n + 2}`,
        [...params, page.limit, page.offset],
      ),
      this.pool.query<{ total: string }>(`SELECT COUNT(*) AS total FROM kernel_markers ${where}`, params),
    ]);
    return { items: items.rows.map(kernelMarkerFromRow), total: toNumber(count.rows[0]?.total ?? 0) };
  }

  async listImportedFiles(source: string): Promise<ImportedFileRecord[]> {
    const result = await this.pool.query<ImportedFileRow>('SELECT * FROM imported_files WHERE source = $1 ORDER BY key', [source]);
    return result.rows.map(importedFileFromRow);
  }

  async recordImportedFile(file: Omit<ImportedFileRecord, 'checkedAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO imported_files (source, key, size, modified_at, sha256, status, reason, checked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (source, key) DO UPDATE SET size = excluded.size, modified_at = excluded.modified_at,
         sha256 = excluded.sha256, status = excluded.status, reason = excluded.reason, checked_at = excluded.checked_at`,
      [file.source, file.key, file.size, file.modified?.getTime() ?? null, file.sha256, file.status, file.reason, this.now()],
    );
  }

  async recordIssuedJob(id: string, kind: string, pruneBefore?: Date): Promise<void> {
    await this.pool.query(
      `INSERT INTO issued_jobs (id, kind, issued_at) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET issued_at = excluded.issued_at`,
      [id, kind, this.now()],
    );
    if (pruneBefore !== undefined) await this.pool.query('DELETE FROM issued_jobs WHERE issued_at < $1', [pruneBefore.getTime()]);
  }

  async getIssuedJob(id: string): Promise<{ kind: string; issuedAt: Date } | null> {
    const result = await this.pool.query<{ kind: string; issued_at: string }>('SELECT kind, issued_at FROM issued_jobs WHERE id = $1', [
      id,
    ]);
    const row = result.rows[0];
    return row ? { kind: row.kind, issuedAt: new Date(toNumber(row.issued_at)) } : null;
  }

  async check(): Promise<void> {
    if (this.closed) throw new Error('catalog: the PostgreSQL pool is closed');
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out connection that dies emits 'error' on the client, and the pool only
    // listens while the client is idle: without this listener the process would crash. The
    // failure itself still reaches us through the pending query.
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (error) {
      // A failed ROLLBACK (connection gone) must not hide the error that caused it, and the
      // connection must then leave the pool instead of being handed out again.
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}
