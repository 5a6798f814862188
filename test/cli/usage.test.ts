import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run.js';
import type { Command } from '../../src/cli/command.js';
import { CliError } from '../../src/cli/errors.js';
import { writeFileAtomic } from '../../src/cli/files.js';
import { SMALL_BTF, tempDir } from './fixtures/files.js';
import { run } from './fixtures/io.js';

t.test('program help and command list', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: btfhub COMMAND/);
  for (const name of ['trim', 'relocs', 'dump']) t.match(help.stdout, new RegExp(`^  ${name} +\\S`, 'm'));
  t.equal((await run(['-h'])).stdout, help.stdout);
  t.equal((await run(['help'])).stdout, help.stdout);

  const none = await run([]);
  t.equal(none.code, 2, 'no command is a usage error');
  t.equal(none.stderr, help.stdout, 'and shows the command list on stderr');
  t.equal(none.stdout, '');
});

t.test('per-command --help', async (t) => {
  for (const name of ['trim', 'relocs', 'dump']) {
    const r = await run([name, '--help']);
    t.equal(r.code, 0, `${name} --help`);
    t.match(r.stdout, new RegExp(`^Usage: btfhub ${name} `));
    t.match(r.stdout, /-h, --help +show this help/);
    t.same(await run(['help', name]), r, `help ${name} is the same`);
  }
  const trim = await run(['trim', '--help']);
  t.match(trim.stdout, /--btf FULL +kernel BTF: raw BTF, an ELF with \.BTF, or a BTFHub \.btf\.tar\.xz/);
  t.match(trim.stdout, /--out OUT +write the trimmed BTF/);
  t.equal((await run(['trim', '--bogus', '--help'])).code, 2, 'an unknown option is an error even with --help');
});

t.test('usage errors exit 2 with a message and the usage line', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['frob'], /^btfhub: unknown command 'frob'\nTry 'btfhub --help'\.\n$/],
    [['--frob'], /^btfhub: unknown option '--frob'/],
    [['help', 'frob'], /^btfhub: unknown command 'frob'/],
    [
      ['trim'],
      /^btfhub trim: --btf FULL is required\nUsage: btfhub trim --btf FULL \[--out OUT\] OBJ\.\.\.\nTry 'btfhub trim --help'\.\n$/,
    ],
    [['trim', '--btf', 'k.btf'], /^btfhub trim: missing OBJ\n/],
    [['trim', '--btf'], /^btfhub trim: option '--btf <value>' needs a value\n/],
    [['trim', '--btf=', 'x.o'], /^btfhub trim: --btf needs a non-empty value\n/],
    [['trim', '--btf', 'k', '--nope', 'x.o'], /^btfhub trim: unknown option '--nope'\n/],
    [['relocs', 'x.o'], /^btfhub relocs: --btf FULL is required\n/],
    [['dump'], /^btfhub dump: missing FILE\nUsage: btfhub dump FILE\n/],
    [['dump', 'a', 'b'], /^btfhub dump: too many arguments: expected at most 1 FILE\n/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.stderr, message, argv.join(' '));
    t.equal(r.stdout, '', 'nothing on stdout');
  }
});

