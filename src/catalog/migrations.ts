/**
 * Reads the versioned SQL migrations from the top-level `migrations/` directory.
 *
 * A file is `NNN_name.sql` (SQL both backends accept) or `NNN_name.<dialect>.sql` (one
 * backend only). For each version a backend uses its own dialect file when there is one and
 * the shared file otherwise; two files for the same version and dialect are an error, and so
 * is a version that exists only for the other dialect (the schemas would drift apart).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  name: string;
  /** File the SQL came from, relative to the migrations directory (for error messages). */
  file: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{3,})_([a-z0-9_]+)(?:\.(sqlite|postgres))?\.sql$/;

/**
 * The `migrations/` directory of this package. The module runs from `src/catalog/` under tap
 * and from `dist/src/catalog/` after `tsc`, so walk up to the nearest directory holding both
 * `package.json` and `migrations/` rather than hard-coding a depth.
 */
export function defaultMigrationsDir(): string {
  return findMigrationsDir(dirname(fileURLToPath(import.meta.url)));
}

/** The `migrations/` beside the nearest `package.json` at or above `from` (at most 4 levels up). */
export function findMigrationsDir(from: string): string {
  let dir = from;
  for (let depth = 0; depth <= 4; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) {
      return join(dir, 'migrations');
    }
    dir = dirname(dir);
  }
  throw new Error(`migrations directory not found at or above ${from}`);
}

/** The migrations for `dialect`, in version order. */
export async function loadMigrations(dialect: Dialect, dir = defaultMigrationsDir()): Promise<Migration[]> {
  const shared = new Map<number, { name: string; file: string }>();
  const own = new Map<number, { name: string; file: string }>();
  const versionsOfOtherDialect = new Set<number>();

  for (const file of (await readdir(dir)).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = MIGRATION_FILE.exec(file);
    if (!match) {
      throw new Error(`migrations: ${file}: name must be NNN_name.sql or NNN_name.<sqlite|postgres>.sql`);
    }
    const version = Number(match[1]);
    const entry = { name: match[2] as string, file };
    const fileDialect = match[3] as Dialect | undefined;
    if (fileDialect !== undefined && fileDialect !== dialect) {
      versionsOfOtherDialect.add(version);
      continue;
    }
    const target = fileDialect === undefined ? shared : own;
    const clash = target.get(version);
    if (clash) throw new Error(`migrations: ${file} and ${clash.file} have the same version ${version}`);
    target.set(version, entry);
  }

  for (const version of versionsOfOtherDialect) {
    if (!own.has(version) && !shared.has(version)) {
      throw new Error(`migrations: version ${version} has no file for ${dialect}`);
    }
  }

  const versions = [...new Set([...shared.keys(), ...own.keys()])].sort((a, b) => a - b);
  return Promise.all(
    versions.map(async (version) => {
      const entry = own.get(version) ?? shared.get(version);
      if (!entry) throw new Error(`migrations: version ${version} vanished`); // unreachable
      return { version, name: entry.name, file: entry.file, sql: await readFile(join(dir, entry.file), 'utf8') };
    }),
  );
}

/**
 * The migrations still to apply, given the versions already recorded. An applied version whose
 * recorded name differs from the file's means someone renumbered or rewrote history: refuse
 * rather than guess.
 */
export function pendingMigrations(all: Migration[], applied: ReadonlyMap<number, string>): Migration[] {
  for (const migration of all) {
    const appliedName = applied.get(migration.version);
    if (appliedName !== undefined && appliedName !== migration.name) {
      throw new Error(`migrations: version ${migration.version} was applied as '${appliedName}' but the file is '${migration.file}'`);
    }
  }
  return all.filter((migration) => !applied.has(migration.version));
}
