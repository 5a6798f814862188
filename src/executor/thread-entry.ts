/**
 * Where a codec thread's code comes from. Built (dist/), the thread runs the compiled
 * `codec-thread.js` beside this module. From TypeScript sources (the test suite, `npm run
 * fuzz`, via scripts/ts-register.mjs), a thread that loaded the loader would start a loader
 * thread of its own and transpile its modules again, in every codec thread; instead the
 * thread's module graph (relative imports only: the codec, the executor, the compat
 * resolver) is transpiled once here with esbuild, as the loader does (the same options:
 * scripts/ts-transform.mjs, inline source maps included), written under the temporary
 * directory keyed by a hash of the sources, the options and the checkout's path (so only a
 * change of them pays for transpiling again), and the thread runs that without any loader:
 * it starts in tens of milliseconds, as in production.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface ThreadEntry {
  url: URL;
  /** Node flags for the thread: none when it runs transpiled code (no loader needed). */
  execArgv?: string[];
}

let cached: Promise<ThreadEntry> | undefined;

/** The entry of codec threads (`codec-thread`), compiled or transpiled as explained above. */
export function codecThreadEntry(): Promise<ThreadEntry> {
  cached ??= resolveEntry();
  return cached;
}

async function resolveEntry(): Promise<ThreadEntry> {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return { url: new URL('./codec-thread.js', import.meta.url) };
  // Source-mapped stacks when the process has them (the test suite does): a codec thread's
  // error then names the .ts line.
  const execArgv = process.execArgv.includes('--enable-source-maps') ? ['--enable-source-maps'] : [];
  return { url: pathToFileURL(await transpiledGraph(join(dirname(here), 'codec-thread.ts'))), execArgv };
}

const RELATIVE_IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)'/g;

/** Transpiles `entry` and every module it imports relatively; the path of the entry's .js copy. */
async function transpiledGraph(entry: string): Promise<string> {
  const files = new Map<string, string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    files.set(file, source);
    for (const match of source.matchAll(RELATIVE_IMPORT)) pending.push(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
  }
  const root = dirname(dirname(dirname(entry))); // <repo>/src/executor/codec-thread.ts -> <repo>
  const { TS_TRANSFORM } = (await import(new URL('../../scripts/ts-transform.mjs', import.meta.url).href)) as {
    TS_TRANSFORM: Record<string, unknown>;
  };
  // The checkout's own path too: the copies' source maps name the .ts files by absolute path,
  // so another checkout of the same sources (CI's clone) gets copies naming its own files.
  const hash = createHash('sha256').update(`esbuild\0${JSON.stringify(TS_TRANSFORM)}\0${root}\0`);
  for (const [file, source] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(`${relative(root, file)}\0${source}\0`);
  const out = join(tmpdir(), 'btfhub-codec-thread', hash.digest('hex').slice(0, 16));
  const target = (file: string) => join(out, relative(root, file)).replace(/\.ts$/, '.js');
  if (!existsSync(target(entry))) {
    const { transformSync } = await import('esbuild');
    const staging = `${out}.${process.pid}.tmp`;
    for (const [file, source] of files) {
      const { code } = transformSync(source, { ...TS_TRANSFORM, sourcefile: file });
      const path = join(staging, relative(root, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, code);
    }
    // The ESM marker for the copies, then one rename: concurrent processes never see half a tree.
    writeFileSync(join(staging, 'package.json'), '{"type":"module"}\n');
    try {
      renameSync(staging, out);
    } catch {
      // Another process made the same tree first: use theirs.
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return target(entry);
}
