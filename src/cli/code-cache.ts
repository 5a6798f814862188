/**
 * The CLI bundle compiled with V8's code cache, for Node versions without a compile cache of
 * their own.
 *
 * Node >= 22.1 keeps the compiled code of our files between runs itself
 * (`module.enableCompileCache`, main.ts). Node 20 compiles the ~240 KB bundle again on every
 * run: 6.6-6.8 ms of each `btfhub fetch` on the 2-core VM we measure on, against 1.7-1.9 ms
 * with a code cache. So the build writes the bundle's code cache beside it
 * (`cli-bundle.cjs.cache`, made by the Node that builds), and the launcher compiles the bundle
 * with it on Node 20. V8 checks a cache against its own version, its flags and the source
 * before it uses one, and compiles the source as usual when they differ (another Node, a
 * bundle changed since): a stale cache costs that check, never a wrong program.
 *
 * The bundle runs as `require` would run it: the same wrapper function and arguments, a
 * `require` that resolves from the bundle's directory, `import()` through Node's own loader.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants, Script } from 'node:vm';

/** Appended to the bundle's file name to name its code cache. */
export const CODE_CACHE_SUFFIX = '.cache';

type CommonJsWrapper = (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;

export interface LoadedCommonJs {
  /** What the file's `module.exports` ended as. */
  exports: unknown;
  /** Whether V8 refused the code cache given (undefined: none given). */
  cacheRejected: boolean | undefined;
  /** The compiled script, to make a code cache of. */
  script: Script;
}

/** Compiles the CommonJS file at `path` (with `cachedData` as its code cache, when given) and runs it. */
export function runCommonJs(path: string, cachedData?: Buffer): LoadedCommonJs {
  const source = readFileSync(path, 'utf8');
  // The text CommonJS wraps a file in; a code cache is valid for this exact source.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: path,
    cachedData,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as CommonJsWrapper;
  wrapper.call(module.exports, module.exports, createRequire(path), module, path, dirname(path));
  return { exports: module.exports, cacheRejected: script.cachedDataRejected, script };
}

/** The file at `path` run with the code cache beside it, or undefined when there is none to read. */
export function requireWithCodeCache(path: string): unknown {
  let cachedData: Buffer;
  try {
    cachedData = readFileSync(`${path}${CODE_CACHE_SUFFIX}`);
  } catch {
    return undefined;
  }
  return runCommonJs(path, cachedData).exports;
}

/** A code cache for the file at `path`: compiled and its top level run in this process. */
export function makeCodeCache(path: string): Buffer {
  return runCommonJs(path).script.createCachedData();
}
