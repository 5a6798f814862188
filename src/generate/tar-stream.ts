/**
 * A streaming tar reader for package payloads (a .deb's data.tar), which run to gigabytes:
 * src/archive's `readTarEntries` reads a whole archive from memory, which suits BTFHub's
 * small archives but not a 1 GB debug package. Headers are read one block at a time and an
 * entry's data is copied out or skipped, never held. It reads what dpkg-deb and GNU tar
 * write: ustar headers, GNU long names and links (`L`, `K`), pax extended headers (`x`,
 * `g`: path, linkpath, size) and GNU base-256 sizes. The test suite checks it against
 * src/archive's reader on the same archives.
 *
 * Header block (512 bytes; numbers are octal text, NUL or space terminated):
 *
 * | offset | size | field                                                   |
 * |-------:|-----:|---------------------------------------------------------|
 * |      0 |  100 | name                                                    |
 * |    100 |    8 | mode                                                    |
 * |    124 |   12 | size (octal, or base-256 when the first byte has 0x80)  |
 * |    148 |    8 | checksum: sum of the header bytes, this field as spaces |
 * |    156 |    1 | typeflag: '0'/NUL file, '1' hardlink, '2' symlink, '5' directory, 'x'/'g' pax, 'L'/'K' GNU long name/link |
 * |    157 |  100 | link name                                               |
 * |    257 |    6 | magic: "ustar\0" (POSIX) or "ustar " (GNU)              |
 * |    345 |  155 | prefix of the name (POSIX ustar only)                   |
 *
 * Each entry's data follows its header, padded to a multiple of 512; the archive ends with
 * a zero block.
 */
import type { ByteReader } from './byte-reader.js';
import { GenerateError } from './errors.js';

const BLOCK = 512;
/** A pax header or GNU long name is a few hundred bytes; more is not a tar we want. */
const MAX_META_BYTES = 1024 * 1024;

export type TarStreamEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarStreamEntry {
  name: string;
  type: TarStreamEntryType;
  linkName: string;
  size: number;
  headerOffset: number;
}

const utf8 = new TextDecoder('utf-8');

/**
 * The entries of the tar stream in `reader`. After each yield the caller may read up to
 * `size` bytes of the entry's data from `reader`; the rest (and the padding) is skipped.
 */
export async function* readTarStream(reader: ByteReader): AsyncGenerator<TarStreamEntry> {
  let global: Overrides = {};
  let pending: Overrides = {};
  for (;;) {
    const headerOffset = reader.offset;
    if (await reader.atEnd()) {
      throw new GenerateError(
        'TRUNCATED',
        `${reader.what}: truncated: the tar data ends at byte ${headerOffset} without an end-of-archive block`,
      );
    }
    const header = await reader.readExact(BLOCK, `the tar header at offset ${headerOffset}`);
    if (header.every((b) => b === 0)) return;
    verifyChecksum(header, headerOffset, reader.what);
    const typeflag = header[156] === 0 ? '0' : String.fromCharCode(header[156]!);
    const size = headerSize(header, headerOffset, reader.what);
    const padded = Math.ceil(size / BLOCK) * BLOCK;

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META_BYTES) {
        throw new GenerateError(
          'CORRUPT',
          `${reader.what}: tar header at offset ${headerOffset}: a ${size}-byte extended header is not plausible`,
        );
      }
      const data = await reader.readExact(size, `the extended header at offset ${headerOffset}`);
      await reader.skip(padded - size, `the padding of the extended header at offset ${headerOffset}`);
      if (typeflag === 'L') pending.path = cString(data);
      else if (typeflag === 'K') pending.linkPath = cString(data);
      else if (typeflag === 'x') pending = { ...pending, ...parsePax(data, headerOffset, reader.what) };
      else global = { ...global, ...parsePax(data, headerOffset, reader.what) };
      continue;
    }

    const overrides = { ...global, ...pending };
    pending = {};
    const entrySize = overrides.size ?? size;
    const magic = utf8.decode(header.subarray(257, 263));
    const prefix = magic === 'ustar\0' ? cString(header.subarray(345, 500)) : '';
    const baseName = cString(header.subarray(0, 100));
    const name = overrides.path ?? (prefix ? `${prefix}/${baseName}` : baseName);
    const linkName = overrides.linkPath ?? cString(header.subarray(157, 257));
    const dataStart = reader.offset;
    yield { name, type: entryType(typeflag), linkName, size: entrySize, headerOffset };
    const dataSize = typeflag === '5' || typeflag === '1' || typeflag === '2' ? 0 : entrySize;
    const end = dataStart + Math.ceil(dataSize / BLOCK) * BLOCK;
    const left = end - reader.offset;
    if (left < 0) throw new Error(`tar reader: the caller read ${-left} bytes past entry '${name}'`);
    await reader.skip(left, `tar entry '${name}' (${dataSize} bytes after the header at offset ${headerOffset})`);
  }
}

interface Overrides {
  path?: string;
  linkPath?: string;
  size?: number;
}

function entryType(typeflag: string): TarStreamEntryType {
  switch (typeflag) {
    case '0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return 'other';
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function headerSize(header: Uint8Array, offset: number, what: string): number {
  const field = header.subarray(124, 136);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement in the remaining bits.
    let value = field[0]! & 0x7f;
    for (const b of field.subarray(1)) value = value * 256 + b;
    if (!Number.isSafeInteger(value)) throw new GenerateError('CORRUPT', `${what}: tar header at offset ${offset}: size too large`);
    return value;
  }
  const text = utf8
    .decode(field)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) throw new GenerateError('CORRUPT', `${what}: tar header at offset ${offset}: bad size field '${text}'`);
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function verifyChecksum(header: Uint8Array, offset: number, what: string): void {
  const text = utf8
    .decode(header.subarray(148, 156))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(text)) {
    throw new GenerateError(
      'CORRUPT',
      `${what}: not a tar header at offset ${offset} (checksum field '${text.replace(/[^\x20-\x7e]/g, '?')}')`,
    );
  }
  const stored = Number.parseInt(text, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new GenerateError(
      'CORRUPT',
      `${what}: tar header at offset ${offset}: checksum ${stored} does not match the header (${unsigned})`,
    );
  }
}

/** pax records: "LEN key=value\n", LEN counting the whole record. */
function parsePax(data: Uint8Array, offset: number, what: string): Overrides {
  const out: Overrides = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number(utf8.decode(data.subarray(at, space)));
    if (!Number.isInteger(length) || length <= 0 || at + length > data.length) {
      if (data.subarray(at).every((b) => b === 0)) break;
      throw new GenerateError('CORRUPT', `${what}: pax header at offset ${offset}: malformed record at byte ${at}`);
    }
    const record = utf8.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkPath = value;
    else if (key === 'size') {
      if (!/^\d+$/.test(value)) throw new GenerateError('CORRUPT', `${what}: pax header at offset ${offset}: bad size '${value}'`);
      out.size = Number(value);
    }
    at += length;
  }
  return out;
}
