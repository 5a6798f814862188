/**
 * String table builder for the encoder: interns strings, hands out offsets in first-use
 * order, and deduplicates (same string, same offset), as libbpf's `strset` does for
 * btf__add_str. Offset 0 is always the empty string.
 */
export class StringTableBuilder {
  private readonly offsets = new Map<string, number>([['', 0]]);
  private readonly parts: string[] = [''];
  private length = 1;
  /** An existing string section that the table starts from (see `fromSection`). */
  private base: Uint8Array | undefined;

  /**
   * A table that starts as a copy of an existing string section, so that re-encoding a
   * decoded BTF keeps every string at its original offset (byte-exact round trips).
   * Each string is registered at its first complete occurrence.
   */
  static fromSection(section: Uint8Array): StringTableBuilder {
    const table = new StringTableBuilder();
    table.base = section;
    table.parts.length = 0;
    table.length = section.length;
    let start = 0;
    for (let end = section.indexOf(0); end >= 0; end = section.indexOf(0, start)) {
      const s = latin1(section.subarray(start, end));
      if (!table.offsets.has(s)) table.offsets.set(s, start);
      start = end + 1;
    }
    return table;
  }

  /** Offset of `s`, appending it on first use. */
  add(s: string): number {
    let off = this.offsets.get(s);
    if (off === undefined) {
      off = this.length;
      this.offsets.set(s, off);
      this.parts.push(s);
      this.length += s.length + 1;
    }
    return off;
  }

  get byteLength(): number {
    return this.length;
  }

  /** The section bytes: each string as Latin-1 (one byte per char, as StringSection decodes) + NUL. */
  write(out: Uint8Array, at: number): void {
    let p = at;
    if (this.base) {
      out.set(this.base, p);
      p += this.base.length;
    }
    for (const s of this.parts) {
      for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i) & 0xff;
      out[p++] = 0;
    }
  }
}

/**
 * Bytes as a latin1 string, in chunks (String.fromCharCode takes its arguments on the stack);
 * by apply(), which takes a typed array as it is, where a spread would iterate it.
 */
function latin1(bytes: Uint8Array): string {
  if (bytes.length <= 8192) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  return s;
}
