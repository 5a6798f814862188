/**
 * A small tar reader: POSIX ustar, pax extended headers and the GNU long-name extension,
 * which together cover what GNU tar, bsdtar, Python and Go write (BTFHub's archives come
 * from GNU tar). It reads from memory and hands out views into the input; nothing is
 * written to disk here, so path checks live in `safeEntryPath` for callers that extract.
 *
 * Every offset and length is checked against the input: a malformed or truncated archive
 * is an ArchiveError('TAR'), never a RangeError.
 */
import { ArchiveError } from './errors.js';

export const TAR_BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Path inside the archive, with the ustar prefix, a pax `path` or a GNU long name applied. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character ('0' for a regular file, '5' for a directory...). */
  typeflag: string;
  /** Link target for symlinks and hardlinks, else ''. */
  linkName: string;
  size: number;
  /** The entry's contents: a view into the archive bytes. */
  data: Uint8Array;
  /** Byte offset of the entry's (last) header block, for error messages. */
  headerOffset: number;
}

/** Header field offsets and widths (POSIX.1-1988 ustar). */
const Field = {
  name: [0, 100],
  mode: [100, 8],
  size: [124, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkName: [157, 100],
  magic: [257, 6],
  prefix: [345, 155],
} as const;

/** pax ('x' per entry, 'g' global) and GNU long name/link ('L', 'K') headers. */
const META_TYPEFLAGS = ['x', 'g', 'L', 'K'];

const utf8 = new TextDecoder('utf-8');

/** Overrides carried by pax ('x', 'g') and GNU ('L', 'K') meta entries. */
interface Overrides {
  path?: string;
  linkPath?: string;
  size?: number;
}

/**
 * Iterates the entries of a tar archive in order. Meta entries (pax headers, GNU long
 * names) are consumed and applied to the entry they describe, not yielded.
 * The archive must end with a zero block: without one it was truncated.
 */
export function* readTarEntries(bytes: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let globalPax: Overrides = {};
  let pending: Overrides = {};
  let pendingFrom = -1;

  for (;;) {
    if (offset + TAR_BLOCK > bytes.length) {
      throw tarError(offset, offset === bytes.length ? 'missing end-of-archive marker (truncated archive?)' : 'truncated header');
    }
    const header = bytes.subarray(offset, offset + TAR_BLOCK);
    if (header.every((b) => b === 0)) {
      if (pendingFrom >= 0) throw tarError(pendingFrom, 'extended header not followed by an entry');
      return;
    }
    verifyChecksum(header, offset);

    const typeflag = header[Field.typeflag[0]] === 0 ? '0' : String.fromCharCode(header[Field.typeflag[0]] ?? 0);
    const isMeta = META_TYPEFLAGS.includes(typeflag);
    // A pax size describes the entry that follows, never another meta header.
    const headerSize = readNumber(header, Field.size, 'size', offset);
    const size = isMeta ? headerSize : (pending.size ?? headerSize);
    const dataStart = offset + TAR_BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > bytes.length) {
      throw tarError(offset, `entry data truncated: ${size} bytes declared, ${bytes.length - dataStart} present`);
    }
    const data = bytes.subarray(dataStart, dataEnd);
    const next = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;

    switch (typeflag) {
      case 'x':
        pending = { ...pending, ...parsePaxRecords(data, offset) };
        pendingFrom = offset;
        break;
      case 'g':
        // Global records apply to every later entry; a global size would make no sense.
        globalPax = { ...globalPax, ...parsePaxRecords(data, offset), size: undefined };
        break;
      case 'L':
        pending = { ...pending, path: cString(data, 0, data.length) };
        pendingFrom = offset;
        break;
      case 'K':
        pending = { ...pending, linkPath: cString(data, 0, data.length) };
        pendingFrom = offset;
        break;
      default: {
        yield {
          name: pending.path ?? globalPax.path ?? headerName(header),
          type: entryType(typeflag),
          typeflag,
          linkName: pending.linkPath ?? globalPax.linkPath ?? cString(header, ...Field.linkName),
          size,
          data,
          headerOffset: offset,
        };
        pending = {};
        pendingFrom = -1;
      }
    }
    offset = next;
  }
}

/**
 * The entry's path, normalised (no './' or empty segments), if it is safe to create
 * under an extraction directory: a regular file or directory with a relative path and no
 * '..' segment. Links and device nodes are refused, since following them is how archives
 * escape their directory.
 */
