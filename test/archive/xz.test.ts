import t from 'tap';
import { execFileSync } from 'node:child_process';
import { ArchiveError } from '../../src/archive/errors.js';
import { compressXz, decompressXz, isXz } from '../../src/archive/xz.js';
import { hasTool } from '../cli/fixtures/oracle.js';

const noXz = hasTool('xz') ? false : 'xz is not installed';
const MiB = 1024 * 1024;
/** Byte equality; tap's deep `same` walks a 300 kB array element by element, for seconds. */
const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

t.test('xz', { skip: noXz }, async (t) => {
  const input = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);

  t.test('round trip, and interchangeable with the xz command', async (t) => {
    const packed = await compressXz(input);
    t.ok(isXz(packed), 'starts with the xz magic');
    t.ok(packed.length < input.length);
    t.ok(equalBytes(await decompressXz(packed, { maxOutputBytes: MiB }), input), 'we read ours');
    t.ok(equalBytes(execFileSync('xz', ['-dc'], { input: packed }), input), 'xz -dc reads ours');
    const theirs = execFileSync('xz', ['-c', '-9e'], { input });
    t.ok(equalBytes(await decompressXz(theirs, { maxOutputBytes: MiB }), input), 'we read xz -9e');
    t.ok(equalBytes(await compressXz(input), packed), 'compression is reproducible');
  });

  t.test('the output limit stops decompression', async (t) => {
    const bomb = await compressXz(new Uint8Array(16 * MiB));
    t.ok(bomb.length < 64 * 1024, `16 MiB of zeros packs into ${bomb.length} bytes`);
    await t.rejects(decompressXz(bomb, { maxOutputBytes: MiB }), {
      name: 'ArchiveError',
      code: 'LIMIT',
      message: /exceeds the limit of 1048576 bytes/,
    });
    const exact = await compressXz(new Uint8Array(MiB));
    t.equal((await decompressXz(exact, { maxOutputBytes: MiB })).length, MiB, 'exactly the limit is allowed');
  });

  t.test('corrupt and truncated streams are ArchiveError XZ', async (t) => {
    const packed = await compressXz(input);
    const flipped = packed.slice();
    const middle = Math.floor(packed.length / 2);
    flipped[middle] = (packed[middle] ?? 0) ^ 0xff;
    await t.rejects(decompressXz(flipped, { maxOutputBytes: MiB }), { name: 'ArchiveError', code: 'XZ' });
    await t.rejects(decompressXz(packed.subarray(0, packed.length - 20), { maxOutputBytes: MiB }), {
      name: 'ArchiveError',
      code: 'XZ',
      message: /xz: .*(Unexpected end of input|corrupt)/,
    });
    await t.rejects(decompressXz(new TextEncoder().encode('not xz at all'), { maxOutputBytes: MiB }), {
      name: 'ArchiveError',
      code: 'XZ',
      message: /File format not recognized/,
    });
  });

  t.test('a missing xz executable is an ArchiveError, not a crash', async (t) => {
    const err = await decompressXz(input, { maxOutputBytes: MiB, xzPath: '/nonexistent/xz' }).catch((e: unknown) => e);
    t.ok(err instanceof ArchiveError);
    t.match(err, { code: 'XZ', message: /cannot run \/nonexistent\/xz/ });
  });
});

t.test('isXz', async (t) => {
  t.ok(isXz(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1])));
  t.notOk(isXz(new Uint8Array([0xfd, 0x37, 0x7a])));
  t.notOk(isXz(new Uint8Array([0x9f, 0xeb, 1, 0, 24, 0])));
});
