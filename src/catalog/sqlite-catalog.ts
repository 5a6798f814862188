/**
 * The catalog in a SQLite file (or ':memory:'), through better-sqlite3.
 *
 * better-sqlite3 is synchronous: each method does its work at once and returns a settled
 * promise, which keeps the `Catalog` interface identical to the PostgreSQL backend. WAL mode
 * lets readers proceed while one writer writes; the busy timeout makes a second process wait
 * for the write lock instead of failing with SQLITE_BUSY.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
  trimFromRow,
  type TrimRow,
} from './rows.js';

export interface SqliteCatalogOptions {
  /** A file path, or ':memory:' for a private in-memory database. */
  path: string;
  /** How long to wait for another connection's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  now?: Clock;
  /** Where the migrations are; default the package's `migrations/` (tests point elsewhere). */
  migrationsDir?: string;
}

const KERNEL_KEY = 'distro = ? AND distro_version = ? AND arch = ? AND kernel = ?';
const TRIM_KEY = `objects_hash = ? AND ${KERNEL_KEY} AND kernel_sha256 = ?`;

export class SqliteCatalog implements Catalog, CatalogInspection {
  private readonly db: Database.Database;
  private readonly now: Clock;
  private readonly migrationsDir: string | undefined;
  /** Statements are prepared on first use: tables do not exist before `migrate()`. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(options: SqliteCatalogOptions) {
    if (options.path !== ':memory:' && options.path !== '') {
      mkdirSync(dirname(options.path), { recursive: true });
    }
    this.db = new Database(options.path);
    this.now = options.now ?? Date.now;
    this.migrationsDir = options.migrationsDir;
    try {
      // Busy timeout first: switching to WAL itself needs a lock another process may hold.
      this.db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      this.db.pragma('journal_mode = WAL');
      // SQLite's LIKE ignores ASCII case by default; kernel releases are case-sensitive, and
      // PostgreSQL's LIKE is too.
      this.db.pragma('case_sensitive_like = ON');
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  async migrate(): Promise<void> {
    const migrations = await loadMigrations('sqlite', this.migrationsDir);
    // BEGIN IMMEDIATE takes the write lock before reading schema_migrations, so a second
    // process waits (busy timeout) and then sees the versions the first one applied.
    this.db
      .transaction(() => {
        this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version    INTEGER NOT NULL PRIMARY KEY,
          name       TEXT    NOT NULL,
          applied_at INTEGER NOT NULL
        )`);
        const applied = new Map(
          (this.db.prepare('SELECT version, name FROM schema_migrations').all() as MigrationRow[]).map(
            (row) => [Number(row.version), row.name] as const,
          ),
        );
        const record = this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
        for (const migration of pendingMigrations(migrations, applied)) {
          this.db.exec(migration.sql);
          record.run(migration.version, migration.name, this.now());
        }
      })
      .immediate();
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    const exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!exists) return [];
    const rows = this.statement('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
    return (rows as MigrationRow[]).map(migrationFromRow);
  }

  async upsertKernel(kernel: Omit<KernelRecord, 'addedAt'>): Promise<UpsertOutcome> {
    const key = kernelRefParams(kernel);
    // Two statements, each atomic on its own, so no transaction is needed: the insert tells
    // 'added', and the update only touches a row whose content differs.
    const inserted = this.statement(
      `INSERT INTO kernels (distro, distro_version, arch, kernel, storage_key, size, sha256, added_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(...key, kernel.storageKey, kernel.size, kernel.sha256, this.now());
    if (inserted.changes > 0) return 'added';
    const updated = this.statement(
      `UPDATE kernels SET storage_key = ?, size = ?, sha256 = ?
       WHERE ${KERNEL_KEY} AND (storage_key <> ? OR size <> ? OR sha256 <> ?)`,
    ).run(kernel.storageKey, kernel.size, kernel.sha256, ...key, kernel.storageKey, kernel.size, kernel.sha256);
    return updated.changes > 0 ? 'updated' : 'unchanged';
  }

  async getKernel(ref: KernelRef): Promise<KernelRecord | null> {
    const row = this.statement(`SELECT * FROM kernels WHERE ${KERNEL_KEY}`).get(...kernelRefParams(ref));
    return row ? kernelFromRow(row as KernelRow) : null;
  }

  async listKernels(filter: KernelFilter, page: Page): Promise<{ items: KernelRecord[]; total: number }> {
    assertValidPage(page);
    const { where, params } = kernelFilterCondition(filter, () => '?');
    const rows = this.statement(`SELECT * FROM kernels ${where} ORDER BY distro, distro_version, arch, kernel LIMIT ? OFFSET ?`).all(
      ...params,
      page.limit,
      page.offset,
    ) as KernelRow[];
    const count = this.statement(`SELECT COUNT(*) AS total FROM kernels ${where}`).get(...params) as {
      total: number;
    };
    return { items: rows.map(kernelFromRow), total: count.total };
  }

  async recordObject(sha256: string, size: number): Promise<void> {
    const now = this.now();
    this.statement(
      `INSERT INTO objects (sha256, size, first_seen, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (sha256) DO UPDATE SET last_seen = excluded.last_seen`,
    ).run(sha256, size, now, now);
  }

  async getObject(sha256: string): Promise<ObjectRecord | null> {
    const row = this.statement('SELECT * FROM objects WHERE sha256 = ?').get(sha256);
    return row ? objectFromRow(row as ObjectRow) : null;
  }

  async listObjects(page: Page): Promise<{ items: ObjectRecord[]; total: number }> {
    assertValidPage(page);
    const rows = this.statement('SELECT * FROM objects ORDER BY sha256 LIMIT ? OFFSET ?').all(page.limit, page.offset) as ObjectRow[];
    const count = this.statement('SELECT COUNT(*) AS total FROM objects').get() as { total: number };
    return { items: rows.map(objectFromRow), total: count.total };
  }

  async getTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<TrimRecord | null> {
    const row = this.statement(`SELECT * FROM trims WHERE ${TRIM_KEY}`).get(objectsHash, ...kernelRefParams(kernel), kernelSha256);
    return row ? trimFromRow(row as TrimRow) : null;
  }

  async recordTrim(trim: Omit<TrimRecord, 'hits' | 'createdAt'>): Promise<void> {
    this.statement(
      `INSERT INTO trims (objects_hash, distro, distro_version, arch, kernel, kernel_sha256,
                          result_key, result_sha256, size, duration_ms, hits, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING`,
    ).run(
      trim.objectsHash,
      ...kernelRefParams(trim.kernel),
      trim.kernelSha256,
      trim.resultKey,
      trim.resultSha256,
      trim.size,
      trim.durationMs,
      this.now(),
    );
  }

  async recordTrimHit(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void> {
    await this.recordTrimHits([{ objectsHash, kernel, kernelSha256, count: 1 }]);
  }

  async recordTrimHits(hits: readonly TrimHits[]): Promise<void> {
    if (hits.length === 0) return;
    // One transaction, so one commit (and one sync of the WAL) for the whole batch: this runs
    // on the event loop, and a commit per hit held it ~16 us each, 16-50 ms per flush at the
    // rates cached answers reach.
    const update = this.statement(`UPDATE trims SET hits = hits + ?, last_hit_at = ? WHERE ${TRIM_KEY}`);
    const at = this.now();
    this.db.transaction(() => {
      for (const hit of hits) update.run(hit.count, at, hit.objectsHash, ...kernelRefParams(hit.kernel), hit.kernelSha256);
    })();
  }

  async listTrims(page: Page): Promise<{ items: TrimRecord[]; total: number }> {
    assertValidPage(page);
    const rows = this.statement(
      'SELECT * FROM trims ORDER BY objects_hash, distro, distro_version, arch, kernel, kernel_sha256 LIMIT ? OFFSET ?',
    ).all(page.limit, page.offset) as TrimRow[];
    return { items: rows.map(trimFromRow), total: await this.countTrims() };
  }

  async deleteTrim(objectsHash: string, kernel: KernelRef, kernelSha256: string): Promise<void> {
    this.statement(`DELETE FROM trims WHERE ${TRIM_KEY}`).run(objectsHash, ...kernelRefParams(kernel), kernelSha256);
  }

  async getDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<DerivedFileRecord | null> {
    const row = this.statement('SELECT * FROM derived_files WHERE source_sha256 = ? AND format = ?').get(sourceSha256, format);
    return row ? derivedFileFromRow(row as DerivedFileRow) : null;
  }

  async recordDerivedFile(file: Omit<DerivedFileRecord, 'createdAt'>): Promise<void> {
    this.statement(
      `INSERT INTO derived_files (source_sha256, format, storage_key, sha256, size, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (source_sha256, format) DO UPDATE SET storage_key = excluded.storage_key, sha256 = excluded.sha256,
         size = excluded.size, created_at = excluded.created_at`,
    ).run(file.sourceSha256, file.format, file.storageKey, file.sha256, file.size, this.now());
  }

  async listDerivedFiles(page: Page): Promise<{ items: DerivedFileRecord[]; total: number }> {
    assertValidPage(page);
    const rows = this.statement('SELECT * FROM derived_files ORDER BY source_sha256, format LIMIT ? OFFSET ?').all(
      page.limit,
      page.offset,
    ) as DerivedFileRow[];
    const count = this.statement('SELECT COUNT(*) AS total FROM derived_files').get() as { total: number };
    return { items: rows.map(derivedFileFromRow), total: count.total };
  }

  async deleteDerivedFile(sourceSha256: string, format: DerivedFileRecord['format']): Promise<void> {
    this.statement('DELETE FROM derived_files WHERE source_sha256 = ? AND format = ?').run(sourceSha256, format);
  }

  async getJobFile(jobId: string, role: JobFileRole): Promise<JobFileRecord | null> {
    const row = this.statement('SELECT * FROM job_files WHERE job_id = ? AND role = ?').get(jobId, role);
    return row ? jobFileFromRow(row as JobFileRow) : null;
  }

  async recordJobFile(file: Omit<JobFileRecord, 'createdAt'>): Promise<void> {
    this.statement(
      `INSERT INTO job_files (job_id, role, storage_key, sha256, size, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_id, role) DO UPDATE SET storage_key = excluded.storage_key, sha256 = excluded.sha256,
         size = excluded.size, created_at = excluded.created_at`,
    ).run(file.jobId, file.role, file.storageKey, file.sha256, file.size, this.now());
  }

  async listJobFiles(page: Page): Promise<{ items: JobFileRecord[]; total: number }> {
    assertValidPage(page);
    const rows = this.statement('SELECT * FROM job_files ORDER BY job_id, role LIMIT ? OFFSET ?').all(
      page.limit,
      page.offset,
    ) as JobFileRow[];
    const count = this.statement('SELECT COUNT(*) AS total FROM job_files').get() as { total: number };
    return { items: rows.map(jobFileFromRow), total: count.total };
  }

  async deleteJobFile(jobId: string, role: JobFileRole, storageKey: string): Promise<void> {
    this.statement('DELETE FROM job_files WHERE job_id = ? AND role = ? AND storage_key = ?').run(jobId, role, storageKey);
  }

  async countTrims(): Promise<number> {
    return (this.statement('SELECT COUNT(*) AS total FROM trims').get() as { total: number }).total;
  }

  async recordKernelMarker(marker: Omit<KernelMarkerRecord, 'recordedAt'>): Promise<UpsertOutcome> {
    const key = [...kernelRefParams(marker), marker.marker] as const;
    const inserted = this.statement(
      `INSERT INTO kernel_markers (distro, distro_version, arch, kernel, marker, storage_key, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).run(...key, marker.storageKey, this.now());
    if (inserted.changes > 0) return 'added';
    const updated = this.statement(`UPDATE kernel_markers SET storage_key = ? WHERE ${KERNEL_KEY} AND marker = ? AND storage_key <> ?`).run(
      marker.storageKey,
      ...key,
      marker.storageKey,
    );
    return updated.changes > 0 ? 'updated' : 'unchanged';
  }

  async deleteKernelMarker(ref: KernelRef, marker: KernelMarker): Promise<void> {
    this.statement(`DELETE FROM kernel_markers WHERE ${KERNEL_KEY} AND marker = ?`).run(...kernelRefParams(ref), marker);
  }

  async recordKernelProvenance(provenance: KernelProvenance): Promise<void> {
    const columns = KERNEL_PROVENANCE_COLUMNS.join(', ');
    this.statement(
      `INSERT OR REPLACE INTO kernel_provenance (${columns}) VALUES (${KERNEL_PROVENANCE_COLUMNS.map(() => '?').join(', ')})`,
    ).run(...kernelProvenanceParams(provenance));
  }

  async getKernelProvenance(ref: KernelRef): Promise<KernelProvenance | null> {
    const row = this.statement(`SELECT * FROM kernel_provenance WHERE ${KERNEL_KEY}`).get(...kernelRefParams(ref)) as
      KernelProvenanceRow | undefined;
    return row === undefined ? null : kernelProvenanceFromRow(row);
  }

  async listKernelProvenance(filter: KernelFilter): Promise<KernelProvenance[]> {
    const { where, params } = kernelFilterCondition(filter, () => '?');
    const rows = this.statement(`SELECT * FROM kernel_provenance ${where} ORDER BY distro, distro_version, arch, kernel`).all(
      ...params,
    ) as KernelProvenanceRow[];
    return rows.map(kernelProvenanceFromRow);
  }

  async listKernelMarkers(filter: KernelFilter, page: Page): Promise<{ items: KernelMarkerRecord[]; total: number }> {
    assertValidPage(page);
    const { where, params } = kernelFilterCondition(filter, () => '?');
    const rows = this.statement(
      `SELECT * FROM kernel_markers ${where} ORDER BY distro, distro_version, arch, kernel, marker LIMIT ? OFFSET ?`,
    ).all(...params, page.limit, page.offset) as KernelMarkerRow[];
    const count = this.statement(`SELECT COUNT(*) AS total FROM kernel_markers ${where}`).get(...params) as { total: number };
    return { items: rows.map(kernelMarkerFromRow), total: count.total };
  }

  async listImportedFiles(source: string): Promise<ImportedFileRecord[]> {
    const rows = this.statement('SELECT * FROM imported_files WHERE source = ? ORDER BY key').all(source) as ImportedFileRow[];
    return rows.map(importedFileFromRow);
  }

  async recordImportedFile(file: Omit<ImportedFileRecord, 'checkedAt'>): Promise<void> {
    this.statement(
      `INSERT INTO imported_files (source, key, size, modified_at, sha256, status, reason, checked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, key) DO UPDATE SET size = excluded.size, modified_at = excluded.modified_at,
         sha256 = excluded.sha256, status = excluded.status, reason = excluded.reason, checked_at = excluded.checked_at`,
    ).run(file.source, file.key, file.size, file.modified?.getTime() ?? null, file.sha256, file.status, file.reason, this.now());
  }

  async recordIssuedJob(id: string, kind: string, pruneBefore?: Date): Promise<void> {
    this.statement(
      `INSERT INTO issued_jobs (id, kind, issued_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET issued_at = excluded.issued_at`,
    ).run(id, kind, this.now());
    if (pruneBefore !== undefined) this.statement('DELETE FROM issued_jobs WHERE issued_at < ?').run(pruneBefore.getTime());
  }

  async getIssuedJob(id: string): Promise<{ kind: string; issuedAt: Date } | null> {
    const row = this.statement('SELECT kind, issued_at FROM issued_jobs WHERE id = ?').get(id) as
      { kind: string; issued_at: number } | undefined;
    return row ? { kind: row.kind, issuedAt: new Date(Number(row.issued_at)) } : null;
  }

  async check(): Promise<void> {
    // Throws "The database connection is not open" once closed.
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
