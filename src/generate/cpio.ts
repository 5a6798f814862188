/**
 * A streaming reader of the cpio "newc" archives RPM payloads are: magic `070701` (no
 * checksum) or `070702` (with a checksum of the data, which RPM leaves at 0). `cpio` is not
 * a tool we can count on, and an RPM payload runs to gigabytes, so entries are read as a
 * stream like the tar reader does.
 *
 * Header (110 bytes of ASCII; every number is 8 hex digits):
 *
 * | offset | size | field                                |
 * |-------:|-----:|--------------------------------------|
 * |      0 |    6 | magic `070701` or `070702`           |
 * |      6 |    8 | inode                                |
 * |     14 |    8 | mode (file type in bits 12-15)       |
 * |     22 |    8 | uid                                  |
 * |     30 |    8 | gid                                  |
 * |     38 |    8 | number of links                      |
 * |     46 |    8 | mtime                                |
 * |     54 |    8 | file size                            |
 * |     62 |   32 | dev major/minor, rdev major/minor    |
 * |     94 |    8 | name size, including its NUL         |
 * |    102 |    8 | checksum                             |
 * |    110 |    - | name, NUL terminated, padded so that header + name is a multiple of 4 |
 * | then the file data, padded to a multiple of 4 (a symlink's data is its target)      |
 *
 * The entry named `TRAILER!!!` ends the archive. RPM's own large-file format (`07070X`,
 * headers stripped to an index into the RPM header) is recognised and refused.
 */
import type { ByteReader } from './byte-reader.js';
import { GenerateError } from './errors.js';

const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
/** Paths are at most PATH_MAX (4096) bytes on Linux. */
const MAX_NAME_SIZE = 4096;

export type CpioEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface CpioEntry {
  name: string;
  type: CpioEntryType;
  mode: number;
  size: number;
  headerOffset: number;
}

const ascii = new TextDecoder('latin1');

/**
 * The entries of the cpio stream in `reader`. After each yield the caller may read up to
 * `size` bytes of the entry's data from `reader`; the rest (and the padding) is skipped.
 */
export async function* readCpioStream(reader: ByteReader): AsyncGenerator<CpioEntry> {
  for (;;) {
    const headerOffset = reader.offset;
    if (await reader.atEnd()) {
      throw new GenerateError(
        'TRUNCATED',
        `${reader.what}: truncated: the cpio data ends at byte ${headerOffset} without a ${TRAILER} entry`,
      );
    }
    const header = await reader.readExact(HEADER_SIZE, `the cpio header at offset ${headerOffset}`);
    const magic = ascii.decode(header.subarray(0, 6));
    if (magic === '07070X') {
      throw new GenerateError(
        'UNSUPPORTED',
        `${reader.what}: the payload uses RPM's large-file cpio format (07070X), which this reader does not support`,
      );
    }
    if (magic !== '070701' && magic !== '070702') {
      const shown = magic.replace(/[^\x20-\x7e]/g, '?');
      throw new GenerateError(
        'CORRUPT',
        `${reader.what}: no cpio header at offset ${headerOffset} (magic '${shown}', expected 070701 or 070702)`,
      );
    }
    const field = (index: number, label: string) => hexField(header, 6 + index * 8, label, headerOffset, reader.what);
    const mode = field(1, 'mode');
    const size = field(6, 'file size');
    const nameSize = field(11, 'name size');
    if (nameSize < 1 || nameSize > MAX_NAME_SIZE) {
      throw new GenerateError('CORRUPT', `${reader.what}: cpio header at offset ${headerOffset}: name size ${nameSize} is not plausible`);
    }
    const nameBytes = await reader.readExact(nameSize, `the name of the cpio entry at offset ${headerOffset}`);
    const name = new TextDecoder('utf-8').decode(nameBytes.subarray(0, nameBytes.indexOf(0) === -1 ? nameSize : nameBytes.indexOf(0)));
    await reader.skip(pad4(HEADER_SIZE + nameSize), `the padding of the cpio entry '${name}'`);
    if (name === TRAILER) return;
    const dataStart = reader.offset;
    yield { name, type: entryType(mode), mode, size, headerOffset };
    const left = dataStart + size + pad4(size) - reader.offset;
    if (left < 0) throw new Error(`cpio reader: the caller read ${-left} bytes past entry '${name}'`);
    await reader.skip(left, `cpio entry '${name}' (${size} bytes after the header at offset ${headerOffset})`);
  }
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function entryType(mode: number): CpioEntryType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

function hexField(header: Uint8Array, offset: number, label: string, headerOffset: number, what: string): number {
  const text = ascii.decode(header.subarray(offset, offset + 8));
  if (!/^[0-9a-fA-F]{8}$/.test(text)) {
    throw new GenerateError(
      'CORRUPT',
      `${what}: cpio header at offset ${headerOffset}: bad ${label} field '${text.replace(/[^\x20-\x7e]/g, '?')}'`,
    );
  }
  return Number.parseInt(text, 16);
}
