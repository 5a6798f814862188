/**
 * The `btfhub` subcommands, in the order `btfhub --help` lists them. A new command is a
 * module under commands/ exporting a `Command`, plus one line here: the service
 * commands (`serve`, `worker`, `migrate`, `import`, `fetch`) belong in this table.
 */
import type { Command } from './command.js';
import { bundleCommand } from './commands/bundle.js';
import { compatCommand } from './commands/compat.js';
import { dumpCommand } from './commands/dump.js';
import { fetchCommand } from './commands/fetch.js';
import { generateCommand } from './commands/generate.js';
import { importCommand } from './commands/import.js';
import { migrateCommand } from './commands/migrate.js';
import { relocsCommand } from './commands/relocs.js';
import { serveCommand } from './commands/serve.js';
import { trimCommand } from './commands/trim.js';
import { workerCommand } from './commands/worker.js';

export const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  importCommand,
  trimCommand,
  relocsCommand,
  dumpCommand,
  compatCommand,
  bundleCommand,
  generateCommand,
  fetchCommand,
  workerCommand,
];
