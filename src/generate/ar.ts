/**
 * The `ar` archive that wraps a Debian package (.deb, and Ubuntu's .ddeb): `debian-binary`,
 * `control.tar.*`, then `data.tar.*`. Read as a stream: a member's data is handed to the
 * caller, and whatever the caller leaves unread is skipped before the next header.
 *
 * Layout (all text fields ASCII, space padded):
 *
 * | offset | size | field                                               |
 * |-------:|-----:|-----------------------------------------------------|
 * |      0 |    8 | global magic `!<arch>\n`                            |
 * | member header, 60 bytes, always at an even offset:                  |
 * |      0 |   16 | name (GNU ends it with `/`; `#1/LEN` is a BSD long name) |
 * |     16 |   12 | mtime, decimal                                      |
 * |     28 |    6 | owner uid, decimal                                  |
 * |     34 |    6 | group gid, decimal                                  |
 * |     40 |    8 | mode, octal                                         |
 * |     48 |   10 | data size, decimal                                  |
 * |     58 |    2 | terminator "`\n"                                    |
 * | then `size` bytes of data, and one `\n` of padding when `size` is odd |
 */
import type { ByteReader } from './byte-reader.js';
import { GenerateError } from './errors.js';

export const AR_MAGIC = '!<arch>\n';
const HEADER_SIZE = 60;

export interface ArMember {
  name: string;
  size: number;
  /** Offset of the member's data in the archive, for messages. */
  dataOffset: number;
}

const ascii = new TextDecoder('latin1');

export function isAr(head: Uint8Array): boolean {
  return head.length >= 8 && ascii.decode(head.subarray(0, 8)) === AR_MAGIC;
}

/**
 * The members of the ar archive `reader` starts with. After each yield the caller may read
 * up to `size` bytes of the member from `reader`; the rest is skipped.
 */
export async function* readArMembers(reader: ByteReader): AsyncGenerator<ArMember> {
  const magic = await reader.readUpTo(8);
  if (!isAr(magic)) throw new GenerateError('NOT_A_PACKAGE', `${reader.what}: not an ar archive (no '!<arch>' magic)`);
  for (;;) {
    if (await reader.atEnd()) return;
    const headerOffset = reader.offset;
    const header = await reader.readExact(HEADER_SIZE, `the ar member header at offset ${headerOffset}`);
    if (header[58] !== 0x60 || header[59] !== 0x0a) {
      throw new GenerateError('CORRUPT', `${reader.what}: ar member header at offset ${headerOffset} lacks its '\`\\n' terminator`);
    }
    const sizeText = ascii.decode(header.subarray(48, 58)).trim();
    if (!/^\d+$/.test(sizeText)) {
      throw new GenerateError('CORRUPT', `${reader.what}: ar member header at offset ${headerOffset} has a bad size '${sizeText}'`);
    }
    let size = Number(sizeText);
    let name = ascii.decode(header.subarray(0, 16)).trimEnd();
    const bsdLong = /^#1\/(\d+)$/.exec(name);
    if (bsdLong) {
      // BSD ar keeps a long name at the start of the data, counted in the size.
      const length = Number(bsdLong[1]);
      if (length > size)
        throw new GenerateError('CORRUPT', `${reader.what}: ar member at offset ${headerOffset}: name longer than the member`);
      name = ascii.decode(await reader.readExact(length, `the name of the ar member at offset ${headerOffset}`)).replace(/\0+$/, '');
      size -= length;
    } else if (name.endsWith('/') && name !== '/' && name !== '//') {
      name = name.slice(0, -1);
    }
    const dataOffset = reader.offset;
    yield { name, size, dataOffset };
    const end = dataOffset + size + (size % 2);
    const left = end - reader.offset;
    if (left < 0) throw new Error(`ar reader: the caller read ${-left} bytes past member '${name}'`);
    if (size % 2 === 1 && left === 1) {
      // A package cut right after the last member's data, before its padding byte, is whole.
      if (await reader.atEnd()) return;
    }
    await reader.skip(left, `ar member '${name}' (${size} bytes at offset ${dataOffset})`);
  }
}
