/**
 * One formatter, checked in CI: every TypeScript and JavaScript file of the repository is as
 * Prettier (.prettierrc.json) writes it. `npm run format` fixes what this test reports.
 * Which files are formatted is .prettierignore's to say (generated and vendored ones are not).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Files git knows (tracked or new, not ignored): what a commit would hold. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((f) => /\.(ts|js|mjs|cjs)$/.test(f));
}

t.test('every source file is formatted by Prettier', async (t) => {
  const files = repositoryFiles();
  t.ok(files.length > 100, `found the sources (${files.length} files)`);
  const unformatted: string[] = [];
  let checked = 0;
  for (const file of files) {
    const path = join(ROOT, file);
    const info = await prettier.getFileInfo(path, { ignorePath: join(ROOT, '.prettierignore') });
    if (info.ignored || info.inferredParser === null) continue;
    const options = await prettier.resolveConfig(path);
    t.ok(options !== null, `${file}: .prettierrc.json applies`);
    checked++;
    if (!(await prettier.check(readFileSync(path, 'utf8'), { ...options, filepath: path }))) unformatted.push(file);
  }
  t.ok(checked > 100, `checked ${checked} files`);
  t.same(unformatted, [], 'run `npm run format` to format these');
});
