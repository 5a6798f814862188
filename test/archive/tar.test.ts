import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArchiveError } from '../../src/archive/errors.js';
import { readTarEntries, safeEntryPath, TAR_BLOCK, type TarEntry } from '../../src/archive/tar.js';
import { writeSingleFileTar } from '../../src/archive/tar-write.js';
import { tempDir } from '../cli/fixtures/files.js';
import { hasTool } from '../cli/fixtures/oracle.js';
import { concatBytes, padToBlock, paxRecord, tarHeader } from './tar-header.js';

const noTar = hasTool('tar') ? false : 'GNU tar is not installed';
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const tarCode = { name: 'ArchiveError', code: 'TAR' };
const unsafe = { name: 'ArchiveError', code: 'UNSAFE_ENTRY' };

/** Files, a directory, a symlink and a path longer than ustar's 100-byte name field. */
async function makeTree(root: string): Promise<string> {
  const longDir = 'd'.repeat(60);
  await mkdir(join(root, 'tree', longDir), { recursive: true });
  await writeFile(join(root, 'tree', 'small.btf'), 'hello');
  await writeFile(join(root, 'tree', 'block.bin'), Buffer.alloc(TAR_BLOCK, 7));
  await writeFile(join(root, 'tree', longDir, `${'f'.repeat(60)}.txt`), 'deep');
  await symlink('small.btf', join(root, 'tree', 'link'));
  return `tree/${longDir}/${'f'.repeat(60)}.txt`;
}

for (const format of ['gnu', 'pax', 'ustar']) {
  t.test(`reads GNU tar --format=${format} output`, { skip: noTar }, async (t) => {
    const dir = await tempDir(t);
    const longPath = await makeTree(dir);
    const archive = join(dir, 'out.tar');
    execFileSync('tar', ['-cf', archive, `--format=${format}`, '--sort=name', '-C', dir, 'tree']);
    const entries = [...readTarEntries(await readFile(archive))];
    const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ''), e]));

    t.equal(byName.get('tree')?.type, 'directory');
    t.equal(text(byName.get('tree/small.btf')!.data), 'hello');
    t.equal(byName.get('tree/block.bin')!.size, TAR_BLOCK);
    t.ok(byName.get('tree/block.bin')!.data.every((b) => b === 7));
    t.equal(text(byName.get(longPath)!.data), 'deep', 'long path via GNU L / pax path / ustar prefix');
    t.equal(byName.get('tree/link')?.type, 'symlink');
    t.equal(byName.get('tree/link')?.linkName, 'small.btf');
  });
}

t.test('our single-file writer', async (t) => {
  const data = new Uint8Array(1000).map((_, i) => i & 0xff);
  const archive = writeSingleFileTar('5.15.0-91-generic.btf', data);
  t.equal(archive.length % TAR_BLOCK, 0);
  const entries = [...readTarEntries(archive)];
  t.equal(entries.length, 1);
  t.equal(entries[0]!.name, '5.15.0-91-generic.btf');
  t.equal(entries[0]!.type, 'file');
  t.same(entries[0]!.data, data);
  t.same(writeSingleFileTar('5.15.0-91-generic.btf', data), archive, 'reproducible: same input, same bytes');

  t.test('is read back by GNU tar', { skip: noTar }, async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.tar'), archive);
    t.equal(
      execFileSync('tar', ['-tvf', join(dir, 'x.tar')])
        .toString()
        .trim()
        .split('\n').length,
      1,
    );
    execFileSync('tar', ['-xf', join(dir, 'x.tar'), '-C', dir]);
    t.same(new Uint8Array(await readFile(join(dir, '5.15.0-91-generic.btf'))), data);
  });

  t.test('refuses names it could not write or that escape', async (t) => {
    t.throws(() => writeSingleFileTar('', data), tarCode);
    t.throws(() => writeSingleFileTar('x'.repeat(101), data), tarCode);
    t.throws(() => writeSingleFileTar('../x.btf', data), unsafe);
    t.throws(() => writeSingleFileTar('/x.btf', data), unsafe);
  });
});

t.test('empty file entries and empty archives', async (t) => {
  t.same([...readTarEntries(new Uint8Array(2 * TAR_BLOCK))], []);
  const entries = [...readTarEntries(writeSingleFileTar('empty.btf', new Uint8Array(0)))];
  t.equal(entries.length, 1);
  t.equal(entries[0]!.size, 0);
});

