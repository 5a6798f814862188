/**
 * The compiled service for the benches that run it as deployed (bench/cli.ts, bench/api.ts):
 * `npm run build` when dist/ is missing or older than a source file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_LAUNCHER_FILE } from '../src/cli/bundled.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The package's bin, as `npm run build` writes it. */
export const DIST_CLI = join(ROOT, 'dist/src/cli', CLI_LAUNCHER_FILE);

/** Builds dist/ when DIST_CLI is missing or older than a file under src/. */
export function ensureBuilt(say: (line: string) => void): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const path = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  if (existsSync(DIST_CLI) && statSync(DIST_CLI).mtimeMs >= newest(join(ROOT, 'src'))) return;
  say('bench: building dist/ (npm run build)');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
