/**
 * The container readers of src/generate one by one, with crafted inputs for every way a
 * header can be wrong: the streaming tar reader checked against src/archive's reader on
 * archives GNU tar writes, ar, cpio newc, RPM headers, the ELF section reader, the vmlinux
 * path table, bounded decompression and pahole's flag table.
 */
import t, { type Test } from 'tap';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compressXz, readTarEntries } from '../../src/archive/index.js';
import { readArMembers } from '../../src/generate/ar.js';
import { ByteReader } from '../../src/generate/byte-reader.js';
import { readCpioStream } from '../../src/generate/cpio.js';
import { decompressChunks, sniffCompression, type Compression } from '../../src/generate/decompress.js';
import { hasDwarf, readElfSections } from '../../src/generate/elf-sections.js';
import { GenerateError } from '../../src/generate/errors.js';
import { paholeFlags, parsePaholeVersion } from '../../src/generate/pahole.js';
import { readRpmHeaders } from '../../src/generate/rpm.js';
import { readTarStream } from '../../src/generate/tar-stream.js';
import { releaseFromFileName, releaseFromVmlinuxPath } from '../../src/generate/vmlinux-path.js';
import { generateFixtures } from '../fixtures/generate/build-packages.js';
import { runToolOrThrow } from '../fixtures/tools.js';

