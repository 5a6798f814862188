/**
 * Module hooks that run this repository's TypeScript sources in Node without a build: the
 * test suite (tap's `node-arg`), the scripts and benches (`npm run bench|soak|fuzz|openapi`),
 * and the child processes tests start from sources. Registered by ts-register.mjs.
 *
 * Transpile only: esbuild strips the types of each file on its own (no type checking; that
 * is `npm run typecheck` and the lint test), with an inline source map so coverage and
 * stack traces point at the TypeScript lines (options in ts-transform.mjs, which the codec
 * threads' transpiled copy uses too: src/executor/thread-entry.ts). It replaced tap's
 * ts-node loader, which loaded the TypeScript compiler in every test process and
 * transpiled a test's whole import graph with it: ~3 s of CPU per test file that starts
 * the API.
 *
 *   resolve  `./x.js` written in a .ts file (NodeNext style) finds `./x.ts` when there is no
 *            x.js beside it; everything else resolves as Node resolves it.
 *   load     a `.ts` file outside node_modules is read and transpiled to an ES module.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { transform } from 'esbuild';
import { TS_TRANSFORM } from './ts-transform.mjs';

/** `<path>.js` and what follows it (`?query`, `#hash`). */
const JS_SPECIFIER = /^(.*)\.js([?#].*)?$/s;

const isRelativeOrFile = (specifier) => specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:');

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    // `./x.js`, maybe with a query or hash (tap's mockImport adds `?tapmock=...`). A worker's
    // or the process's entry has no parent: it is an absolute path or a file URL.
    const js = JS_SPECIFIER.exec(specifier);
    if (js !== null && isRelativeOrFile(specifier)) {
      const ts = new URL(`${js[1]}.ts${js[2] ?? ''}`, context.parentURL ?? pathToFileURL(`${process.cwd()}/`));
      if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  const file = url.startsWith('file:') ? new URL(url) : null;
  if (file === null || !file.pathname.endsWith('.ts') || file.pathname.includes('/node_modules/')) return nextLoad(url, context);
  const path = fileURLToPath(file);
  const { code } = await transform(await readFile(path, 'utf8'), { ...TS_TRANSFORM, sourcefile: path });
  return { format: 'module', source: code, shortCircuit: true };
}