t.test('input errors exit 1 naming the file', async (t) => {
  const dir = await tempDir(t);
  const btf = join(dir, 'k.btf');
  const notElf = join(dir, 'prog.o');
  const rawBtfObject = join(dir, 'raw.o');
  await writeFile(btf, SMALL_BTF);
  await writeFile(notElf, '#!/bin/sh\necho not an object\n');
  await writeFile(rawBtfObject, SMALL_BTF);

  for (const command of ['trim', 'relocs']) {
    const nonElf = await run([command, '--btf', btf, notElf]);
    t.equal(nonElf.code, 1, `${command}: non-ELF object`);
    t.equal(nonElf.stderr, `btfhub ${command}: ${notElf}: not an ELF file (bad magic at offset 0)\n`);
    t.equal(nonElf.stdout, '');

    const raw = await run([command, '--btf', btf, rawBtfObject]);
    t.equal(raw.code, 1, `${command}: raw BTF as object`);
    t.ok(raw.stderr.startsWith(`btfhub ${command}: ${rawBtfObject}: `), 'names the file');
    t.match(raw.stderr, /no \.BTF\.ext/);

    const missing = await run([command, '--btf', join(dir, 'nope.btf'), notElf]);
    t.equal(missing.code, 1);
    t.equal(missing.stderr, `btfhub ${command}: ${join(dir, 'nope.btf')}: no such file\n`);

    const badTarget = await run([command, '--btf', notElf, notElf]);
    t.equal(badTarget.code, 1);
    t.equal(badTarget.stderr, `btfhub ${command}: ${notElf}: not raw BTF, an ELF file with .BTF, or a .btf.tar.xz archive\n`);
  }

  const truncated = join(dir, 'cut.btf');
  await writeFile(truncated, SMALL_BTF.subarray(0, 30));
  const cut = await run(['dump', truncated]);
  t.equal(cut.code, 1);
  t.match(cut.stderr, new RegExp(`^btfhub dump: ${truncated}: BTF `));

  const directory = await run(['dump', dir]);
  t.equal(directory.code, 1);
  t.equal(directory.stderr, `btfhub dump: ${dir}: is a directory\n`);
});

t.test('dump of a small BTF', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'k.btf'), SMALL_BTF);
  const r = await run(['dump', join(dir, 'k.btf')]);
  t.equal(r.code, 0);
  t.equal(r.stdout, "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] TYPEDEF 'pid_t' type_id=1\n");
  t.equal(r.stderr, '');
});

t.test('trim refuses to write binary BTF to a terminal before doing any work', async (t) => {
  let reads = 0;
  const r = await run(['trim', '--btf', 'k.btf', 'x.o'], {
    stdoutIsTTY: true,
    readFile: async () => {
      reads++;
      return SMALL_BTF;
    },
  });
  t.equal(r.code, 1);
  t.match(r.stderr, /refusing to write binary BTF to a terminal; use --out OUT or redirect stdout/);
  t.equal(reads, 0);
});

t.test('errors that are bugs exit 70 with a stack', async (t) => {
  const broken: Command = {
    name: 'broken',
    summary: 'fails',
    usage: 'btfhub broken',
    description: 'x',
    options: {},
    positionals: { name: 'X', min: 0, max: 0 },
    run: async () => {
      throw new TypeError('oops');
    },
  };
  const user: Command = {
    ...broken,
    name: 'user',
    run: async () => {
      throw new CliError('a plain message');
    },
  };
  const lines: string[] = [];
  const io = { stdout: { write: () => true }, stderr: { write: (s: string | Uint8Array) => lines.push(String(s)) } };
  t.equal(await runCli(['broken'], io, [broken, user]), 70);
  t.match(lines.join(''), /^btfhub broken: internal error: TypeError: oops\n\s+at /);
  lines.length = 0;
  t.equal(await runCli(['user'], io, [broken, user]), 1);
  t.equal(lines.join(''), 'btfhub user: a plain message\n');
});

t.test('writeFileAtomic', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.btf');
  await writeFile(path, 'old');
  await writeFileAtomic(path, SMALL_BTF);
  t.same(new Uint8Array(await readFile(path)), SMALL_BTF, 'replaces the file');
  t.same(await readdir(dir), ['out.btf'], 'leaves no temp file');

  await t.rejects(writeFileAtomic(join(dir, 'no', 'such', 'dir.btf'), SMALL_BTF), {
    name: 'CliError',
    message: `${join(dir, 'no', 'such', 'dir.btf')}: no such file`,
  });
  t.same(await readdir(dir), ['out.btf'], 'a failed write leaves nothing behind');
});

t.test('trim --skip-failing is documented', async (t) => {
  const trim = await run(['trim', '--help']);
  t.match(trim.stdout, /--skip-failing +report relocations bpftool aborts on and go on without them/);
});