const scratch = await mkdtemp(join(tmpdir(), 'btfhub-containers-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

/** A reader over `bytes` handed out in chunks of `chunk` bytes (small chunks test every boundary). */
function reader(bytes: Uint8Array, chunk = 7, what = 'input'): ByteReader {
  return new ByteReader(
    (async function* () {
      for (let at = 0; at < bytes.length; at += chunk) yield bytes.slice(at, at + chunk);
    })(),
    what,
  );
}

async function rejects(t: Test, promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, GenerateError);
  t.equal((err as GenerateError).code, code, `code ${code}`);
  t.match((err as GenerateError).message, message);
}

async function drain<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

t.test('vmlinux paths', async (t) => {
  const table: [string, string | undefined][] = [
    ['./usr/lib/debug/boot/vmlinux-5.15.0-91-generic', '5.15.0-91-generic'],
    ['/usr/lib/debug/lib/modules/4.18.0-348.el8.x86_64/vmlinux', '4.18.0-348.el8.x86_64'],
    ['usr/lib/debug/usr/lib/modules/6.5.6-300.fc39.x86_64/vmlinux', '6.5.6-300.fc39.x86_64'],
    ['./usr/lib/debug/boot/vmlinux-5.14.21-150400.24.46-default.debug', '5.14.21-150400.24.46-default'],
    ['./usr/lib/debug/boot/vmlinuz-5.15.0-91-generic', undefined],
    ['./usr/lib/debug/lib/modules/5.15.0-91-generic/kernel/fs/ext4/ext4.ko', undefined],
    ['./usr/lib/debug/.build-id/ab/cdef.debug', undefined],
    ['./boot/vmlinux-5.15.0-91-generic', undefined],
    ['./usr/lib/debug/boot/vmlinux-bad$name', undefined],
    ['./usr/lib/debug/lib/modules/../vmlinux', undefined],
  ];
  for (const [path, release] of table) t.equal(releaseFromVmlinuxPath(path), release, path);
  t.equal(releaseFromFileName('/tmp/x/vmlinux-6.1.0-18-amd64'), '6.1.0-18-amd64');
  t.equal(releaseFromFileName('vmlinux-5.14.21-150400.24.46-default.debug'), '5.14.21-150400.24.46-default');
  t.equal(releaseFromFileName('/usr/lib/debug/lib/modules/4.18.0-348.el8.x86_64/vmlinux'), '4.18.0-348.el8.x86_64');
  t.equal(releaseFromFileName('/boot/vmlinux'), undefined);
});

t.test("the streaming tar reader reads what src/archive's reader reads", async (t) => {
  const tree = join(scratch, 'tree');
  const longDir = `usr/lib/debug/lib/modules/5.15.0-91-generic/kernel/drivers/${'very-long-directory-name/'.repeat(4)}`;
  await mkdir(join(tree, longDir), { recursive: true });
  await writeFile(join(tree, longDir, 'a-module-with-a-long-name.ko'), 'x'.repeat(1500));
  await mkdir(join(tree, 'usr/lib/debug/boot'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/debug/boot/vmlinux-5.15.0-91-generic'), Buffer.alloc(1024, 7));
  await writeFile(join(tree, 'empty'), '');
  await symlink('usr/lib/debug/boot/vmlinux-5.15.0-91-generic', join(tree, 'link'));
  for (const format of ['gnu', 'pax', 'ustar', 'v7']) {
    const archive = join(scratch, `tree-${format}.tar`);
    const args = ['--format', format, '-C', tree, '-cf', archive, 'usr', 'empty', 'link'];
    const made = await runToolOrThrow('tar', args).then(
      () => true,
      () => false,
    );
    if (!made) {
      t.equal(format, 'v7', `only v7 may refuse the long names (${format})`);
      continue;
    }
    const bytes = new Uint8Array(await readFile(archive));
    const expected = [...readTarEntries(bytes)].map((e) => ({
      name: e.name,
      type: e.type,
      size: e.size,
      linkName: e.linkName,
      data: Buffer.from(e.data),
    }));
    const r = reader(bytes, 333);
    const got = [];
    for await (const e of readTarStream(r)) {
      const data = e.type === 'file' ? Buffer.from(await r.readExact(e.size, 'data')) : Buffer.alloc(0);
      got.push({ name: e.name, type: e.type, size: e.type === 'file' ? e.size : e.size, linkName: e.linkName, data });
    }
    t.same(got, expected, `${format}: the same entries`);
    t.ok(
      got.some((e) => e.name.includes('a-module-with-a-long-name.ko')),
      `${format}: the long name`,
    );
  }
});

t.test('tar: damaged headers', async (t) => {
  const archive = join(scratch, 'small.tar');
  await writeFile(join(scratch, 'f'), 'hello');
  await runToolOrThrow('tar', ['-C', scratch, '-cf', archive, 'f']);
  const bytes = new Uint8Array(await readFile(archive));
  const badSum = bytes.slice();
  badSum[0] = badSum[0]! ^ 1;
  await rejects(t, drain(readTarStream(reader(badSum))), 'CORRUPT', /tar header at offset 0: checksum \d+ does not match/);
  const notTar = new Uint8Array(512).fill(0x41);
  await rejects(t, drain(readTarStream(reader(notTar))), 'CORRUPT', /not a tar header at offset 0/);
  await rejects(t, drain(readTarStream(reader(bytes.subarray(0, 1024)))), 'TRUNCATED', /without an end-of-archive block/);
  await rejects(t, drain(readTarStream(reader(bytes.subarray(0, 700)))), 'TRUNCATED', /inside tar entry 'f'|inside the tar header/);
});

function arMember(name: string, data: Uint8Array | string, terminator = '`\n'): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'644'.padEnd(8)}${String(body.length).padEnd(10)}${terminator}`;
  return Buffer.concat([Buffer.from(header, 'latin1'), body, body.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
}

t.test('ar members', async (t) => {
  const archive = Buffer.concat([
    Buffer.from('!<arch>\n'),
    arMember('debian-binary/', '2.0\n'),
    arMember('odd', 'abc'),
    arMember('#1/12', 'long-name.xzpayload'),
  ]);
  const r = reader(archive, 5);
  const seen: [string, number, string][] = [];
  for await (const m of readArMembers(r)) seen.push([m.name, m.size, Buffer.from(await r.readExact(Math.min(m.size, 3), 'd')).toString()]);
  t.same(
    seen,
    [
      ['debian-binary', 4, '2.0'],
      ['odd', 3, 'abc'],
      ['long-name.xz', 7, 'pay'],
    ],
    'GNU name, odd padding, BSD long name',
  );
  await rejects(
    t,
    drain(readArMembers(reader(Buffer.concat([Buffer.from('!<arch>\n'), arMember('x', 'ab', 'XX')])))),
    'CORRUPT',
    /lacks its '`\\n' terminator/,
  );
  const badSize = Buffer.from(`!<arch>\n${'x'.padEnd(48)}${'12z'.padEnd(10)}\`\n`, 'latin1');
  await rejects(t, drain(readArMembers(reader(badSize))), 'CORRUPT', /bad size '12z'/);
  const cut = Buffer.concat([Buffer.from('!<arch>\n'), arMember('data.tar.xz', 'x'.repeat(100))]).subarray(0, 90);
  await rejects(
    t,
    drain(readArMembers(reader(cut, 5, 'pkg.deb'))),
    'TRUNCATED',
    /pkg\.deb: truncated: the data ends at byte 90 inside ar member 'data\.tar\.xz' \(100 bytes at offset 68\)/,
  );
  await rejects(t, drain(readArMembers(reader(Buffer.from('PK\x03\x04')))), 'NOT_A_PACKAGE', /not an ar archive/);
});