t.test('malformed archives are ArchiveError TAR, with the offset', async (t) => {
  const good = writeSingleFileTar('a.btf', new Uint8Array(700).fill(1));

  t.throws(() => [...readTarEntries(good.subarray(0, 300))], { ...tarCode, message: /truncated header at offset 0/ });
  t.throws(() => [...readTarEntries(good.subarray(0, TAR_BLOCK + 100))], { ...tarCode, message: /data truncated/ });
  t.throws(
    () => [...readTarEntries(good.subarray(0, 3 * TAR_BLOCK))],
    { ...tarCode, message: /missing end-of-archive marker/ },
    'cut after the entry: no zero block',
  );
  t.throws(() => [...readTarEntries(new Uint8Array(0))], { ...tarCode, message: /missing end-of-archive/ });

  const badSum = good.slice();
  badSum[0] = 0x41; // was 0x61, "a"
  t.throws(() => [...readTarEntries(badSum)], { ...tarCode, message: /bad header checksum/ });

  t.throws(() => [...readTarEntries(tarHeader({ name: 'x', sizeField: '12x4' }))], { ...tarCode, message: /invalid octal size/ });
  t.throws(
    () => [...readTarEntries(tarHeader({ name: 'x', size: 10 ** 6 }))],
    { ...tarCode, message: /1000000 bytes declared/ },
    'size larger than the archive',
  );
});

t.test('pax and GNU meta headers are validated', async (t) => {
  const pax = (records: string) => {
    const body = new TextEncoder().encode(records);
    return concatBytes(
      tarHeader({ name: 'PaxHeader', typeflag: 'x', size: body.length }),
      padToBlock(body),
      writeSingleFileTar('f.btf', new Uint8Array(3)),
    );
  };
  t.equal([...readTarEntries(pax(paxRecord('path=renamed/by/pax.btf')))][0]!.name, 'renamed/by/pax.btf');
  t.throws(() => [...readTarEntries(pax('99 path=x\n'))], { ...tarCode, message: /overruns/ });
  t.throws(() => [...readTarEntries(pax('abc path=x\n'))], { ...tarCode, message: /malformed pax record length/ });
  t.throws(() => [...readTarEntries(pax(paxRecord('size=-1')))], { ...tarCode, message: /invalid pax size/ });
  t.throws(() => [...readTarEntries(pax('9 novalu\n'))], { ...tarCode, message: /malformed pax record/ });

  const dangling = concatBytes(
    tarHeader({ name: '././@LongLink', typeflag: 'L', size: 4 }),
    padToBlock(new Uint8Array([0x61, 0x62, 0x63, 0])),
    new Uint8Array(1024),
  );
  t.throws(() => [...readTarEntries(dangling)], { ...tarCode, message: /not followed by an entry/ });
});

t.test('GNU base-256 sizes', async (t) => {
  const header = tarHeader({ name: 'big', size: 0, base256Size: 5 });
  const archive = concatBytes(header, padToBlock(new Uint8Array([1, 2, 3, 4, 5])), new Uint8Array(1024));
  t.same([...readTarEntries(archive)][0]!.data, new Uint8Array([1, 2, 3, 4, 5]));
});

t.test('safeEntryPath refuses what would escape an extraction directory', async (t) => {
  const entry = (name: string, type: TarEntry['type'] = 'file'): TarEntry => ({
    name,
    type,
    typeflag: '0',
    linkName: '',
    size: 0,
    data: new Uint8Array(0),
    headerOffset: 0,
  });
  t.equal(safeEntryPath(entry('./a//b/./c.btf')), 'a/b/c.btf');
  t.equal(safeEntryPath(entry('dir/', 'directory')), 'dir');
  for (const name of ['/etc/passwd', '../up.btf', 'a/../../up.btf', 'a/..', '..\\up.btf', 'C:/x.btf', '\\\\server\\x', '', './', 'a\0b']) {
    t.throws(() => safeEntryPath(entry(name)), unsafe, JSON.stringify(name));
  }
  t.throws(() => safeEntryPath(entry('link.btf', 'symlink')), { ...unsafe, message: /symlink entries are not extracted/ });
  t.throws(() => safeEntryPath(entry('hard.btf', 'hardlink')), unsafe);
  t.throws(() => safeEntryPath(entry('dev', 'other')), unsafe);
});

t.test('traversal names written by GNU tar -P are read as they are, and refused for extraction', { skip: noTar }, async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'inner'));
  await writeFile(join(dir, 'outside.btf'), 'x');
  execFileSync('tar', ['-cPf', join(dir, 'evil.tar'), '../outside.btf', join(dir, 'outside.btf')], { cwd: join(dir, 'inner') });
  const entries = [...readTarEntries(await readFile(join(dir, 'evil.tar')))];
  t.same(
    entries.map((e) => e.name),
    ['../outside.btf', join(dir, 'outside.btf')],
  );
  for (const e of entries) t.throws(() => safeEntryPath(e), unsafe);
});

t.test('mutated archives fail only with ArchiveError', async (t) => {
  const paxBody = new TextEncoder().encode(paxRecord('path=some/longer/name.btf'));
  const base = concatBytes(
    tarHeader({ name: 'PaxHeader', typeflag: 'x', size: paxBody.length }),
    padToBlock(paxBody),
    writeSingleFileTar('x.btf', new Uint8Array(1500).fill(9)),
  );
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const bytes = base.slice(0, random() < 0.2 ? Math.floor(random() * base.length) : base.length);
    for (let k = 0; k < 4; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    try {
      for (const e of readTarEntries(bytes)) void e.data.length;
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err;
      rejected++;
    }
  }
  t.ok(rejected > 0, `${rejected} of 2000 mutations rejected, none crashed`);
});
