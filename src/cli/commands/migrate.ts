/**
 * `btfhub migrate`: applies the catalog's pending SQL migrations (migrations/) and exits.
 * `btfhub serve` and `btfhub worker` migrate at start too; this is for deployments that
 * run migrations as a separate step. Safe to run concurrently with them.
 */
import { pino } from 'pino';
import { redactUrl } from '../../config/schema.js';
import { createBackends } from '../../service/backends.js';
import type { Command } from '../command.js';
import { CliError, ExitCode } from '../errors.js';
import { loadConfigWithDataFlag } from '../config-flags.js';

export interface MigrateCommandOptions {
  /** Environment the configuration is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

export function createMigrateCommand(commandOptions: MigrateCommandOptions = {}): Command {
  return {
    name: 'migrate',
    summary: 'apply the catalog database migrations, then exit',
    usage: 'btfhub migrate [--data DIR]',
    description: `
Applies the pending migrations of migrations/ to the catalog: PostgreSQL when DATABASE_URL is
postgres://..., else the SQLite file <data>/catalog.sqlite. Prints the applied versions.
Running it twice, or beside a starting \`btfhub serve\`, is safe.`,
    options: {
      data: { type: 'string', valueName: 'DIR', description: 'data directory holding catalog.sqlite (BTFHUB_DATA_DIR, default ./data)' },
    },
    positionals: { name: 'argument', min: 0, max: 0 },
    async run(args, io) {
      const config = loadConfigWithDataFlag(commandOptions.env ?? process.env, args.string('data'));
      const where = config.database.kind === 'sqlite' ? config.database.path : redactUrl(config.database.url);
      const backends = createBackends(config, { logger: pino({ level: 'silent' }) });
      try {
        const catalog = await backends.catalog();
        const before = (await catalog.appliedMigrations()).length;
        await catalog.migrate();
        const applied = await catalog.appliedMigrations();
        for (const m of applied.slice(before)) io.stdout.write(`applied ${String(m.version).padStart(3, '0')} ${m.name}\n`);
        const last = applied.at(-1);
        io.stdout.write(
          `catalog ${config.database.kind} ${where}: ${applied.length - before} applied, at version ${last === undefined ? 'none' : last.version}\n`,
        );
        return ExitCode.Ok;
      } catch (error) {
        throw new CliError(
          `migrating the catalog (${config.database.kind} ${where}) failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      } finally {
        await backends.close();
      }
    },
  };
}

export const migrateCommand: Command = createMigrateCommand();