function cpioEntry(name: string, data: string, { magic = '070701', mode = 0o100644 } = {}): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const nameBytes = Buffer.from(`${name}\0`);
  const header = `${magic}${hex(1)}${hex(mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(data.length)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(nameBytes.length)}${hex(0)}`;
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  return Buffer.concat([Buffer.from(header), nameBytes, pad(110 + nameBytes.length), Buffer.from(data), pad(data.length)]);
}

t.test('cpio newc', async (t) => {
  const archive = Buffer.concat([
    cpioEntry('./usr', '', { mode: 0o040755 }),
    cpioEntry('./usr/lib/debug/vmlinux-link', 'target', { mode: 0o120777 }),
    cpioEntry('./usr/lib/debug/a', 'hello', { magic: '070702' }),
    cpioEntry('./dev-node', '', { mode: 0o020644 }),
    cpioEntry('TRAILER!!!', ''),
  ]);
  const r = reader(archive, 3);
  const seen: [string, string, number, string][] = [];
  for await (const e of readCpioStream(r))
    seen.push([e.name, e.type, e.size, e.type === 'file' ? Buffer.from(await r.readExact(e.size, 'd')).toString() : '']);
  t.same(seen, [
    ['./usr', 'directory', 0, ''],
    ['./usr/lib/debug/vmlinux-link', 'symlink', 6, ''],
    ['./usr/lib/debug/a', 'file', 5, 'hello'],
    ['./dev-node', 'other', 0, ''],
  ]);
  await rejects(
    t,
    drain(readCpioStream(reader(cpioEntry('x', 'y', { magic: '07070X' })))),
    'UNSUPPORTED',
    /large-file cpio format \(07070X\)/,
  );
  await rejects(
    t,
    drain(readCpioStream(reader(Buffer.from('0707070000'.padEnd(110, '0'))))),
    'CORRUPT',
    /no cpio header at offset 0 \(magic '070707'/,
  );
  await rejects(t, drain(readCpioStream(reader(cpioEntry('x', 'y')))), 'TRUNCATED', /without a TRAILER!!! entry/);
  const badField = Buffer.from(cpioEntry('x', 'y'));
  badField.write('zzzzzzzz', 54, 'latin1');
  await rejects(t, drain(readCpioStream(reader(badField))), 'CORRUPT', /bad file size field 'zzzzzzzz'/);
  const hugeName = Buffer.from(cpioEntry('x', 'y'));
  hugeName.write('00100000', 94, 'latin1');
  await rejects(t, drain(readCpioStream(reader(hugeName))), 'CORRUPT', /name size 1048576 is not plausible/);
});

/** An RPM lead, a signature header and a main header with the given string tags. */
function rpmHeaders(tags: Record<number, string>, { version = 3, signaturePad = true, magic = [0x8e, 0xad, 0xe8] } = {}): Buffer {
  const lead = Buffer.alloc(96);
  Buffer.from([0xed, 0xab, 0xee, 0xdb, version, 0]).copy(lead);
  lead.writeUInt16BE(5, 78);
  const header = (entries: [number, string][]) => {
    const store: Buffer[] = [];
    const index = Buffer.alloc(entries.length * 16);
    let offset = 0;
    entries.forEach(([tag, value], i) => {
      index.writeUInt32BE(tag, i * 16);
      index.writeUInt32BE(6, i * 16 + 4);
      index.writeUInt32BE(offset, i * 16 + 8);
      index.writeUInt32BE(1, i * 16 + 12);
      const bytes = Buffer.from(`${value}\0`);
      store.push(bytes);
      offset += bytes.length;
    });
    const intro = Buffer.alloc(16);
    Buffer.from([...magic, 1]).copy(intro);
    intro.writeUInt32BE(entries.length, 8);
    intro.writeUInt32BE(offset, 12);
    return Buffer.concat([intro, index, ...store]);
  };
  const signature = header([[1000, 'x']]);
  const pad = signaturePad ? Buffer.alloc((8 - (signature.length % 8)) % 8) : Buffer.alloc(0);
  return Buffer.concat([lead, signature, pad, header(Object.entries(tags).map(([k, v]) => [Number(k), v]))]);
}

t.test('RPM headers', async (t) => {
  const tags = { 1000: 'kernel-debuginfo', 1001: '4.18.0', 1002: '1.el8', 1022: 'x86_64', 1124: 'cpio', 1125: 'xz' };
  const r = reader(Buffer.concat([rpmHeaders(tags), Buffer.from('PAYLOAD')]), 11);
  t.same(await readRpmHeaders(r), {
    name: 'kernel-debuginfo',
    version: '4.18.0',
    release: '1.el8',
    arch: 'x86_64',
    payloadFormat: 'cpio',
    payloadCompressor: 'xz',
  });
  t.equal(Buffer.from(await r.readUpTo(100)).toString(), 'PAYLOAD', 'the reader is left at the payload');
  t.same((await readRpmHeaders(reader(rpmHeaders({ 1000: 'k' })))).payloadCompressor, 'gzip', 'gzip when the tag is absent');
  await rejects(t, readRpmHeaders(reader(rpmHeaders(tags, { version: 2 }))), 'UNSUPPORTED', /RPM format 2\.0 is not supported/);
  await rejects(
    t,
    readRpmHeaders(reader(rpmHeaders(tags, { magic: [1, 2, 3] }))),
    'CORRUPT',
    /no RPM signature header at offset 96 \(bad magic\)/,
  );
  await rejects(t, readRpmHeaders(reader(rpmHeaders(tags, { signaturePad: false }))), 'CORRUPT', /no RPM main header at offset/);
  const huge = rpmHeaders(tags);
  huge.writeUInt32BE(0xffffffff, 96 + 8);
  await rejects(t, readRpmHeaders(reader(huge)), 'LIMIT', /RPM signature header at offset 96 declares 4294967295 entries/);
  const outside = rpmHeaders(tags);
  const mainIndex = outside.length - 6 * 16 - 16 - Object.values(tags).reduce((n, v) => n + v.length + 1, 0) + 16;
  outside.writeUInt32BE(100_000, mainIndex + 8);
  await rejects(t, readRpmHeaders(reader(outside)), 'CORRUPT', /tag 1000 points outside its data \(offset 100000\)/);
  await rejects(
    t,
    readRpmHeaders(
      reader(Buffer.from('not an rpm at all, no, not at all, really not; it is far too short to be one......................')),
    ),
    'NOT_A_PACKAGE',
    /not an RPM package/,
  );
});

t.test('ELF sections and DWARF', async (t) => {
  const fixtures = await generateFixtures();
  t.ok(hasDwarf(await readElfSections(fixtures.vmlinux)), 'gcc -g: .debug_info');
  t.notOk(hasDwarf(await readElfSections(fixtures.vmlinuxNoDwarf)), 'no -g: none');
  const zdebug = join(scratch, 'z.elf');
  await runToolOrThrow('objcopy', ['--compress-debug-sections=zlib-gnu', fixtures.vmlinux, zdebug]);
  t.ok((await readElfSections(zdebug)).some((s) => s.name === '.zdebug_info'));
  t.ok(hasDwarf(await readElfSections(zdebug)), '.zdebug_info counts');
  const onlyDebug = join(scratch, 'only-debug.elf');
  await runToolOrThrow('objcopy', ['--only-keep-debug', fixtures.vmlinux, onlyDebug]);
  const sections = await readElfSections(onlyDebug);
  t.equal(sections.find((s) => s.name === '.text')?.fileSize, 0, 'NOBITS sections have no bytes');
  t.ok(hasDwarf(sections), 'a separate debug file has DWARF');
  const elf32 = join(scratch, 'e32.elf');
  await runToolOrThrow('objcopy', ['-I', 'elf64-x86-64', '-O', 'elf32-i386', fixtures.vmlinux, elf32]);
  t.ok(hasDwarf(await readElfSections(elf32)), 'ELF32 is read too');
  const bytes = await readFile(fixtures.vmlinux);
  const cut = join(scratch, 'cut.elf');
  await writeFile(cut, bytes.subarray(0, bytes.length - 100));
  await rejects(t, readElfSections(cut, 'cut.elf'), 'TRUNCATED', /cut\.elf: truncated ELF: the section header table .* is past the end/);
  const badClass = Buffer.from(bytes);
  badClass[4] = 9;
  await writeFile(cut, badClass);
  await rejects(t, readElfSections(cut, 'cut.elf'), 'CORRUPT', /unknown ELF class 9/);
  await writeFile(cut, 'hello, not an elf at all, but long enough to hold an ELF header of sixty-four bytes ok');
  await rejects(t, readElfSections(cut, 'cut.elf'), 'NOT_A_PACKAGE', /not an ELF file/);
});

t.test('bounded decompression', async (t) => {
  const text = Buffer.alloc(200_000, 'kernel ');
  const zstdFile = join(scratch, 'data');
  await writeFile(zstdFile, text);
  await runToolOrThrow('zstd', ['-q', '-f', zstdFile, '-o', `${zstdFile}.zst`]);
  const forms: Record<Compression, Uint8Array> = {
    none: text,
    gzip: gzipSync(text),
    xz: await compressXz(text, { preset: 0 }),
    zstd: await readFile(`${zstdFile}.zst`),
  };
  for (const [compression, bytes] of Object.entries(forms) as [Compression, Uint8Array][]) {
    const options = { maxOutputBytes: 1 << 20, what: `data.${compression}` };
    t.same(
      Buffer.concat(await drain(decompressChunks(compression, reader(bytes, 4096).rest(), options))),
      text,
      `${compression}: round trip`,
    );
    t.equal(sniffCompression(bytes), compression === 'none' ? undefined : compression, `${compression}: sniffed`);
    await rejects(
      t,
      drain(decompressChunks(compression, reader(bytes, 4096).rest(), { ...options, maxOutputBytes: 1000 })),
      'LIMIT',
      new RegExp(`data\\.${compression}: extracted data exceeds the bound of 1000 bytes`),
    );
    if (compression === 'none') continue;
    await rejects(
      t,
      drain(decompressChunks(compression, reader(bytes.subarray(0, bytes.length - 20), 4096).rest(), options)),
      'TRUNCATED',
      new RegExp(`data\\.${compression}: `),
    );
    const garbage = Buffer.from(bytes);
    garbage.fill(0x55, 20, Math.min(garbage.length, 200));
    await rejects(
      t,
      drain(decompressChunks(compression, reader(garbage, 4096).rest(), options)),
      'CORRUPT',
      new RegExp(`data\\.${compression}: `),
    );
  }
  await rejects(
    t,
    drain(decompressChunks('xz', reader(forms.xz).rest(), { maxOutputBytes: 1 << 20, what: 'd', xzPath: join(scratch, 'no-xz') })),
    'CORRUPT',
    /cannot run .*no-xz/,
  );
  t.equal(sniffCompression(Buffer.from('BZh91AY')), 'bzip2');
  // Stopping early kills the decompressor and leaves no process behind.
  const big = await compressXz(Buffer.alloc(32 << 20), { preset: 0 });
  for await (const chunk of decompressChunks('xz', reader(big, 65536).rest(), { maxOutputBytes: 1 << 30, what: 'big' })) {
    t.ok(chunk.length > 0, 'a first chunk, then stop');
    break;
  }
});

t.test('pahole versions and flags', async (t) => {
  t.same(parsePaholeVersion('v1.24\n'), { text: '1.24', major: 1, minor: 24 });
  t.same(parsePaholeVersion('1.30'), { text: '1.30', major: 1, minor: 30 });
  await rejects(
    t,
    Promise.resolve().then(() => parsePaholeVersion('pahole: unknown')),
    'PAHOLE',
    /cannot read pahole's version/,
  );
  const flags = (text: string, tags = false) => paholeFlags(parsePaholeVersion(text), { tags });
  await rejects(
    t,
    Promise.resolve().then(() => flags('v1.21')),
    'PAHOLE',
    /too old/,
  );
  t.same(flags('v1.22'), ['--btf_gen_floats']);
  t.same(flags('v1.23'), ['--btf_gen_floats', '--skip_encoding_btf_type_tag', '--skip_encoding_btf_decl_tag']);
  t.same(flags('v1.23', true), ['--btf_gen_floats']);
  t.same(flags('v1.24'), [
    '--btf_gen_floats',
    '--skip_encoding_btf_type_tag',
    '--skip_encoding_btf_decl_tag',
    '--skip_encoding_btf_enum64',
  ]);
  t.same(flags('v1.27'), flags('v1.24'), 'later versions keep the same flags');
  t.same(flags('v2.0'), flags('v1.24'));
});
