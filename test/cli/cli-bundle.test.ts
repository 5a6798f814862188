/**
 * The CLI's single-file bundle (src/cli/bundled.ts, scripts/bundle-cli.mjs), built here into
 * a scratch directory: it holds the bundled commands and what they import and nothing of the
 * service (the start-up import test's rule, checked on the file: no package is required, no
 * service folder is inside), leaves every other command to its compiled module, and runs
 * the bundled commands as the compiled modules do (bpftool's bytes, the same exit codes).
 * The launcher built beside it (the package's bin) is main.ts alone, and runs a bundled
 * command from the bundle as a process; the bundle's code cache, written beside it, is one
 * this Node accepts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { BUNDLED_COMMANDS, CLI_BUNDLE_FILE, CLI_LAUNCHER_FILE } from '../../src/cli/bundled.js';
import { CODE_CACHE_SUFFIX } from '../../src/cli/code-cache.js';
import { COMMANDS } from '../../src/cli/commands.js';
import type { CliIo } from '../../src/cli/run.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = await loadFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-cli-bundle-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const bundlePath = join(scratch, CLI_BUNDLE_FILE);
const launcherPath = join(scratch, CLI_LAUNCHER_FILE);
await promisify(execFile)(process.execPath, [...tsLoaderArgs(), 'scripts/bundle-cli.mjs', scratch], {
  cwd: ROOT,
});
const text = await readFile(bundlePath, 'utf8');
const launcherText = await readFile(launcherPath, 'utf8');

t.test("the bundle's code cache is written beside it, and this Node accepts it for the bundle", async (t) => {
  // In a process of its own: there V8 holds nothing of the bundle yet, so the cache is really checked.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...tsLoaderArgs(), 'test/cli/fixtures/run-with-code-cache.ts', bundlePath, `${bundlePath}${CODE_CACHE_SUFFIX}`],
    { cwd: ROOT },
  );
  const { cacheRejected, exports } = JSON.parse(stdout) as { cacheRejected: boolean; exports: string[] };
  t.equal(cacheRejected, false, 'V8 used the cache the build made');
  t.ok(exports.includes('runCli'), 'the bundle runs from it');
});

t.test('the bundled commands are real commands of the table', async (t) => {
  for (const name of BUNDLED_COMMANDS)
    t.ok(
      COMMANDS.some((c) => c.name === name),
      name,
    );
});

t.test('no package and no service folder inside; other commands left to their modules', async (t) => {
  const required = [...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!).filter((name) => !name.startsWith('node:'));
  t.same(required, [], 'only node: built-ins are required');
  // esbuild heads every module it inlines with a `// src/...` comment.
  const folders = new Set([...text.matchAll(/^\/\/ src\/([^/\n]+)\//gm)].map((m) => m[1]!));
  for (const folder of ['api', 'queue', 'catalog', 'config', 'jobs', 'executor']) t.notOk(folders.has(folder), `nothing of src/${folder}`);
  t.ok(folders.has('btf') && folders.has('fetch'), 'the codec and the fetch chain are inside');
  const imported = [...text.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1]!).filter((path) => !path.startsWith('node:'));
  const others = COMMANDS.map((c) => c.name).filter((name) => !BUNDLED_COMMANDS.includes(name));
  t.same(imported.sort(), others.map((name) => `./commands/${name}.js`).sort(), 'each other command is an import of its compiled module');
});

/** Runs the bundle's runCli in this process, output collected. */
async function run(argv: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const { runCli } = createRequire(import.meta.url)(bundlePath) as { runCli: (argv: string[], io: CliIo) => Promise<number> };
  const out: Buffer[] = [];
  let err = '';
  const code = await runCli(argv, {
    stdout: { write: (c: string | Uint8Array) => out.push(Buffer.from(c)) },
    stderr: { write: (c: string | Uint8Array) => (err += String(c)) },
  });
  return { code, stdout: Buffer.concat(out), stderr: err };
}

t.test('trim from the bundle: the oracle bytes for each fixture', async (t) => {
  for (const [name, want] of fixtures.oracle.single) {
    const object = fixtures.objects.get(name);
    if (!object || name.startsWith('type_matches')) continue;
    const res = await run(['trim', '--btf', fixtures.vmlinuxPath, object.path]);
    t.equal(res.code, 0, `${name}: exit 0 ${res.stderr}`);
    t.ok(Buffer.from(want).equals(res.stdout), `${name}: bpftool's bytes`);
  }
});

t.test('dump, relocs and fetch from the bundle; usage and file errors as in the modules', async (t) => {
  const object = fixtures.objects.get('tools_like')!.path;
  const dump = await run(['dump', fixtures.vmlinuxPath]);
  t.equal(dump.code, 0);
  t.match(dump.stdout.toString(), /^\[1\] /);
  const relocs = await run(['relocs', '--btf', fixtures.vmlinuxPath, object]);
  t.equal(relocs.code, 0, relocs.stderr);
  t.ok(
    relocs.stdout
      .toString()
      .trim()
      .split('\n')
      .every((line) => typeof JSON.parse(line) === 'object'),
    'JSON lines',
  );
  const fetched = join(scratch, 'fetched.btf');
  const fetch = await run(['fetch', '--btf', fixtures.vmlinuxPath, '--offline', '--quiet', '--trim', '--out', fetched, object]);
  t.equal(fetch.code, 0, fetch.stderr);
  t.ok(Buffer.from(fixtures.oracle.single.get('tools_like')!).equals(await readFile(fetched)), 'fetch --trim writes the trimmed BTF');
  const usage = await run(['trim', '--bogus']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /^btfhub trim: unknown option '--bogus'/);
  const missing = await run(['trim', '--btf', join(scratch, 'nope.btf'), object]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /nope\.btf: no such file/);
});

t.test('the launcher: main.ts alone, the bundle or the compiled run.js found beside it', async (t) => {
  t.match(launcherText, /^#!\/usr\/bin\/env node\n"use strict";\n/, 'an executable script, in strict mode');
  const modules = [...launcherText.matchAll(/^\/\/ (src\/\S+)$/gm)].map((m) => m[1]!);
  t.same(
    [...new Set(modules)].sort(),
    ['src/cli/bundled.ts', 'src/cli/code-cache.ts', 'src/cli/main.ts'],
    'only main.ts, its constants and the code-cache loader inside',
  );
  const required = [...launcherText.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!).filter((name) => !name.startsWith('node:'));
  t.same(required, [], 'no package required');
  const imported = [...launcherText.matchAll(/\bimport\("([^"]+)"\)/g)].map((m) => m[1]!);
  t.same(imported, ['./run.js'], 'any other command goes through the compiled run.js');
  t.notMatch(launcherText, /import\.meta/, 'no import.meta left in CommonJS');
});

t.test('the launcher as a process runs a bundled command from the bundle: bpftool bytes, exit codes', async (t) => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [launcherPath, ...args], { encoding: 'utf8' }, (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      );
    });
  const object = fixtures.objects.get('tools_like')!.path;
  const out = join(scratch, 'launched.btf');
  const trimmed = await run(['trim', '--btf', fixtures.vmlinuxPath, '--out', out, object]);
  t.equal(trimmed.code, 0, trimmed.stderr);
  t.ok(Buffer.from(fixtures.oracle.single.get('tools_like')!).equals(await readFile(out)), "bpftool's bytes");
  const usage = await run(['trim', '--bogus']);
  t.equal(usage.code, 2, 'usage error: exit 2');
  t.match(usage.stderr, /^btfhub trim: unknown option '--bogus'/);
});
