/**
 * The lint, checked in CI: ESLint with typescript-eslint's type-checked recommended rules
 * (eslint.config.js) reports nothing on the repository. `npm run lint` shows the same.
 */
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

t.test('eslint . reports no problem', async (t) => {
  const eslint = new ESLint({ cwd: ROOT });
  const results = await eslint.lintFiles(['.']);
  t.ok(results.length > 100, `linted ${results.length} files`);
  const problems = results.flatMap((r) =>
    r.messages.map((m) => `${r.filePath.slice(ROOT.length)}:${m.line}:${m.column} ${m.ruleId ?? 'parse'}: ${m.message}`),
  );
  t.same(problems, [], 'eslint problems');
});
