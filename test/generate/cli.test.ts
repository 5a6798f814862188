/**
 * `btfhub generate` run in-process: raw and archive outputs, the provenance JSON, progress
 * on stderr, and errors that name their cause with nothing written to OUT.
 */
import t from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKernelBtfFile, readTarEntries, decompressXz } from '../../src/archive/index.js';
import { generateFixtures, VMLINUX_RELEASE } from '../fixtures/generate/build-packages.js';
import { runToolOrThrow } from '../fixtures/tools.js';
import { run } from '../cli/fixtures/io.js';

const fixtures = await generateFixtures();
const dir = await mkdtemp(join(tmpdir(), 'btfhub-generate-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const paholeOut = join(dir, 'pahole.btf');
await runToolOrThrow('pahole', [
  '--btf_gen_floats',
  '--skip_encoding_btf_type_tag',
  '--skip_encoding_btf_decl_tag',
  '--skip_encoding_btf_enum64',
  `--btf_encode_detached=${paholeOut}`,
  fixtures.vmlinux,
]);
const reference = await readFile(paholeOut);

t.test('raw BTF out, progress on stderr', async (t) => {
  const out = join(dir, 'kernel.btf');
  const r = await run(['generate', '--out', out, fixtures.vmlinux]);
  t.equal(r.code, 0, r.stderr);
  t.same(await readFile(out), reference, "pahole's bytes");
  t.match(
    r.stderr,
    /btfhub generate: running pahole 1\.24 --btf_gen_floats --skip_encoding_btf_type_tag --skip_encoding_btf_decl_tag --skip_encoding_btf_enum64 on vmlinux-6\.1\.0-99-amd64/,
  );
  t.match(
    r.stderr,
    new RegExp(`btfhub generate: wrote ${out}: kernel ${VMLINUX_RELEASE}, \\d+ types, ${reference.length} bytes of BTF\\n$`),
  );
  t.equal(r.stdout, '');
});

t.test('.btf.tar.xz out holds <release>.btf', async (t) => {
  const pkg = fixtures.packages.find((p) => p.kind === 'rpm')!;
  const out = join(dir, `${pkg.release}.btf.tar.xz`);
  const r = await run(['generate', '--quiet', '--json', '--kernel', pkg.release, '--out', out, fixtures.path(pkg)]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', '--quiet');
  const archive = new Uint8Array(await readFile(out));
  const entries = [...readTarEntries(await decompressXz(archive, { maxOutputBytes: 1 << 26 }))];
  t.same(
    entries.map((e) => e.name),
    [`${pkg.release}.btf`],
    'one entry named for the release',
  );
  t.same(Buffer.from(await readKernelBtfFile(archive, out)), reference, "the BTF inside is pahole's");
  const report = JSON.parse(r.stdout) as Record<string, unknown>;
  t.equal(report.out, out);
  t.equal(report.form, 'btf.tar.xz');
  t.equal(report.release, pkg.release);
  t.match(report.source, { format: 'rpm', compression: pkg.compression, package: { name: pkg.name }, entryPath: pkg.entryPath });
  t.match(report.pahole, {
    version: '1.24',
    flags: ['--btf_gen_floats', '--skip_encoding_btf_type_tag', '--skip_encoding_btf_decl_tag', '--skip_encoding_btf_enum64'],
  });
  t.notOk('btf' in report, 'the BTF bytes are not in the report');
});

t.test('failures name the cause and write nothing', async (t) => {
  const out = join(dir, 'fail.btf');
  const cases: [string[], RegExp][] = [
    [
      ['--kernel', '6.1.0-1-amd64', fixtures.vmlinux],
      /btfhub generate: vmlinux-6\.1\.0-99-amd64 is named for kernel 6\.1\.0-99-amd64, not for --kernel 6\.1\.0-1-amd64 \[RELEASE_MISMATCH\]/,
    ],
    [[fixtures.noVmlinuxDeb], /btfhub generate: no-vmlinux\.deb: no vmlinux in the package .* \[NO_VMLINUX\]/],
    [[fixtures.vmlinuxNoDwarf], /has no DWARF .* \[NO_DWARF\]/],
    [[join(dir, 'missing')], /btfhub generate: .*missing: no such file \[INPUT\]/],
    [['--pahole', join(dir, 'no-pahole'), fixtures.vmlinux], /cannot run .*no-pahole.* \[PAHOLE\]/],
  ];
  for (const [args, message] of cases) {
    const r = await run(['generate', '--out', out, ...args]);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, message);
  }
  t.same(
    (await readdir(dir)).filter((n) => n.includes('fail.btf')),
    [],
    'nothing written, no temp file left',
  );
  const notPkg = join(dir, 'x.txt');
  await writeFile(notPkg, 'text');
  t.match(
    (await run(['generate', '--out', out, notPkg])).stderr,
    /not a vmlinux ELF, a \.deb\/\.ddeb or an RPM package .*\[NOT_A_PACKAGE\]/,
  );
});

t.test('usage', async (t) => {
  const noOut = await run(['generate', fixtures.vmlinux]);
  t.equal(noOut.code, 2);
  t.match(noOut.stderr, /--out OUT is required/);
  const noFile = await run(['generate', '--out', join(dir, 'x.btf')]);
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, /missing FILE/);
  const badTimeout = await run(['generate', '--timeout', 'soon', '--out', join(dir, 'x.btf'), fixtures.vmlinux]);
  t.equal(badTimeout.code, 2);
  t.match(badTimeout.stderr, /--timeout must be a positive number of seconds, got 'soon'/);
  const ok = await run(['generate', '--timeout', '60', '-q', '--out', join(dir, 't.btf'), fixtures.vmlinux]);
  t.equal(ok.code, 0, ok.stderr);
  const help = await run(['generate', '--help']);
  t.match(help.stdout, /^Usage: btfhub generate \[--kernel RELEASE\] --out OUT FILE/);
  t.match((await run(['--help'])).stdout, /^ {2}generate +make kernel BTF from a debug vmlinux/m, 'listed in the command list');
});
