/**
 * The `btfhub` subcommands, in the order `btfhub --help` lists them. Each line names a
 * command, its one-line summary and the module that holds it; the module is imported only
 * when that command runs, so `btfhub trim` loads the codec and nothing of the service.
 * `loadCommand` checks a loaded command's name and summary against its line here.
 *
 * A new command is a module under commands/ exporting a `Command`, plus one line here:
 *   lazy('name', 'summary, as in the module', async () => (await import('./commands/name.js')).nameCommand),
 */
import type { Command, CommandEntry, LazyCommand } from './command.js';

function lazy(name: string, summary: string, load: () => Promise<Command>): LazyCommand {
  return { name, summary, load };
}

export const COMMANDS: readonly CommandEntry[] = [
  lazy(
    'serve',
    'run the HTTP API (and, without REDIS_URL, its jobs in-process)',
    async () => (await import('./commands/serve.js')).serveCommand,
  ),
  lazy('migrate', 'apply the catalog database migrations, then exit', async () => (await import('./commands/migrate.js')).migrateCommand),
  lazy(
    'import',
    'register every kernel of a BTFHub-layout directory or s3://bucket/prefix in the catalog',
    async () => (await import('./commands/import.js')).importCommand,
  ),
  lazy(
    'verify',
    'check every stored file against the catalog: missing, damaged, orphaned (--repair fixes)',
    async () => (await import('./commands/verify.js')).verifyCommand,
  ),
  lazy(
    'trim',
    'trim kernel BTF to the types CO-RE objects need (bpftool gen min_core_btf)',
    async () => (await import('./commands/trim.js')).trimCommand,
  ),
  lazy(
    'relocs',
    'resolve the CO-RE relocations of objects against kernel BTF, as JSON lines',
    async () => (await import('./commands/relocs.js')).relocsCommand,
  ),
  lazy(
    'dump',
    'list BTF types as `bpftool btf dump file FILE format raw` does',
    async () => (await import('./commands/dump.js')).dumpCommand,
  ),
  lazy(
    'compat',
    'which CO-RE relocations of objects resolve on which kernels: a BTFHub-layout directory or the service',
    async () => (await import('./commands/compat.js')).compatCommand,
  ),
  lazy(
    'bundle',
    'trimmed BTFs of objects for every kernel of a BTFHub-layout directory, as one .tar.gz',
    async () => (await import('./commands/bundle.js')).bundleCommand,
  ),
  lazy(
    'generate',
    "make kernel BTF from a debug vmlinux or a distribution's debug package (pahole)",
    async () => (await import('./commands/generate.js')).generateCommand,
  ),
  lazy(
    'fetch',
    'get the BTF this host needs for CO-RE objects: configured file, kernel, bundle, service',
    async () => (await import('./commands/fetch.js')).fetchCommand,
  ),

  lazy(
    'smoke',
    'check a running service end to end: readiness, kernels, a trim through both trim routes',
    async () => (await import('./commands/smoke.js')).smokeCommand,
  ),
  lazy(
    'worker',
    'run jobs (trims, compat reports, bundles, syncs) from the Redis queue (REDIS_URL)',
    async () => (await import('./commands/worker.js')).workerCommand,
  ),
];
