/**
 * The import graph of src/ follows the layers of docs/ARCHITECTURE.md: each folder imports
 * only folders below it (or itself), so no import climbs back up a layer; the codec imports
 * nothing outside itself; job processors import neither the API nor the CLI; the queue
 * imports no processor; routes share helpers through modules of their own, never through
 * each other; and no module imports itself back through others (no cycle, type imports
 * included). Imports are read with TypeScript's own pre-processor (static, re-exports and
 * dynamic `import()` alike).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Bottom to top. A folder may import its own layer's folder and any folder of a lower layer;
 * folders sharing a layer do not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['btf'], // the codec: pure, no I/O
  ['catalog', 'config'], // SQL catalog and its types; the configuration schema
  ['identity', 'archive', 'storage'], // kernel identities; tar/xz/gzip; object stores and keys
  ['kernels'], // registering kernels
  ['coverage'], // compat reports, kernel inputs
  ['bundle'], // bundles of trimmed BTFs
  ['generate'], // kernel BTF made from debug packages (pahole)
  ['executor'], // the codec executor: the one seam the codec's work on request data runs through
  ['queue'], // the job core: contract, kinds, in-process and BullMQ backends
  ['jobs'], // one processor per kind
  ['service', 'api'], // backends and lifecycle of a process; the HTTP API
  ['client'], // the typed HTTP client (reads the API's contract types)
  ['fetch'], // the agent's lookup
  ['cli'], // the btfhub command
  ['index.ts'], // the package entry
];

const layerOf = new Map(LAYERS.flatMap((folders, level) => folders.map((folder) => [folder, level] as const)));

/** `src/`-relative path of every TypeScript module. */
const modules = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).sort();

/** Module -> the `src/`-relative modules it imports. */
const graph = new Map<string, string[]>(
  modules.map((module) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(SRC, module), 'utf8'), true, true);
    const targets = importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(SRC, resolve(dirname(join(SRC, module)), spec)).replace(/\.js$/, '.ts'));
    return [module, [...new Set(targets)]];
  }),
);

const folderOf = (module: string) => module.split('/')[0]!;

t.test('every module resolves and every folder has a layer', async (t) => {
  for (const [module, targets] of graph)
    for (const target of targets) t.ok(graph.has(target), `${module} imports ${target}, a module of src/`);
  const folders = [...new Set(modules.map(folderOf))];
  t.same(
    folders.filter((f) => !layerOf.has(f)),
    [],
    'folders without a layer (add them to LAYERS and docs/ARCHITECTURE.md)',
  );
});

t.test('no import climbs back up a layer', async (t) => {
  const climbs: string[] = [];
  for (const [module, targets] of graph) {
    for (const target of targets) {
      const from = folderOf(module);
      const to = folderOf(target);
      if (from === to) continue;
      if (!(layerOf.get(to)! < layerOf.get(from)!)) climbs.push(`${module} -> ${target}`);
    }
  }
  t.same(climbs, []);
});

t.test('the codec imports nothing outside src/btf; processors neither api/ nor cli/; the queue no processor', async (t) => {
  const edges = [...graph].flatMap(([module, targets]) => targets.map((target) => [module, target] as const));
  const offending = (from: string, to: (target: string) => boolean) =>
    edges.filter(([m, target]) => folderOf(m) === from && to(target)).map((e) => e.join(' -> '));
  t.same(
    offending('btf', (target) => folderOf(target) !== 'btf'),
    [],
    'src/btf is self-contained',
  );
  t.same(
    offending('jobs', (target) => ['api', 'cli', 'service'].includes(folderOf(target))),
    [],
    'src/jobs imports neither api/, cli/ nor service/',
  );
  t.same(
    offending('queue', (target) => folderOf(target) === 'jobs'),
    [],
    'src/queue imports no processor',
  );
  t.same(
    offending('api', (target) => ['jobs', 'service', 'cli'].includes(folderOf(target))),
    [],
    'the API only enqueues and waits',
  );
});

t.test('routes import no other route', async (t) => {
  const route = (module: string) => module.startsWith('api/routes/');
  const crossing = [...graph].flatMap(([module, targets]) =>
    route(module) ? targets.filter(route).map((target) => `${module} -> ${target}`) : [],
  );
  t.same(crossing, []);
});

t.test('no import cycle', async (t) => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (module: string) => {
    state.set(module, 'open');
    stack.push(module);
    for (const target of graph.get(module) ?? []) {
      if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' -> '));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(module, 'done');
  };
  for (const module of modules) if (!state.has(module)) visit(module);
  t.same(cycles, []);
});
