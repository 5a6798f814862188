/**
 * `btfhub SUBCOMMAND ...`: picks the command, parses its options, runs it, and turns the
 * outcome into an exit status. Everything goes through `io`, so tests run the CLI
 * in-process; `main.ts` only wires it to the real process.
 */
import { loadCommand, parseCommandLine, renderHelp, type CliIo, type CommandEntry, type CommandIo } from './command.js';
import { COMMANDS } from './commands.js';
import { ExitCode, isUserFacingError, UsageError } from './errors.js';
import { readInputFile, readObjectFile, writeFileAtomic } from './files.js';

export type { CliIo } from './command.js';

const PROGRAM = 'btfhub';

export async function runCli(argv: readonly string[], io: CliIo, commands: readonly CommandEntry[] = COMMANDS): Promise<number> {
  const full: CommandIo = {
    stdout: io.stdout,
    stderr: io.stderr,
    readFile: io.readFile ?? readInputFile,
    readObject: io.readObject ?? io.readFile ?? readObjectFile,
    writeFileAtomic: io.writeFileAtomic ?? writeFileAtomic,
    // Read when a command asks: finding out opens stdout, which costs a command that never writes there.
    get stdoutIsTTY() {
      return io.stdoutIsTTY ?? false;
    },
  };
  const [name, ...rest] = argv;

  if (name === undefined) {
    full.stderr.write(programHelp(commands));
    return ExitCode.Usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const entry = topic === undefined ? undefined : commands.find((c) => c.name === topic);
    if (topic !== undefined && !entry) return usageError(full, PROGRAM, `unknown command '${topic}'`, `Try '${PROGRAM} --help'.`);
    full.stdout.write(entry ? renderHelp(await loadCommand(entry)) : programHelp(commands));
    return ExitCode.Ok;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    const what = name.startsWith('-') ? `unknown option '${name}'` : `unknown command '${name}'`;
    return usageError(full, PROGRAM, what, `Try '${PROGRAM} --help'.`);
  }
  // Only the command that runs is loaded (see commands.ts).
  const command = await loadCommand(entry);

  const prefix = `${PROGRAM} ${command.name}`;
  try {
    const { help, args } = parseCommandLine(command, rest);
    if (help) {
      full.stdout.write(renderHelp(command));
      return ExitCode.Ok;
    }
    return await command.run(args, full);
  } catch (err) {
    if (err instanceof UsageError) {
      return usageError(full, prefix, err.message, `Usage: ${command.usage}\nTry '${prefix} --help'.`);
    }
    if (isUserFacingError(err)) {
      full.stderr.write(`${prefix}: ${err.message}\n`);
      return ExitCode.Failure;
    }
    full.stderr.write(`${prefix}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Internal;
  }
}

function usageError(io: CommandIo, prefix: string, message: string, hint: string): number {
  io.stderr.write(`${prefix}: ${message}\n${hint}\n`);
  return ExitCode.Usage;
}

function programHelp(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const list = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: ${PROGRAM} COMMAND [OPTIONS] [ARGS]\n\nCommands:\n${list}\n\nRun '${PROGRAM} COMMAND --help' for a command's options.\n`;
}
