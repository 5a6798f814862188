/**
 * How this repository's TypeScript sources become JavaScript when they run without a build:
 * esbuild's options, shared by the module hooks (ts-hooks.mjs) and by the codec threads'
 * transpiled copy (src/executor/thread-entry.ts), so both run the same code.
 */

/** What tsc's settings in tsconfig.json mean for the emitted code (target ES2022). */
export const TS_TRANSFORM = {
  loader: 'ts',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  sourcesContent: false,
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, verbatimModuleSyntax: false } },
};
