/**
 * `btfhub SUBCOMMAND ...`: picks the command, parses its options, runs it, and turns the
 * outcome into an exit status. Everything goes through `io`, so tests run the CLI
 * in-process; `main.ts` only wires it to the real process.
 */
import { parseCommandLine, renderHelp, type CliIo, type Command, type CommandIo } from './command.js';
import { COMMANDS } from './commands.js';
import { ExitCode, isUserFacingError, UsageError } from './errors.js';
import { readInputFile, writeFileAtomic } from './files.js';

export type { CliIo } from './command.js';

const PROGRAM = 'btfhub';

export async function runCli(argv: readonly string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const full: CommandIo = {
    stdout: io.stdout,
    stderr: io.stderr,
    readFile: io.readFile ?? readInputFile,
    writeFileAtomic: io.writeFileAtomic ?? writeFileAtomic,
    stdoutIsTTY: io.stdoutIsTTY ?? false,
  };
  const [name, ...rest] = argv;

  if (name === undefined) {
    full.stderr.write(programHelp(commands));
    return ExitCode.Usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : commands.find((c) => c.name === topic);
    if (topic !== undefined && !command) return usageError(full, PROGRAM, `unknown command '${topic}'`, `Try '${PROGRAM} --help'.`);
    full.stdout.write(command ? renderHelp(command) : programHelp(commands));
    return ExitCode.Ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    const what = name.startsWith('-') ? `unknown option '${name}'` : `unknown command '${name}'`;
    return usageError(full, PROGRAM, what, `Try '${PROGRAM} --help'.`);
  }

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

function programHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const list = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: ${PROGRAM} COMMAND [OPTIONS] [ARGS]\n\nCommands:\n${list}\n\nRun '${PROGRAM} COMMAND --help' for a command's options.\n`;
}
