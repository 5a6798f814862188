/**
 * Codec threads started from the TypeScript sources (the test suite, `npm run fuzz`) run a
 * transpiled copy of their module graph (src/executor/thread-entry.ts): it must be the code
 * the loader gives every other module (scripts/ts-hooks.mjs, same transform), and its stacks
 * must name the TypeScript lines, as the loader's do.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { codecThreadEntry } from '../../src/executor/thread-entry.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The loader's load hook (a .mjs module without types: only its shape here). */
type LoadHook = (url: string, context: object, next: () => never) => Promise<{ source: string }>;
const { load } = (await import(new URL('../../scripts/ts-hooks.mjs', import.meta.url).href)) as { load: LoadHook };
const entry = await codecThreadEntry();
const entryPath = fileURLToPath(entry.url);
/** <copy>/src/executor/codec-thread.js -> <copy> */
const copyRoot = join(entryPath, '..', '..', '..');

t.test('the entry is a transpiled copy outside the repository, run without a loader', async (t) => {
  t.ok(entryPath.startsWith(join(tmpdir(), 'btfhub-codec-thread')), `under the temporary directory: ${entryPath}`);
  t.match(entryPath, /\/src\/executor\/codec-thread\.js$/);
  t.notOk(
    entry.execArgv?.some((arg) => arg.includes('ts-register')),
    'no loader for the thread',
  );
  // tap runs tests with --enable-source-maps (package.json "node-arg"): the thread gets it too.
  t.same(entry.execArgv, process.execArgv.includes('--enable-source-maps') ? ['--enable-source-maps'] : []);
  t.same(await codecThreadEntry(), entry, 'made once per process');
});

t.test("each copied module is what the loader's load hook gives for its source", async (t) => {
  const modules = ['src/executor/codec-thread.ts', 'src/btf/trim.ts', 'src/btf/verify.ts', 'src/storage/keys.ts'];
  for (const module of modules) {
    const url = pathToFileURL(join(REPO, module)).href;
    const loaded = await load(url, { importAttributes: {}, conditions: [] }, () => {
      throw new Error('a .ts file must not reach the next hook');
    });
    const copy = await readFile(join(copyRoot, module.replace(/\.ts$/, '.js')), 'utf8');
    t.equal(copy, loaded.source, `${module}: the same code as the loader's`);
  }
});

t.test('an error in the copy names the TypeScript file and line (inline source maps)', async (t) => {
  const elf = pathToFileURL(join(copyRoot, 'src/btf/elf.js')).href;
  const script = [
    `const { parseElf } = await import(${JSON.stringify(elf)});`,
    'try { parseElf(new Uint8Array(8)); } catch (error) { console.log(error.stack.split("\\n")[1].trim()); }',
  ].join('\n');
  const { stdout } = await promisify(execFile)(process.execPath, [...(entry.execArgv ?? []), '--input-type=module', '-e', script]);
  const frame = stdout.trim();
  const source = await readFile(join(REPO, 'src/btf/elf.ts'), 'utf8');
  const line = /elf\.ts:(\d+):\d+\)?$/.exec(frame);
  t.ok(line, `the frame names src/btf/elf.ts: ${frame}`);
  t.match(frame, relative(REPO, join(REPO, 'src/btf/elf.ts')));
  // The line it names throws (the copy's own line numbers differ: types are stripped).
  t.match(source.split('\n')[Number(line?.[1]) - 1] ?? '', /throw|Error\(/, 'the named line is the throw');
});
