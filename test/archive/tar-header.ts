/** Hand-built tar headers for cases no well-behaved tar writes: bad fields, odd types, hostile names. */
import { TAR_BLOCK } from '../../src/archive/tar.js';

export interface HeaderFields {
  name: string;
  typeflag?: string;
  size?: number;
  /** Raw text for the size field, to write invalid octal. */
  sizeField?: string;
  /** Write this size in GNU base-256 form instead of octal. */
  base256Size?: number;
  linkName?: string;
}

/** One 512-byte ustar header with a correct checksum. */
export function tarHeader(fields: HeaderFields): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  const put = (offset: number, value: string) => h.set(new TextEncoder().encode(value), offset);
  put(0, fields.name);
  put(100, '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  if (fields.base256Size !== undefined) {
    h[124] = 0x80;
    let v = fields.base256Size;
    for (let i = 135; i > 124; i--, v = Math.floor(v / 256)) h[i] = v % 256;
  } else {
    put(124, fields.sizeField ?? `${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`);
  }
  put(136, '00000000000\0');
  put(156, fields.typeflag ?? '0');
  put(157, fields.linkName ?? '');
  put(257, 'ustar\x0000');
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** A pax record "<len> key=value\n", whose length counts itself. */
export function paxRecord(keyValue: string): string {
  let n = keyValue.length + 3;
  while (`${n} ${keyValue}\n`.length !== n) n = `${n} ${keyValue}\n`.length;
  return `${n} ${keyValue}\n`;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `data` zero-padded to a whole number of tar blocks. */
export function padToBlock(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / TAR_BLOCK) * TAR_BLOCK);
  out.set(data);
  return out;
}
