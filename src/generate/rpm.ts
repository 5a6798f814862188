/**
 * The parts of an RPM package that come before its payload: the lead, the signature header
 * and the main header, read as a stream so that the payload (a compressed cpio archive)
 * can follow without the package being loaded. From the main header we take the package's
 * name, version, release and arch (provenance) and how the payload is packed.
 *
 * Lead (96 bytes, big-endian):
 *
 * | offset | size | field                                      |
 * |-------:|-----:|--------------------------------------------|
 * |      0 |    4 | magic ED AB EE DB                          |
 * |      4 |    2 | format major, minor (3.0 or 4.0)           |
 * |      6 |    2 | type: 0 binary, 1 source                   |
 * |      8 |    2 | architecture number                        |
 * |     10 |   66 | name-version-release, NUL padded           |
 * |     76 |    2 | OS number                                  |
 * |     78 |    2 | signature type (5: a header follows)       |
 * |     80 |   16 | reserved                                   |
 *
 * Header (the signature header, then the main header; big-endian):
 *
 * | offset | size      | field                                        |
 * |-------:|----------:|----------------------------------------------|
 * |      0 |         3 | magic 8E AD E8                               |
 * |      3 |         1 | header version (1)                           |
 * |      4 |         4 | reserved                                     |
 * |      8 |         4 | index entry count N                          |
 * |     12 |         4 | data store size S                            |
 * |     16 |    16 × N | index entries: tag, type, offset in the store, count |
 * | 16+16N |         S | data store                                   |
 *
 * The signature header is padded with zeros to a multiple of 8 bytes; the main header is
 * not. The payload follows the main header directly.
 */
import type { ByteReader } from './byte-reader.js';
import { GenerateError } from './errors.js';

const LEAD_MAGIC = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC = [0x8e, 0xad, 0xe8];
const LEAD_SIZE = 96;
const HEADER_INTRO_SIZE = 16;
/** A kernel-debuginfo main header (file names, digests of ~5000 files) is a few MiB. */
const MAX_INDEX_ENTRIES = 1 << 20;
const MAX_STORE_BYTES = 256 * 1024 * 1024;

/** Main header tags we read (rpmtag.h). */
const Tag = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  ARCH: 1022,
  PAYLOADFORMAT: 1124,
  PAYLOADCOMPRESSOR: 1125,
} as const;

/** Header data types (rpmtag.h): only strings are read here. */
const STRING_TYPES = new Set([6 /* STRING */, 8 /* STRING_ARRAY */, 9 /* I18NSTRING */]);

export interface RpmHeaderInfo {
  name: string;
  version: string;
  release: string;
  arch: string;
  /** PAYLOADFORMAT: `cpio` for every package we read. */
  payloadFormat: string;
  /** PAYLOADCOMPRESSOR as the header says it (`xz`, `zstd`, `gzip`...); `gzip` when absent, as RPM defaults. */
  payloadCompressor: string;
}

export function isRpm(head: Uint8Array): boolean {
  return LEAD_MAGIC.every((b, i) => head[i] === b);
}

/** Reads the lead and both headers from `reader`, leaving it at the start of the payload. */
export async function readRpmHeaders(reader: ByteReader): Promise<RpmHeaderInfo> {
  const lead = await reader.readExact(LEAD_SIZE, 'the RPM lead');
  if (!isRpm(lead)) throw new GenerateError('NOT_A_PACKAGE', `${reader.what}: not an RPM package (no lead magic ED AB EE DB)`);
  if (lead[4] !== 3 && lead[4] !== 4) {
    throw new GenerateError('UNSUPPORTED', `${reader.what}: RPM format ${lead[4]}.${lead[5]} is not supported (3.x or 4.x expected)`);
  }
  const signatureStart = reader.offset;
  const signatureSize = await readHeader(reader, 'signature header');
  const padding = (8 - (signatureSize % 8)) % 8;
  await reader.skip(padding, `the padding after the signature header at offset ${signatureStart}`);
  const tags = new Map<number, string>();
  await readHeader(reader, 'main header', tags);
  return {
    name: tags.get(Tag.NAME) ?? '',
    version: tags.get(Tag.VERSION) ?? '',
    release: tags.get(Tag.RELEASE) ?? '',
    arch: tags.get(Tag.ARCH) ?? '',
    payloadFormat: tags.get(Tag.PAYLOADFORMAT) ?? 'cpio',
    payloadCompressor: tags.get(Tag.PAYLOADCOMPRESSOR) ?? 'gzip',
  };
}

/** Reads one header structure; fills `strings` with the wanted string tags. Returns its size in bytes. */
async function readHeader(reader: ByteReader, label: string, strings?: Map<number, string>): Promise<number> {
  const start = reader.offset;
  const intro = await reader.readExact(HEADER_INTRO_SIZE, `the RPM ${label}`);
  if (!HEADER_MAGIC.every((b, i) => intro[i] === b)) {
    throw new GenerateError('CORRUPT', `${reader.what}: no RPM ${label} at offset ${start} (bad magic)`);
  }
  const view = new DataView(intro.buffer, intro.byteOffset, intro.byteLength);
  const count = view.getUint32(8);
  const storeSize = view.getUint32(12);
  if (count > MAX_INDEX_ENTRIES || storeSize > MAX_STORE_BYTES) {
    throw new GenerateError(
      'LIMIT',
      `${reader.what}: RPM ${label} at offset ${start} declares ${count} entries and ${storeSize} bytes of data, beyond the bounds`,
    );
  }
  const index = await reader.readExact(count * 16, `the index of the RPM ${label} at offset ${start}`);
  const store = await reader.readExact(storeSize, `the data of the RPM ${label} at offset ${start}`);
  if (strings) {
    const wanted = new Set<number>(Object.values(Tag));
    const indexView = new DataView(index.buffer, index.byteOffset, index.byteLength);
    for (let i = 0; i < count; i++) {
      const tag = indexView.getUint32(i * 16);
      const type = indexView.getUint32(i * 16 + 4);
      const offset = indexView.getUint32(i * 16 + 8);
      if (!wanted.has(tag) || !STRING_TYPES.has(type)) continue;
      const end = store.indexOf(0, offset);
      if (offset >= store.length || end === -1) {
        throw new GenerateError(
          'CORRUPT',
          `${reader.what}: RPM ${label} at offset ${start}: tag ${tag} points outside its data (offset ${offset})`,
        );
      }
      strings.set(tag, new TextDecoder('utf-8').decode(store.subarray(offset, end)));
    }
  }
  return HEADER_INTRO_SIZE + count * 16 + storeSize;
}
