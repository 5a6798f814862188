import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { makeBtfTarXz, readKernelBtfFile } from '../../src/archive/kernel-btf.js';
import { compressXz } from '../../src/archive/xz.js';
import { writeSingleFileTar } from '../../src/archive/tar-write.js';
import { Btf } from '../../src/btf/btf.js';
import { encodeBtf } from '../../src/btf/encode.js';
import { BtfKind } from '../../src/btf/kinds.js';
import { SMALL_BTF, tempDir } from '../cli/fixtures/files.js';
import { KERNEL_BTF, hasTool, isReadable } from '../cli/fixtures/oracle.js';
import { concatBytes, padToBlock, tarHeader } from './tar-header.js';

const noTools = hasTool('xz') && hasTool('tar') ? false : 'xz or GNU tar is not installed';
const noKernelBtf = noTools || (isReadable(KERNEL_BTF) ? false : `${KERNEL_BTF} is not readable`);

/** `tar -cJf NAME.btf.tar.xz -C dir ENTRY...`, as BTFHub builds its archives. */
async function tarXz(dir: string, entries: Record<string, Uint8Array | string>): Promise<Uint8Array> {
  const src = join(dir, `src-${Object.keys(entries).length}-${Date.now()}`);
  await mkdir(src);
  for (const [name, data] of Object.entries(entries)) {
    await mkdir(join(src, name, '..'), { recursive: true });
    await writeFile(join(src, name), data);
  }
  const out = join(dir, 'out.btf.tar.xz');
  // XZ_OPT=-1: the level changes only how hard xz searches, not the format we read; -6 on a kernel BTF takes seconds.
  execFileSync('tar', ['-cJf', out, '-C', src, ...Object.keys(entries)], { env: { ...process.env, XZ_OPT: '-1' } });
  return readFile(out);
}

t.test('raw BTF and ELF pass through untouched', async (t) => {
  t.equal(await readKernelBtfFile(SMALL_BTF), SMALL_BTF);
  const elfish = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  t.equal(await readKernelBtfFile(elfish), elfish, 'ELF is for Btf.parse to check');
});

t.test('the kernel BTF, archived by tar -cJf, comes back byte for byte', { skip: noKernelBtf }, async (t) => {
  const dir = await tempDir(t);
  const kernel = await readFile(KERNEL_BTF);
  const archive = await tarXz(dir, { [`${release()}.btf`]: kernel });
  const btf = await readKernelBtfFile(archive, `${release()}.btf.tar.xz`);
  t.ok(Buffer.from(btf).equals(kernel), `${kernel.length} bytes`);
  t.equal(Btf.parse(btf).typeCount, Btf.parse(kernel).typeCount);
});

t.test('makeBtfTarXz writes the BTFHub layout', { skip: noTools }, async (t) => {
  const dir = await tempDir(t);
  const archive = await makeBtfTarXz('5.15.0-91-generic', SMALL_BTF);
  await writeFile(join(dir, 'x.btf.tar.xz'), archive);
  t.equal(execFileSync('tar', ['-tJf', join(dir, 'x.btf.tar.xz')]).toString(), '5.15.0-91-generic.btf\n');
  execFileSync('tar', ['-xJf', join(dir, 'x.btf.tar.xz'), '-C', dir]);
  t.same(new Uint8Array(await readFile(join(dir, '5.15.0-91-generic.btf'))), SMALL_BTF, 'GNU tar extracts our bytes');
  t.same(await readKernelBtfFile(archive), SMALL_BTF, 'and so do we');
  t.same(await makeBtfTarXz('5.15.0-91-generic.btf', SMALL_BTF), archive, 'a name ending in .btf is not doubled');

  await t.rejects(makeBtfTarXz('../evil', SMALL_BTF), { code: 'FORMAT' });
  await t.rejects(makeBtfTarXz('', SMALL_BTF), { code: 'FORMAT' });
  await t.rejects(makeBtfTarXz('x', new Uint8Array([1, 2, 3])), { code: 'FORMAT', message: /raw BTF/ });
});

