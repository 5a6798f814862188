/**
 * Running a CommonJS file with V8's code cache (src/cli/code-cache.ts), as the launcher runs
 * the CLI bundle on Node 20: the file behaves as under `require` (its exports, `this`,
 * __filename and __dirname, a `require` from its own directory, `import()`), a cache made
 * from it is accepted, and a cache that does not match (another source) is refused by V8
 * and the file still runs, compiled from its source.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { CODE_CACHE_SUFFIX, makeCodeCache, requireWithCodeCache, runCommonJs } from '../../src/cli/code-cache.js';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'btfhub-code-cache-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const mainPath = join(dir, 'main.cjs');
await writeFile(join(dir, 'helper.cjs'), 'module.exports = { twice: (n) => 2 * n };\n');
await writeFile(join(dir, 'later.mjs'), 'export const answer = 42;\n');
await writeFile(
  mainPath,
  [
    '"use strict";',
    'const { twice } = require("./helper.cjs");',
    'exports.same = this === module.exports;',
    'exports.file = __filename;',
    'exports.dir = __dirname;',
    'exports.six = twice(3);',
    'exports.later = () => import("./later.mjs").then((m) => m.answer);',
    '',
  ].join('\n'),
);

interface MainExports {
  same: boolean;
  file: string;
  dir: string;
  six: number;
  later: () => Promise<number>;
}

t.test('a file run as require runs it: exports, this, __filename, __dirname, require and import() from its directory', async (t) => {
  const { exports, cacheRejected } = runCommonJs(mainPath);
  const main = exports as MainExports;
  t.equal(cacheRejected, undefined, 'no cache given');
  t.equal(main.same, true, 'this is module.exports');
  t.equal(main.file, mainPath);
  t.equal(main.dir, dir);
  t.equal(main.six, 6, 'require resolves beside the file');
  t.equal(await main.later(), 42, 'import() through Node’s own loader');
});

/** Runs `file` with the cache at `cachePath` in a fresh process: V8 holds nothing of it yet there. */
async function inFreshProcess(file: string, cachePath?: string): Promise<{ cacheRejected: boolean | null; exports: string[] }> {
  const args = [...tsLoaderArgs(), join(HERE, 'fixtures/run-with-code-cache.ts'), file];
  if (cachePath !== undefined) args.push(cachePath);
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT });
  return JSON.parse(stdout) as { cacheRejected: boolean | null; exports: string[] };
}

t.test('a cache made from the file is accepted by a fresh process, and the file runs the same with it', async (t) => {
  const cache = makeCodeCache(mainPath);
  t.ok(cache.length > 0, 'a cache was made');
  await writeFile(join(dir, 'main.cache'), cache);
  t.same(await inFreshProcess(mainPath, join(dir, 'main.cache')), {
    cacheRejected: false,
    exports: ['dir', 'file', 'later', 'same', 'six'],
  });
  t.same(await inFreshProcess(mainPath), { cacheRejected: null, exports: ['dir', 'file', 'later', 'same', 'six'] }, 'and without one');
});

t.test('a cache of another source, or bytes that are no cache, are refused, and the file still runs from its source', async (t) => {
  const otherPath = join(dir, 'other.cjs');
  await writeFile(otherPath, 'exports.six = 7;\nexports.extra = [1, 2, 3].map((n) => n * n);\n');
  await writeFile(join(dir, 'other.cache'), makeCodeCache(otherPath));
  t.same(await inFreshProcess(mainPath, join(dir, 'other.cache')), {
    cacheRejected: true,
    exports: ['dir', 'file', 'later', 'same', 'six'],
  });
  await writeFile(join(dir, 'garbage.cache'), 'not a code cache at all');
  t.same(await inFreshProcess(mainPath, join(dir, 'garbage.cache')), {
    cacheRejected: true,
    exports: ['dir', 'file', 'later', 'same', 'six'],
  });
});

t.test('requireWithCodeCache: the cache beside the file, or undefined without one', async (t) => {
  const lonePath = join(dir, 'lone.cjs');
  await writeFile(lonePath, 'exports.value = "lone";\n');
  t.equal(requireWithCodeCache(lonePath), undefined, 'no cache file: the caller requires the file itself');
  await writeFile(`${lonePath}${CODE_CACHE_SUFFIX}`, makeCodeCache(lonePath));
  t.same(requireWithCodeCache(lonePath), { value: 'lone' });
});
