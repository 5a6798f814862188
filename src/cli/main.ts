#!/usr/bin/env node
/**
 * The `btfhub` executable: runs the CLI against the real process. All logic is in
 * run.ts, which tests call in-process.
 */
import { runCli } from './run.js';

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
