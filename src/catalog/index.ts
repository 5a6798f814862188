/**
 * Opens the catalog a deployment is configured for. Opening runs no SQL: call `migrate()`
 * (the service does at start-up, the CLI has a command for it) before anything else.
 */
import type { Catalog, CatalogInspection } from './catalog.js';
import type { Clock } from './rows.js';
import { SqliteCatalog } from './sqlite-catalog.js';

export type DatabaseConfig =
  | { kind: 'sqlite'; /** File path, or ':memory:'. */ path: string }
  | { kind: 'postgres'; url: string; /** Schema for the tables; default: the server's search_path. */ schema?: string };

export interface OpenCatalogOptions {
  /** Clock for the rows' timestamps, in epoch ms; tests pin it. Default `Date.now`. */
  now?: Clock;
  /** Directory of the migrations; default the package's `migrations/`. */
  migrationsDir?: string;
}

/** What `openCatalog` returns: the service's `Catalog` plus read-only inspection. */
export type CatalogBackend = Catalog & CatalogInspection;

export async function openCatalog(database: DatabaseConfig, options: OpenCatalogOptions = {}): Promise<CatalogBackend> {
  switch (database.kind) {
    case 'sqlite':
      return new SqliteCatalog({ path: database.path, ...options });
    case 'postgres': {
      // Loaded only when configured: pg is ~15 MB of RSS the embedded default never uses.
      const { PostgresCatalog } = await import('./postgres-catalog.js');
      return new PostgresCatalog({ url: database.url, schema: database.schema, ...options });
    }
  }
}

export type * from './catalog.js';
export type { Clock } from './rows.js';
export type { PostgresCatalog, PostgresCatalogOptions } from './postgres-catalog.js';
export { SqliteCatalog, type SqliteCatalogOptions } from './sqlite-catalog.js';