export function safeEntryPath(entry: TarEntry): string {
  const unsafe = (why: string) => new ArchiveError('UNSAFE_ENTRY', `tar entry '${entry.name}': ${why}`);
  if (entry.type !== 'file' && entry.type !== 'directory') throw unsafe(`${entry.type} entries are not extracted`);
  const why = unsafePathReason(entry.name);
  if (why) throw unsafe(why);
  return normalisedSegments(entry.name).join('/');
}

/** Why `path` could land outside the directory it is extracted to, or undefined when it cannot. */
export function unsafePathReason(path: string): string | undefined {
  if (path.includes('\0')) return 'NUL in path';
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  const segments = normalisedSegments(path);
  if (segments.includes('..')) return "'..' segment";
  if (segments.length === 0) return 'empty path';
  return undefined;
}

/** Either slash separates: a name made on Windows must not smuggle '..\\' past us. */
function normalisedSegments(path: string): string[] {
  return path.split(/[\\/]/).filter((s) => s !== '' && s !== '.');
}

function entryType(typeflag: string): TarEntryType {
  switch (typeflag) {
    case '0':
    case '7': // contiguous file: a regular file everywhere that matters
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

/** ustar splits long paths into prefix + '/' + name; GNU headers use that area for other data. */
function headerName(header: Uint8Array): string {
  const name = cString(header, ...Field.name);
  const posixMagic = cString(header, ...Field.magic) === 'ustar' && header[Field.magic[0] + 5] === 0;
  const prefix = posixMagic ? cString(header, ...Field.prefix) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** The checksum is the byte sum of the header with its own field read as spaces; old tars summed signed bytes. */
function verifyChecksum(header: Uint8Array, offset: number): void {
  const stored = readNumber(header, Field.checksum, 'checksum', offset);
  const [start, width] = Field.checksum;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= start && i < start + width ? 0x20 : (header[i] ?? 0);
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw tarError(offset, `bad header checksum (stored ${stored}, computed ${unsigned})`);
  }
}

/** A numeric field: octal ASCII (space/NUL terminated), or GNU base-256 when the top bit is set. */
function readNumber(header: Uint8Array, [start, width]: readonly [number, number], field: string, offset: number): number {
  const first = header[start] ?? 0;
  if (first & 0x80) {
    if (first !== 0x80) throw tarError(offset, `negative or oversized base-256 ${field}`);
    let value = 0;
    for (let i = start + 1; i < start + width; i++) {
      value = value * 256 + (header[i] ?? 0);
      if (value > Number.MAX_SAFE_INTEGER) throw tarError(offset, `${field} too large`);
    }
    return value;
  }
  const text = cString(header, start, width).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw tarError(offset, `invalid octal ${field} ${JSON.stringify(text)}`);
  const value = parseInt(text, 8);
  if (value > Number.MAX_SAFE_INTEGER) throw tarError(offset, `${field} too large`);
  return value;
}

/**
 * pax records: "<len> <key>=<value>\n", where len counts the whole record in bytes.
 * Only the keys that change how we read the archive are kept.
 */
function parsePaxRecords(data: Uint8Array, offset: number): Overrides {
  const out: Overrides = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw tarError(offset, 'malformed pax record length');
    const lengthText = utf8.decode(data.subarray(pos, space));
    if (!/^[0-9]+$/.test(lengthText)) throw tarError(offset, `malformed pax record length ${JSON.stringify(lengthText)}`);
    const length = Number(lengthText);
    const end = pos + length;
    if (length <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw tarError(offset, 'pax record overruns its header');
    }
    const record = utf8.decode(data.subarray(space + 1, end - 1));
    const eq = record.indexOf('=');
    if (eq <= 0) throw tarError(offset, `malformed pax record ${JSON.stringify(record)}`);
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkPath = value;
    else if (key === 'size') {
      if (!/^[0-9]+$/.test(value) || Number(value) > Number.MAX_SAFE_INTEGER) {
        throw tarError(offset, `invalid pax size ${JSON.stringify(value)}`);
      }
      out.size = Number(value);
    }
    pos = end;
  }
  return out;
}

/** The bytes up to the first NUL in [start, start + width), as UTF-8. */
function cString(bytes: Uint8Array, start: number, width: number): string {
  const field = bytes.subarray(start, start + width);
  const nul = field.indexOf(0);
  return utf8.decode(nul < 0 ? field : field.subarray(0, nul));
}

function tarError(offset: number, message: string): ArchiveError {
  return new ArchiveError('TAR', `tar: ${message} at offset ${offset}`);
}
