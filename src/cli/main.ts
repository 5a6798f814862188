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

// `btfhub dump ... | head` closes the pipe early: that ends the output, it is not an error.
// Any other write failure (a full disk) is one, reported in a line rather than a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`btfhub: cannot write to stdout: ${err.code ?? err.message}\n`);
  process.exit(1);
});

// exitCode, not exit(): pending stdout writes (a trimmed BTF, a dump) are flushed first.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdoutIsTTY: process.stdout.isTTY === true,
});
