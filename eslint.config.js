// Lint: the recommended rules of ESLint and typescript-eslint, type-checked.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**', 'test/fixtures/build/**', '.ci/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Off on purpose: an `async` function without `await` is how this code base implements a
      // promise-returning interface synchronously (the SQLite catalog, the in-process queue,
      // generation gates) and how Fastify plugins are written (an async plugin, or a callback
      // one); `async` there turns a throw into a rejection, which callers rely on. Removing it
      // would replace one keyword with `Promise.resolve`/`Promise.reject` wrapping everywhere.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // tap awaits every subtest itself: the promise `t.test()` returns is tap's to handle, and
    // awaiting it would serialize subtests that tap runs in order anyway.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', package: '@tapjs/core', name: 'PromiseWithSubtest' }] },
      ],
    },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
);
