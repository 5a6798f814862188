/**
 * The loader every test, bench and script runs the TypeScript sources through
 * (scripts/ts-register.mjs, scripts/ts-hooks.mjs), in a process of its own on files written
 * here: a `./x.js` import finds `./x.ts`, with a query too (tap's mockImport adds one); a
 * worker's entry, which has no parent module, does as well; types are stripped, and a stack
 * names the TypeScript file's own line.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const dir = await mkdtemp(join(tmpdir(), 'btfhub-ts-loader-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

await writeFile(join(dir, 'dep.ts'), 'export const answer: number = 42;\nexport const url: string = import.meta.url;\n');
await writeFile(
  join(dir, 'worker.ts'),
  "import { parentPort } from 'node:worker_threads';\nimport { answer } from './dep.js';\nparentPort!.postMessage(answer satisfies number);\n",
);
await writeFile(
  join(dir, 'main.ts'),
  [
    "import { Worker } from 'node:worker_threads';",
    "import { answer } from './dep.js';",
    'interface Seen { answer: number; queried: string; fromWorker: unknown; line: string }',
    "const queried = (await import('./dep.js?copy=1')) as { url: string };",
    "const worker = new Worker(new URL('./worker.js', import.meta.url));",
    "const fromWorker: unknown = await new Promise((resolve) => worker.once('message', resolve));",
    'await worker.terminate();',
    "const line = new Error('here').stack!.split('\\n')[1]!.trim();",
    'const seen: Seen = { answer, queried: queried.url, fromWorker, line };',
    'console.log(JSON.stringify(seen));',
  ].join('\n'),
);

t.test('sources run as written: .js imports find .ts, with a query and from a worker; stacks name .ts lines', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [...tsLoaderArgs(), join(dir, 'main.ts')], { cwd: dir });
  const seen = JSON.parse(stdout) as { answer: number; queried: string; fromWorker: unknown; line: string };
  t.equal(seen.answer, 42, 'a static ./dep.js import runs dep.ts');
  t.match(seen.queried, /\/dep\.ts\?copy=1$/, 'a query is kept: a module of its own, from dep.ts');
  t.equal(seen.fromWorker, 42, "a worker's ./worker.js entry runs worker.ts, and its imports too");
  t.match(seen.line, /main\.ts:8:\d+\)?$/, 'the stack names main.ts and the line the error was made on');
});
