/**
 * What a subcommand is: its name, its help, the options it takes, and the function that
 * runs it. Options are declared, not parsed by hand, so every command gets the same
 * `--help`, the same usage errors and a help text that cannot drift from the parser.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export interface OutputStream {
  write(chunk: string | Uint8Array): unknown;
}

/** Where a command reads and writes; tests pass their own, the bin passes the process's. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  readFile?: (path: string) => Promise<Uint8Array>;
  /**
   * Reads a BPF object for the codec: only the ELF parts it parses need be real (see
   * object-file.ts). Defaults to `readFile` when that is given, else the sparse reader.
   * Never for bytes sent elsewhere (uploads): use `readFile` for those.
   */
  readObject?: (path: string) => Promise<Uint8Array>;
  writeFileAtomic?: (path: string, data: Uint8Array) => Promise<void>;
  /** True when stdout is a terminal; binary output is then refused. */
  stdoutIsTTY?: boolean;
}

export type CommandIo = Required<CliIo>;

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help for a string option's value, e.g. FILE. */
  valueName?: string;
  required?: boolean;
  /** May be given several times (string options only); values are collected in order. */
  multiple?: boolean;
  description: string;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The synopsis after "Usage: ", e.g. "btfhub dump FILE". */
  usage: string;
  /** Paragraphs shown by --help between the usage line and the options. */
  description: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments: how many, and their name in messages. */
  positionals: { name: string; min: number; max?: number };
  run(args: ParsedArgs, io: CommandIo): Promise<number>;
}

/**
 * A command in the table before its module is loaded: what `btfhub --help` lists, and how to
 * load the rest. A codec command then never loads the service's modules (Fastify, BullMQ, the
 * AWS SDK, the catalog), which would cost the process most of its start-up time.
 */
export interface LazyCommand {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/** An entry of the command table: a command, or a lazy one loaded when it is run. */
export type CommandEntry = Command | LazyCommand;

function isLazy(entry: CommandEntry): entry is LazyCommand {
  return 'load' in entry && typeof entry.load === 'function';
}

/**
 * The command behind an entry; a lazy one is loaded and checked against its table line, so
 * the list `btfhub --help` prints cannot drift from the commands themselves.
 */
export async function loadCommand(entry: CommandEntry): Promise<Command> {
  if (!isLazy(entry)) return entry;
  const command = await entry.load();
  if (command.name !== entry.name || command.summary !== entry.summary) {
    throw new Error(`command table entry '${entry.name}' does not match its module (name '${command.name}', summary '${command.summary}')`);
  }
  return command;
}

/** A command line that matched its command's declaration. */
export class ParsedArgs {
  constructor(
    private readonly values: Record<string, string | boolean | string[] | undefined>,
    readonly positionals: string[],
  ) {}

  string(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** A required string option (the parser has already checked it is present). */
  required(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  }

  strings(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

/** Parses argv for `command`; `help` is true when --help was asked (nothing else is checked then). */
export function parseCommandLine(command: Command, argv: string[]): { help: boolean; args: ParsedArgs } {
  const options = { ...command.options, help: HELP_OPTION };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(options).map(([name, o]) => [name, parserOption(o)])),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // node:util reports usage problems as TypeErrors with ERR_PARSE_ARGS_* codes.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(cleanParseMessage((err as Error).message));
    throw err;
  }
  const args = new ParsedArgs(parsed.values as Record<string, string | boolean | string[] | undefined>, parsed.positionals);
  if (args.flag('help')) return { help: true, args };

  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && args.strings(name).length === 0) throw new UsageError(`--${name} ${spec.valueName ?? 'VALUE'} is required`);
    if (!spec.multiple && spec.type === 'string' && args.string(name) === '') throw new UsageError(`--${name} needs a non-empty value`);
  }
  const { name, min, max } = command.positionals;
  const count = args.positionals.length;
  if (count < min) throw new UsageError(min === 1 ? `missing ${name}` : `expected at least ${min} ${name} arguments`);
  if (max !== undefined && count > max) {
    throw new UsageError(
      max === 0 ? `unexpected argument '${args.positionals[0]}'` : `too many arguments: expected at most ${max} ${name}`,
    );
  }
  return { help: false, args };
}

/** node:util rejects keys that are present but undefined, so only set what is given. */
function parserOption(o: OptionSpec): { type: 'string' | 'boolean'; short?: string; multiple?: boolean } {
  return { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
}

/** node:util's messages end with advice about `--` that our help already gives. */
function cleanParseMessage(message: string): string {
  const text = message
    .replace(/\. To specify a positional argument.*$/s, '')
    .replace(/^Option '(.*?)' argument missing$/, "option '$1' needs a value");
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export function renderHelp(command: Command): string {
  const rows = Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const options = rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`).join('\n');
  return `Usage: ${command.usage}\n\n${command.description.trim()}\n\nOptions:\n${options}\n`;
}
