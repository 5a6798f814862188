/**
 * generateKernelBtf end to end on this machine: the mini kernel bare and in every package
 * form (dpkg-deb and rpmbuild made them), checked against pahole run here with the same
 * flags, then trimmed for a CO-RE object and checked against bpftool; and every bad input
 * ends in a GenerateError naming its cause.
 */
import t, { type Test } from 'tap';
import { chmod, mkdtemp, readdir, readFile, rm, truncate, copyFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf } from '../../src/btf/btf.js';
import { BtfKind } from '../../src/btf/kinds.js';
import { parseBpfObject } from '../../src/btf/object.js';
import { trimBtf } from '../../src/btf/trim.js';
import { GenerateError } from '../../src/generate/errors.js';
import { generateKernelBtf } from '../../src/generate/generate.js';
import { detectPaholeVersion, paholeFlags } from '../../src/generate/pahole.js';
import { CORE_KERNEL_STRUCTS } from '../../src/generate/verify.js';
import { BOMB_BYTES, generateFixtures, VMLINUX_RELEASE } from '../fixtures/generate/build-packages.js';
import { runBpftoolMinCore, runToolOrThrow } from '../fixtures/tools.js';

const fixtures = await generateFixtures();
const scratch = await mkdtemp(join(tmpdir(), 'btfhub-generate-test-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

/** pahole on the bare vmlinux, run by the test itself with the flags the library picks. */
const paholeVersion = await detectPaholeVersion();
const flags = paholeFlags(paholeVersion);
const referencePath = join(scratch, 'reference.btf');
await runToolOrThrow('pahole', [...flags, `--btf_encode_detached=${referencePath}`, fixtures.vmlinux]);
const reference = await readFile(referencePath);

async function expectError(t: Test, promise: Promise<unknown>, code: string, message: RegExp): Promise<GenerateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, GenerateError, 'fails with a GenerateError');
  const g = err as GenerateError;
  t.equal(g.code, code, `code ${code}`);
  t.match(g.message, message);
  return g;
}

/** No btfhub-generate-* work directory is left behind in `dir`. */
async function workDirsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('btfhub-generate-'));
}

t.test('the flags by pahole version', async (t) => {
  t.equal(paholeVersion.text, '1.24', 'Debian 12 dwarves is the pahole this suite was written against');
  t.same(flags, ['--btf_gen_floats', '--skip_encoding_btf_type_tag', '--skip_encoding_btf_decl_tag', '--skip_encoding_btf_enum64']);
  const btf = Btf.parse(reference);
  for (let id = 1; id < btf.typeCount; id++) {
    if ([BtfKind.Enum64, BtfKind.TypeTag, BtfKind.DeclTag].includes(btf.kind(id) as never))
      t.fail(`type ${id} is of a kind older libbpf rejects`);
  }
});

