/**
 * What the CLI does with an error: a usage mistake exits 2 with the command's usage, an
 * error about the input (a typed error of the codec or the archive layer, or a file that
 * cannot be read) exits 1 with its message, anything else is a bug and exits 70
 * (EX_SOFTWARE) with its stack.
 */
import { ArchiveError } from '../archive/errors.js';
import { CodecError } from '../btf/errors.js';
import { BackendUnavailableError } from '../service/errors.js';

/** The command line itself is wrong: unknown option, missing argument. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An input or output the command cannot use: a missing file, a refused destination. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export const ExitCode = { Ok: 0, Failure: 1, Usage: 2, Internal: 70 } as const;

/**
 * Errors whose message is meant for the user. Services that add commands add their own
 * typed errors here (storage, catalog, configuration) so they print as one line, not a stack.
 */
export function isUserFacingError(err: unknown): err is Error {
  return err instanceof CodecError || err instanceof ArchiveError || err instanceof CliError || err instanceof BackendUnavailableError;
}
