/**
 * LIKE patterns built from user input. Both backends run `LIKE ? ESCAPE '!'` with a pattern
 * from here, so '%', '_' and '!' typed by a user match themselves instead of acting as
 * wildcards. '!' rather than '\' as the escape character because a backslash inside a SQL
 * string literal means different things depending on PostgreSQL's
 * standard_conforming_strings; '!' means the same everywhere.
 */
export const LIKE_ESCAPE = '!';

/** A LIKE pattern matching every string that starts with `prefix`, taken literally. */
export function likePrefixPattern(prefix: string): string {
  return prefix.replace(/[!%_]/g, (char) => LIKE_ESCAPE + char) + '%';
}
