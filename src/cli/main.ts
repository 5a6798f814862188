#!/usr/bin/env node
/**
 * The `btfhub` executable: runs the CLI against the real process. All logic is in
 * run.ts, which tests call in-process.
 */
import module from 'node:module';

// Node >= 22.1 can keep compiled bytecode of our modules between runs (in the OS temporary
// directory, or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off): every
// command starts faster from its second run on. Enabled before anything else is imported,
// hence the dynamic import below. Node 20 has no such cache and skips this.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { runCli } = await import('./run.js');

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
