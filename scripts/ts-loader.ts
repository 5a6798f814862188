/**
 * The node arguments that run a TypeScript source file (a child process started from
 * sources by a test, a bench or the soak): the repository's loader (ts-register.mjs), by
 * absolute URL so the child's working directory does not matter, and source-mapped stacks.
 */
const REGISTER = new URL('./ts-register.mjs', import.meta.url);

export function tsLoaderArgs(): string[] {
  return ['--enable-source-maps', '--import', REGISTER.href];
}
