/**
 * The commands that run from the CLI's single-file bundle: the ones an agent or a build runs
 * often and wants to start like a native tool. `npm run build` writes the bundle
 * (scripts/bundle-cli.mjs) beside the compiled CLI; main.ts runs these commands from it when
 * it is there, and every other command, and every command when it is not (running from
 * src/, a build without it), from the compiled modules.
 *
 * Why: Node 20 loads an ES module in ~1.3 ms of CPU, and `btfhub fetch` loaded 27 of them,
 * ~40 ms before doing any work; one CommonJS file with the same code loads in a few ms.
 * Service commands (serve, worker, migrate, import) and the archive ones keep the compiled
 * modules: they start once and run long, and their packages and worker threads are found
 * by path.
 */
export const BUNDLED_COMMANDS: readonly string[] = ['trim', 'relocs', 'dump', 'fetch'];

/** The bundle's file name, in the directory of the compiled main.js. */
export const CLI_BUNDLE_FILE = 'cli-bundle.cjs';

/**
 * The package's bin, beside the bundle: main.ts as one CommonJS file, since Node 20 starts a
 * CommonJS entry ~8 ms sooner than an ES module one (its ES module loader is not set up).
 */
export const CLI_LAUNCHER_FILE = 'btfhub.cjs';