t.test('an uncompressed tar is accepted too', async (t) => {
  t.same(await readKernelBtfFile(writeSingleFileTar('k.btf', SMALL_BTF)), SMALL_BTF);
});

t.test('choosing the .btf entry', { skip: noTools }, async (t) => {
  const dir = await tempDir(t);
  const other = encodeBtf([{ kind: BtfKind.Float, name: 'double', size: 8 }]);

  const withReadme = await tarXz(dir, { README: 'not btf', '5.4.0-1.btf': SMALL_BTF });
  t.same(await readKernelBtfFile(withReadme, 'a.tar.xz'), SMALL_BTF, 'other files are ignored');

  const nested = await tarXz(dir, { 'ubuntu/20.04/x86_64/5.4.0-1.btf': SMALL_BTF });
  t.same(await readKernelBtfFile(nested), SMALL_BTF, 'directories in the path are fine');

  const two = await tarXz(dir, { '5.4.0-1.btf': SMALL_BTF, '5.4.0-2.btf': other });
  t.same(await readKernelBtfFile(two, '/some/dir/5.4.0-2.btf.tar.xz'), other, 'two: the one named like the archive');
  await t.rejects(readKernelBtfFile(two, 'x.btf.tar.xz'), { code: 'FORMAT', message: /x.btf.tar.xz: archive holds 2 .btf files/ });

  const none = await tarXz(dir, { vmlinux: SMALL_BTF });
  await t.rejects(readKernelBtfFile(none, 'none.tar.xz'), {
    code: 'FORMAT',
    message: /none.tar.xz: archive holds no .btf file \(entries: vmlinux\)/,
  });

  const notBtf = await tarXz(dir, { 'k.btf': 'plain text' });
  await t.rejects(readKernelBtfFile(notBtf, 'k.btf.tar.xz'), { code: 'FORMAT', message: /'k.btf' is neither raw BTF nor an ELF file/ });
});

t.test('hostile and broken archives', { skip: noTools }, async (t) => {
  const traversal = await compressXz(
    concatBytes(tarHeader({ name: '../../etc/k.btf', size: SMALL_BTF.length }), padToBlock(SMALL_BTF), new Uint8Array(1024)),
  );
  await t.rejects(readKernelBtfFile(traversal, 't.tar.xz'), {
    name: 'ArchiveError',
    code: 'UNSAFE_ENTRY',
    message: /'\.\.\/\.\.\/etc\/k\.btf'/,
  });

  const good = await makeBtfTarXz('k', SMALL_BTF);
  await t.rejects(readKernelBtfFile(good.subarray(0, good.length - 30), 'cut.btf.tar.xz'), {
    name: 'ArchiveError',
    code: 'XZ',
    message: /^cut.btf.tar.xz: xz: /,
  });

  const truncatedTar = await compressXz(writeSingleFileTar('k.btf', SMALL_BTF).subarray(0, 600));
  await t.rejects(readKernelBtfFile(truncatedTar, 'short.tar.xz'), { name: 'ArchiveError', code: 'TAR', message: /^short.tar.xz: tar: / });

  const big = await makeBtfTarXz('k', concatBytes(SMALL_BTF, new Uint8Array(4 * 1024 * 1024)));
  await t.rejects(readKernelBtfFile(big, 'big.tar.xz', { maxUncompressedBytes: 1024 * 1024 }), { code: 'LIMIT', message: /^big.tar.xz: / });

  await t.rejects(readKernelBtfFile(new TextEncoder().encode('#!/bin/sh\n'), 'script.sh'), {
    name: 'ArchiveError',
    code: 'FORMAT',
    message: /^script.sh: not raw BTF, an ELF file with .BTF, or a .btf.tar.xz archive/,
  });
});
