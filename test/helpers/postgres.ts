/**
 * A private PostgreSQL schema for one test run. The machine's PostgreSQL is shared by
 * concurrent test runs, so every run works in `btfhub_test_<pid>_<random>` and drops only that
 * schema when done.
 *
 * The server comes from TEST_DATABASE_URL, by default the CI machine's
 * postgres://postgres@127.0.0.1:5432/test (trust auth).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  /** Connection URL of the test database (the schema is not in it: pass `schema` along). */
  url: string;
  /** The created schema's name. */
  schema: string;
  /** Drops the schema and everything in it. Safe to call twice. */
  drop: () => Promise<void>;
}

/** A DATABASE_URL that opens the test database with `schema` as its search path (for btfhub processes). */
export function schemaDatabaseUrl(schema: TestSchema): string {
  return `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
}

export async function createTestSchema(): Promise<TestSchema> {
  const schema = `btfhub_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await runOnce(`CREATE SCHEMA ${schema}`);
  let dropped = false;
  return {
    url: TEST_DATABASE_URL,
    schema,
    async drop() {
      if (dropped) return;
      dropped = true;
      await runOnce(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

async function runOnce(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
