/**
 * Writes a POSIX ustar archive holding one regular file: the layout of a BTFHub
 * `<kernel>.btf.tar.xz` before compression. Fields that vary between machines (owner,
 * mtime) are fixed so the same input always gives the same bytes.
 */
import { ArchiveError } from './errors.js';
import { TAR_BLOCK, unsafePathReason } from './tar.js';

export interface TarFileOptions {
  /** Seconds since the epoch; 0 by default so output is reproducible. */
  mtime?: number;
  /** Permission bits; 0o644 by default. */
  mode?: number;
}

/** ustar's 12-byte octal size field holds at most 11 digits. */
const MAX_USTAR_SIZE = 0o77777777777;
const NAME_FIELD_BYTES = 100;

export function writeSingleFileTar(name: string, data: Uint8Array, options: TarFileOptions = {}): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length === 0 || nameBytes.length > NAME_FIELD_BYTES) {
    throw new ArchiveError('TAR', `tar: entry name must be 1..${NAME_FIELD_BYTES} bytes, got ${nameBytes.length}`);
  }
  const unsafe = unsafePathReason(name);
  if (unsafe) throw new ArchiveError('UNSAFE_ENTRY', `tar: refusing to write entry name '${name}': ${unsafe}`);
  if (data.length > MAX_USTAR_SIZE) throw new ArchiveError('TAR', `tar: ${data.length} bytes do not fit a ustar entry`);

  const header = new Uint8Array(TAR_BLOCK);
  header.set(nameBytes, 0);
  putOctal(header, 100, 8, options.mode ?? 0o644);
  putOctal(header, 108, 8, 0); // uid
  putOctal(header, 116, 8, 0); // gid
  putOctal(header, 124, 12, data.length);
  putOctal(header, 136, 12, options.mtime ?? 0);
  header[156] = 0x30; // typeflag '0': regular file
  header.set(new TextEncoder().encode('ustar\x0000'), 257); // POSIX magic + version "00"
  // The checksum is summed with its own field as spaces, then written as 6 digits, NUL, space.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((acc, b) => acc + b, 0);
  putOctal(header, 148, 7, sum);
  header[155] = 0x20;

  const padded = Math.ceil(data.length / TAR_BLOCK) * TAR_BLOCK;
  // Header, data padded to a block, then the two zero blocks that end an archive.
  const out = new Uint8Array(TAR_BLOCK + padded + 2 * TAR_BLOCK);
  out.set(header, 0);
  out.set(data, TAR_BLOCK);
  return out;
}

/** Zero-padded octal digits filling width-1 bytes, then a NUL. */
function putOctal(header: Uint8Array, start: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  for (let i = 0; i < width - 1; i++) header[start + i] = digits.charCodeAt(i);
  header[start + width - 1] = 0;
}
