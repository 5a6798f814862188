/**
 * The `btfhub` executable as a process (src/cli/main.ts through our TypeScript loader, as
 * test/e2e does): its streams opened on first use still write everything, a reader that
 * closes the pipe early ends the output quietly, a full disk is one line and exit 1.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadFixtures } from '../helpers/fixtures.js';
import { testArchive } from '../helpers/test-archive.js';
import { tsLoaderArgs } from '../../scripts/ts-loader.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = await loadFixtures();
const archive = await testArchive();
const object = fixtures.objects.get('tools_like')!.path;

interface Exit {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `btfhub ARGS`; `stdout` may be a file descriptor, or `firstChunk` to close the pipe after one read. */
function btfhub(args: string[], options: { stdoutFd?: number; firstChunk?: boolean } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...tsLoaderArgs(), 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (options.firstChunk) child.stdout!.destroy();
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

t.test('writes what the commands write; the TTY check and the progress stream work on the lazy streams', async (t) => {
  const help = await btfhub(['--help']);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout.toString(), /^Usage: btfhub COMMAND/);

  const trim = await btfhub(['trim', '--btf', fixtures.vmlinuxPath, object]);
  t.equal(trim.code, 0, trim.stderr);
  t.same(trim.stdout, Buffer.from(fixtures.oracle.single.get('tools_like')!), 'the trimmed BTF on stdout (a pipe, not a terminal)');

  const compat = await btfhub(['compat', '--archive', archive.dir, '--distro', 'ubuntu', '--fail-on', 'never', object]);
  t.equal(compat.code, 0, compat.stderr);
  t.match(compat.stdout.toString(), /^tools_like\.bpf\.o \(145 relocations\) on \d+ kernels of fs:/);
  t.match(compat.stderr, /btfhub compat: gate off/);
});

t.test('a reader that stops early (`| head`) ends the output without an error', async (t) => {
  const dump = await btfhub(['dump', fixtures.vmlinuxPath], { firstChunk: true });
  t.equal(dump.code, 0);
  t.equal(dump.stderr, '');
  t.match(dump.stdout.toString('latin1'), /^\[1\] /);
});

t.test(
  'a write that fails (a full disk) is one line and exit 1',
  { skip: process.platform === 'linux' ? false : '/dev/full is Linux' },
  async (t) => {
    const full = openSync('/dev/full', 'w');
    t.teardown(() => closeSync(full));
    const dump = await btfhub(['dump', fixtures.vmlinuxPath], { stdoutFd: full });
    t.equal(dump.code, 1);
    t.equal(dump.stderr, 'btfhub: cannot write to stdout: ENOSPC\n');
  },
);
