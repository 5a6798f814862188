/**
 * src/cli/object-file.ts reads a BPF object as libbpf's mmap does: only the ELF parts the
 * codec parses. Whatever it reads must parse exactly like the whole file, and anything odd
 * must fall back to the whole file, so the codec's checks and messages are unchanged.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseBpfObject } from '../../src/btf/index.js';
import { readObjectFile } from '../../src/cli/files.js';
import { readBpfObjectSync } from '../../src/cli/object-file.js';
import { loadFixtures } from '../helpers/fixtures.js';

const fx = await loadFixtures();
const dir = await mkdtemp(join(tmpdir(), 'btfhub-object-file-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** What the codec takes from an object: its BTF bytes, pointer size and .BTF.ext, comparable. */
function parsed(bytes: Uint8Array, name: string) {
  const o = parseBpfObject(bytes, name);
  return { btf: Buffer.from(o.btf.bytes).toString('hex'), pointerSize: o.btf.pointerSize, ext: JSON.stringify(o.ext) };
}

t.test('every fixture object reads compact and parses as the whole file does', async (t) => {
  let compacted = 0;
  for (const [name, object] of fx.objects) {
    const whole = readFileSync(object.path);
    const read = readBpfObjectSync(object.path);
    t.same(parsed(read, name), parsed(whole, name), `${name}: the same BTF and .BTF.ext`);
    if (read.length < whole.length) compacted++;
    if (whole.length >= 128 * 1024) t.ok(read.length < whole.length / 4, `${name}: ${whole.length} bytes on disk, ${read.length} read`);
  }
  t.ok(compacted > 0, 'objects were compacted');
});

t.test('anything odd reads the whole file', async (t) => {
  const big = readFileSync(fx.objects.get('tools_like')!.path);
  t.ok(big.length >= 128 * 1024, 'a fixture large enough to be compacted');
  const view = () => {
    const copy = Buffer.from(big);
    return { copy, dv: new DataView(copy.buffer, copy.byteOffset, copy.byteLength) };
  };
  const cases: [string, Buffer][] = [];
  cases.push(['not an ELF', Buffer.alloc(200 * 1024, 7)]);
  {
    const { copy, dv } = view();
    dv.setBigUint64(40, BigInt(copy.length + 100), true);
    cases.push(['section table past the end', copy]);
  }
  {
    const { copy, dv } = view();
    dv.setUint16(60, 0, true);
    cases.push(['extended numbering (e_shnum 0)', copy]);
  }
  {
    const { copy } = view();
    copy[4] = 9;
    cases.push(['an unknown ELF class', copy]);
  }
  {
    // .BTF's offset past the end of the file: the codec must see and report it.
    const { copy, dv } = view();
    const shoff = Number(dv.getBigUint64(40, true));
    const count = dv.getUint16(60, true);
    const names = dv.getUint16(62, true);
    const strtabOff = Number(dv.getBigUint64(shoff + names * 64 + 24, true));
    for (let i = 0; i < count; i++) {
      const at = shoff + i * 64;
      const nameOff = dv.getUint32(at, true);
      const name = copy.subarray(strtabOff + nameOff, copy.indexOf(0, strtabOff + nameOff)).toString('latin1');
      if (name === '.BTF') dv.setBigUint64(at + 24, BigInt(copy.length), true);
    }
    cases.push(['.BTF past the end', copy]);
  }
  for (const [what, bytes] of cases) {
    const path = join(dir, 'odd.o');
    await writeFile(path, bytes);
    t.same(Buffer.from(readBpfObjectSync(path)), bytes, `${what}: the whole file`);
  }
  // And the codec's message on it is the one the whole file gets.
  const last = cases.at(-1)![1];
  t.throws(() => parseBpfObject(readBpfObjectSync(join(dir, 'odd.o')), 'odd.o'), {
    message: /odd\.o: section \.BTF: bytes \[\d+, \d+\) are outside the file/,
  });
  t.throws(() => parseBpfObject(last, 'odd.o'), { message: /odd\.o: section \.BTF: bytes \[\d+, \d+\) are outside the file/ });

  const small = join(dir, 'small.o');
  await writeFile(small, big.subarray(0, 1000));
  t.same(Buffer.from(readBpfObjectSync(small)), big.subarray(0, 1000), 'a small file: whole');
});

t.test('file errors are worded for the user', async (t) => {
  await t.rejects(readObjectFile(join(dir, 'none.o')), { message: `${join(dir, 'none.o')}: no such file` });
  await t.rejects(readObjectFile(dir), { message: `${dir}: is a directory` });
});