t.test("a bare vmlinux gives pahole's BTF, byte for byte, with provenance", async (t) => {
  const tmp = await mkdtemp(join(scratch, 'tmp-'));
  const events: string[] = [];
  const clock = [new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:07Z')];
  const result = await generateKernelBtf(
    { file: fixtures.vmlinux },
    { tmpDir: tmp, onProgress: (e) => events.push(e.phase), now: () => clock.shift()! },
  );
  t.same(Buffer.from(result.btf), reference, 'the same bytes as pahole with the same flags');
  t.equal(result.release, VMLINUX_RELEASE, 'release from the file name');
  t.equal(result.source.format, 'vmlinux');
  t.equal(result.source.bytes, (await readFile(fixtures.vmlinux)).length);
  t.match(result.source.sha256, /^[0-9a-f]{64}$/);
  t.match(result.btfSha256, /^[0-9a-f]{64}$/);
  t.equal(result.pahole.version, '1.24');
  t.same(result.pahole.flags, flags);
  t.equal(result.startedAt, '2024-05-01T10:00:00.000Z');
  t.equal(result.finishedAt, '2024-05-01T10:00:07.000Z');
  t.ok(result.typeCount > 50, `${result.typeCount} types`);
  t.same(events, ['hash', 'extract', 'dwarf', 'pahole', 'verify'], 'progress for each phase');
  t.same(await workDirsIn(tmp), [], 'the work directory is removed');
});

t.test('every package form gives the same BTF', async (t) => {
  for (const pkg of fixtures.packages) {
    t.test(`${pkg.file} (${pkg.compression})`, async (t) => {
      const result = await generateKernelBtf({ file: fixtures.path(pkg) });
      t.same(Buffer.from(result.btf), reference, "pahole's bytes");
      t.equal(result.release, pkg.release, 'the release the vmlinux path names');
      t.equal(result.source.format, pkg.kind);
      t.equal(result.source.compression, pkg.compression);
      t.equal(result.source.entryPath, pkg.entryPath);
      t.same(result.source.package, { name: pkg.name, version: pkg.version, arch: pkg.arch }, "the package's own name, version and arch");
      // --kernel that agrees is accepted.
      const again = await generateKernelBtf({ file: fixtures.path(pkg), kernel: pkg.release, sha256: 'f'.repeat(64) });
      t.equal(again.source.sha256, 'f'.repeat(64), 'a known sha256 is taken as given');
    });
  }
});

t.test("the generated BTF trims as bpftool trims pahole's", async (t) => {
  const deb = fixtures.packages.find((p) => p.kind === 'deb' && p.compression === 'zstd')!;
  const result = await generateKernelBtf({ file: fixtures.path(deb) });
  const ours = trimBtf(Btf.parse(result.btf), [parseBpfObject(new Uint8Array(await readFile(fixtures.coreObject)), 'core-task.bpf.o')]);
  const bpftool = await runBpftoolMinCore(referencePath, [fixtures.coreObject]);
  if (!bpftool.ok) throw new Error(`bpftool min_core_btf failed: ${bpftool.stderr}`);
  t.same(Buffer.from(ours), Buffer.from(bpftool.btf), "trimBtf on the generated BTF == bpftool gen min_core_btf on pahole's");
  const trimmed = Btf.parse(ours);
  const names = new Set(Array.from({ length: trimmed.typeCount - 1 }, (_, i) => trimmed.name(i + 1)));
  for (const name of ['task_struct', 'mm_struct', 'pid_type', 'sk_buff']) t.ok(names.has(name), `${name} kept`);
});

t.test('every core kernel type is required', async (t) => {
  t.same([...CORE_KERNEL_STRUCTS], ['task_struct', 'list_head', 'mm_struct', 'file', 'inode', 'pt_regs']);
  // An ELF with DWARF that is no kernel: a small program.
  const source = join(scratch, 'not-kernel.c');
  await writeFile(source, 'struct list_head { struct list_head *next, *prev; } head;\nint main(void) { return 0; }\n');
  const elf = join(scratch, 'vmlinux-1.2.3-notkernel');
  await runToolOrThrow('gcc', ['-g', '-o', elf, source]);
  await expectError(
    t,
    generateKernelBtf({ file: elf }),
    'BAD_BTF',
    /lacks core kernel types \(struct task_struct, struct mm_struct, struct file, struct inode, struct pt_regs\)/,
  );
});

t.test('the release', async (t) => {
  const plain = join(scratch, 'vmlinux');
  await copyFile(fixtures.vmlinux, plain);
  await expectError(t, generateKernelBtf({ file: plain }), 'BAD_RELEASE', /cannot tell the kernel release of 'vmlinux'.*--kernel/);
  const named = await generateKernelBtf({ file: plain, kernel: '5.10.0-30-cloud-amd64' });
  t.equal(named.release, '5.10.0-30-cloud-amd64', '--kernel names a plain vmlinux');
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.vmlinux, kernel: '6.1.0-1-amd64' }),
    'RELEASE_MISMATCH',
    /named for kernel 6\.1\.0-99-amd64, not for --kernel 6\.1\.0-1-amd64/,
  );
  await expectError(t, generateKernelBtf({ file: plain, kernel: '../etc' }), 'BAD_RELEASE', /kernel release '\.\.\/etc'/);
  const rpm = fixtures.packages.find((p) => p.kind === 'rpm')!;
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.path(rpm), kernel: '4.18.0-1.el8.x86_64' }),
    'RELEASE_MISMATCH',
    new RegExp(
      `holds a vmlinux for ${rpm.release.replace(/\./g, '\\.')} \\(${rpm.entryPath.replace(/\./g, '\\.')}\\), not for --kernel 4\\.18\\.0-1\\.el8\\.x86_64`,
    ),
  );
});

