#!/usr/bin/env node
/**
 * The `btfhub` executable: runs the CLI against the real process. All logic is in
 * run.ts, which tests call in-process.
 *
 * Two builds of this file: tsc's ES module (dist/src/cli/main.js, what `node src/cli/main.ts`
 * and `node dist/src/cli/main.js` run) and the package's bin, dist/src/cli/btfhub.cjs, the
 * same code as one small CommonJS file (scripts/bundle-cli.mjs). Why the second: Node 20
 * starts an ES module entry ~8 ms slower than a CommonJS one (it sets up its ES module loader
 * first), which is a tenth of a bundled command's whole run. Hence no top-level await here.
 */
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUNDLED_COMMANDS, CLI_BUNDLE_FILE } from './bundled.js';
import { requireWithCodeCache } from './code-cache.js';

// Node >= 22.1 can keep compiled bytecode of our modules between runs (in the OS temporary
// directory, or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off): every
// command starts faster from its second run on. Enabled before anything else is loaded (but
// node:fs, the constants of bundled.js and code-cache.js with node:vm), hence the dynamic
// import and the require below. Node 20 has no such cache: there the bundle is compiled with
// the code cache the build wrote beside it (code-cache.ts).
const enableCompileCache = (module as { enableCompileCache?: () => unknown }).enableCompileCache;
enableCompileCache?.();

void main();

async function main(): Promise<void> {
  // A bundled command runs from the one-file bundle when the build made it (bundled.ts says why).
  const { runCli } = await loadRunner(process.argv[2]);

  // process.stdout and process.stderr load Node's stream modules when first touched: a command
  // that writes nothing there (trim --out, fetch answered by the kernel's own BTF) skips that.
  const stdout = lazyStream(() => {
    // `btfhub dump ... | head` closes the pipe early: that ends the output, it is not an error.
    // Any other write failure (a full disk) is one, reported in a line rather than a stack.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      process.stderr.write(`btfhub: cannot write to stdout: ${err.code ?? err.message}\n`);
      process.exit(1);
    });
    return process.stdout;
  });
  const stderr = lazyStream(() => process.stderr);

  // exitCode, not exit(): pending stdout writes (a trimmed BTF, a dump) are flushed first.
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout,
    stderr,
    get stdoutIsTTY() {
      return stdout.isTTY;
    },
  });
}

/** A process stream opened on first use, with the members the CLI reads (isTTY, columns). */
function lazyStream(open: () => NodeJS.WriteStream) {
  let stream: NodeJS.WriteStream | undefined;
  const get = () => (stream ??= open());
  return {
    write: (chunk: string | Uint8Array) => get().write(chunk),
    get isTTY(): boolean {
      return get().isTTY === true;
    },
    get columns(): number | undefined {
      return get().columns;
    },
  };
}

/** run.ts, from the bundle for a bundled command when it is there, else as compiled modules. */
async function loadRunner(command: string | undefined): Promise<typeof import('./run.js')> {
  const bundle = new URL(`./${CLI_BUNDLE_FILE}`, import.meta.url);
  if (command !== undefined && BUNDLED_COMMANDS.includes(command) && existsSync(bundle)) {
    const cached = enableCompileCache === undefined ? requireWithCodeCache(fileURLToPath(bundle)) : undefined;
    return (cached ?? module.createRequire(import.meta.url)(`./${CLI_BUNDLE_FILE}`)) as typeof import('./run.js');
  }
  return import('./run.js');
}
