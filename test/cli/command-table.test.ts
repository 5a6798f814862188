/**
 * The command table (src/cli/commands.ts) names each command and its summary before its
 * module loads; loading checks both against the module, so `btfhub --help` cannot drift.
 */
import t from 'tap';
import { loadCommand, type Command, type LazyCommand } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { run } from './fixtures/io.js';

t.test('every entry loads the command it names, with the summary --help lists', async (t) => {
  const help = (await run(['--help'])).stdout;
  for (const entry of COMMANDS) {
    const command = await loadCommand(entry);
    t.equal(command.name, entry.name);
    t.equal(command.summary, entry.summary);
    t.match(help, new RegExp(`^  ${entry.name} +${entry.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  }
  t.same(
    COMMANDS.map((c) => c.name),
    ['serve', 'migrate', 'import', 'verify', 'trim', 'relocs', 'dump', 'compat', 'bundle', 'generate', 'fetch', 'smoke', 'worker'],
  );
});

t.test('a table line that does not match its module is a bug, caught when it loads', async (t) => {
  const real: Command = {
    name: 'x',
    summary: 'the real summary',
    usage: 'btfhub x',
    description: 'x',
    options: {},
    positionals: { name: 'X', min: 0, max: 0 },
    run: async () => 0,
  };
  const stale: LazyCommand = { name: 'x', summary: 'an old summary', load: async () => real };
  await t.rejects(loadCommand(stale), /command table entry 'x' does not match its module \(name 'x', summary 'the real summary'\)/);
  t.equal(await loadCommand({ ...stale, summary: 'the real summary' }), real);
  t.equal(await loadCommand(real), real, 'a command given as it is');
});