t.test('bad inputs name their cause', async (t) => {
  const text = join(scratch, 'notes.txt');
  await writeFile(text, 'not a package\n');
  await expectError(
    t,
    generateKernelBtf({ file: text }),
    'NOT_A_PACKAGE',
    /notes\.txt: not a vmlinux ELF, a \.deb\/\.ddeb or an RPM package \(it starts with 6e 6f 74/,
  );
  const empty = join(scratch, 'empty.deb');
  await writeFile(empty, '');
  await expectError(t, generateKernelBtf({ file: empty }), 'NOT_A_PACKAGE', /the file is empty/);
  await expectError(t, generateKernelBtf({ file: join(scratch, 'missing.deb') }), 'INPUT', /missing\.deb: no such file/);
  const ar = join(scratch, 'lib.a');
  await writeFile(ar, '!<arch>\nfoo.o/          0           0     0     644     4         `\nabcd');
  await expectError(t, generateKernelBtf({ file: ar }), 'NOT_A_PACKAGE', /an ar archive but not a Debian package \(first member 'foo\.o'/);

  await expectError(
    t,
    generateKernelBtf({ file: fixtures.noVmlinuxDeb }),
    'NO_VMLINUX',
    /no-vmlinux\.deb: no vmlinux in the package \(looked through 1 files/,
  );
  await expectError(t, generateKernelBtf({ file: fixtures.vmlinuxNoDwarf }), 'NO_DWARF', /has no DWARF \(no \.debug_info section\)/);
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.noDwarfDeb }),
    'NO_DWARF',
    /\/usr\/lib\/debug\/boot\/vmlinux-6\.1\.0-99-amd64 has no DWARF/,
  );
});

t.test('truncated packages', async (t) => {
  for (const pkg of fixtures.packages.filter((p) => p.compression !== 'none' || p.kind === 'rpm')) {
    const cut = join(scratch, `cut-${pkg.file}`);
    await copyFile(fixtures.path(pkg), cut);
    const size = (await readFile(cut)).length;
    await truncate(cut, Math.floor(size * 0.6));
    const err = await expectError(t, generateKernelBtf({ file: cut }), 'TRUNCATED', /truncated|unexpected end|premature end/i);
    t.match(err.message, `cut-${pkg.file}`, `${pkg.file}: the message names the file`);
  }
  const header = join(scratch, 'cut-header.rpm');
  const rpm = fixtures.packages.find((p) => p.kind === 'rpm')!;
  await writeFile(header, (await readFile(fixtures.path(rpm))).subarray(0, 200));
  await expectError(
    t,
    generateKernelBtf({ file: header }),
    'TRUNCATED',
    /cut-header\.rpm: truncated: the data ends at byte 200 inside the (index|data) of the RPM signature header/,
  );
});

