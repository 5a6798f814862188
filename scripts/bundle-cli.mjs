/**
 * Writes the CLI's two CommonJS files beside the compiled modules (src/cli/bundled.ts says
 * why each exists), and the bundle's V8 code cache (cli-bundle.cjs.cache, made by the Node
 * that runs this: src/cli/code-cache.ts):
 *   - the bundle (cli-bundle.cjs): src/cli/run.ts and what the bundled commands import, as
 *     one file. Packages stay outside it (required where used, so never by these commands:
 *     the start-up import test checks that), and so do the other commands' modules: their
 *     `import()` is left as it is and finds the compiled module beside the bundle, which
 *     main.ts never asks for.
 *   - the launcher (btfhub.cjs, the package's bin): src/cli/main.ts alone, which requires the
 *     bundle for a bundled command and imports the compiled run.js for any other.
 *
 *   node scripts/bundle-cli.mjs [OUTDIR]   (default dist/src/cli; run by npm run build)
 */
import { build } from 'esbuild';
import { readdirSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { BUNDLED_COMMANDS, CLI_BUNDLE_FILE, CLI_LAUNCHER_FILE } = await import(
  new URL('../dist/src/cli/bundled.js', import.meta.url).href
).catch(() => import(new URL('../src/cli/bundled.ts', import.meta.url).href));
const { CODE_CACHE_SUFFIX, makeCodeCache } = await import(new URL('../dist/src/cli/code-cache.js', import.meta.url).href).catch(
  () => import(new URL('../src/cli/code-cache.ts', import.meta.url).href),
);
const outdir = process.argv[2] ?? `${ROOT}dist/src/cli`;

const commandModules = readdirSync(`${ROOT}src/cli/commands`)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));
const unknown = BUNDLED_COMMANDS.filter((name) => !commandModules.includes(name));
if (unknown.length > 0) throw new Error(`bundle-cli: no module src/cli/commands/${unknown[0]}.ts`);

/** `./commands/NAME.js` of a command that is not bundled: left as an import of the compiled module. */
const otherCommands = {
  name: 'other-commands',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[^/]+\.js$/ }, (args) => {
      const name = args.path.slice('./commands/'.length, -'.js'.length);
      return BUNDLED_COMMANDS.includes(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/** What both files are: one CommonJS file for Node 20 and later, packages left to `require`. */
const commonJsFile = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  // Messages and stacks name our functions as the compiled modules do.
  keepNames: false,
  legalComments: 'none',
};

await build({
  ...commonJsFile,
  entryPoints: [`${ROOT}src/cli/run.ts`],
  outfile: `${outdir}/${CLI_BUNDLE_FILE}`,
  plugins: [otherCommands],
});

// The bundle's code cache, which the launcher compiles it with on Node 20 (src/cli/code-cache.ts).
writeFileSync(`${outdir}/${CLI_BUNDLE_FILE}${CODE_CACHE_SUFFIX}`, makeCodeCache(`${outdir}/${CLI_BUNDLE_FILE}`));

/** The launcher's two ways on: the bundle and the compiled run.js, both found beside it at run time. */
const besideLauncher = {
  name: 'beside-launcher',
  setup(b) {
    b.onResolve({ filter: /^\.\/(run\.js|[^/]+\.cjs)$/ }, (args) => ({ path: args.path, external: true }));
  },
};

await build({
  ...commonJsFile,
  entryPoints: [`${ROOT}src/cli/main.ts`],
  outfile: `${outdir}/${CLI_LAUNCHER_FILE}`,
  plugins: [besideLauncher],
  // main.ts finds the bundle relative to its own URL; in CommonJS that is __filename's. The
  // banner comes before esbuild's own "use strict", so it says it first (a directive counts
  // only at the top).
  banner: { js: '"use strict";\nconst __launcherUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__launcherUrl' },
});