t.test('bounds: input size, extracted size, vmlinux size, time', async (t) => {
  const deb = fixtures.packages.find((p) => p.kind === 'deb')!;
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.path(deb) }, { limits: { maxInputBytes: 100 } }),
    'LIMIT',
    /bytes is more than the input bound of 100 bytes/,
  );
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.bombDeb }, { limits: { maxExtractedBytes: BOMB_BYTES / 4 } }),
    'LIMIT',
    new RegExp(`bomb\\.deb: data\\.tar\\.xz: extracted data exceeds the bound of ${BOMB_BYTES / 4} bytes`),
  );
  const bomb = await generateKernelBtf({ file: fixtures.bombDeb });
  t.same(Buffer.from(bomb.btf), reference, 'within the default bound the same package is fine');
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.path(deb) }, { limits: { maxVmlinuxBytes: 1000 } }),
    'LIMIT',
    /vmlinux bound of 1000 bytes/,
  );
  // A decompressor that never finishes: the extraction's time bound kills it.
  const slowXz = join(scratch, 'slow-xz');
  await writeFile(slowXz, '#!/bin/sh\nexec sleep 30\n');
  await chmod(slowXz, 0o755);
  const xzDeb = fixtures.packages.find((p) => p.kind === 'deb' && p.compression === 'xz')!;
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.path(xzDeb) }, { xzPath: slowXz, limits: { extractTimeoutMs: 300 } }),
    'TIMEOUT',
    /extraction ran longer than its bound of 300 ms/,
  );
});

t.test('pahole failing, too slow, missing, too old', async (t) => {
  const fake = async (name: string, body: string) => {
    const path = join(scratch, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  const failing = await fake(
    'pahole-fails',
    'if [ "$1" = --version ]; then echo v1.24; exit 0; fi\necho "pahole: vmlinux: Invalid argument" >&2\nexit 1',
  );
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: failing }),
    'PAHOLE',
    /pahole failed on .*: pahole: vmlinux: Invalid argument/,
  );
  const slow = await fake('pahole-slow', 'if [ "$1" = --version ]; then echo v1.24; exit 0; fi\necho "encoding..." >&2\nexec sleep 30');
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: slow, limits: { paholeTimeoutMs: 300 } }),
    'PAHOLE_TIMEOUT',
    /pahole ran longer than its bound of 300 ms and was killed \(stderr: encoding\.\.\.\)/,
  );
  const silent = await fake('pahole-silent', 'if [ "$1" = --version ]; then echo v1.24; fi\nexit 0');
  await expectError(t, generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: silent }), 'PAHOLE', /exited 0 but wrote no BTF/);
  const garbage = await fake(
    'pahole-garbage',
    'if [ "$1" = --version ]; then echo v1.24; exit 0; fi\nfor a; do case "$a" in --btf_encode_detached=*) echo garbage > "${a#*=}";; esac; done',
  );
  await expectError(t, generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: garbage }), 'BAD_BTF', /pahole's BTF does not decode/);
  const old = await fake('pahole-old', 'echo v1.20');
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: old }),
    'PAHOLE',
    /pahole 1\.20 is too old: BTF generation needs pahole 1\.22 or later/,
  );
  await expectError(
    t,
    generateKernelBtf({ file: fixtures.vmlinux }, { paholePath: join(scratch, 'no-such-pahole') }),
    'PAHOLE',
    /cannot run .*no-such-pahole.*is dwarves installed\?/,
  );
});

t.test('tags on request', async (t) => {
  const result = await generateKernelBtf({ file: fixtures.vmlinux }, { tags: true });
  t.same(result.pahole.flags, ['--btf_gen_floats', '--skip_encoding_btf_enum64'], 'no tag-skipping flags');
});

t.test('a failure carries a code and a reason for a .failed marker', async (t) => {
  const err = await expectError(t, generateKernelBtf({ file: fixtures.noVmlinuxDeb }), 'NO_VMLINUX', /no vmlinux/);
  t.same(err.toFailure(new Date('2024-01-02T03:04:05Z')), { code: 'NO_VMLINUX', reason: err.message, at: '2024-01-02T03:04:05.000Z' });
  t.equal(err.reason, err.message);
});
