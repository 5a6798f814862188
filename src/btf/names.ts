/**
 * Essential names and the flavor convention (spec §5.2, libbpf `bpf_core_essential_name_len`).
 *
 * A flavor separator sits at position i when s[i] != '_', s[i+1..i+3] == "___" and
 * s[i+4] != '_'. The right-most separator wins: `a___b___c` -> `a___b`; `foo____bar`
 * (four underscores) and `___x` are unchanged.
 */
export function essentialNameLength(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (
      name.charCodeAt(i) !== 95 &&
      name.charCodeAt(i + 1) === 95 &&
      name.charCodeAt(i + 2) === 95 &&
      name.charCodeAt(i + 3) === 95 &&
      name.charCodeAt(i + 4) !== 95
    ) {
      return i + 1;
    }
  }
  return n;
}

export function essentialName(name: string): string {
  const len = essentialNameLength(name);
  return len === name.length ? name : name.slice(0, len);
}

/** libbpf's "names match": essential prefixes of equal length and bytes. */
export function essentialNamesEqual(a: string, b: string): boolean {
  const la = essentialNameLength(a);
  return la === essentialNameLength(b) && a.slice(0, la) === b.slice(0, la);
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a of a NUL-terminated name's essential part, read straight from a string table,
 * so the decoder can index ~100k names without creating a JS string for each.
 * Must agree with `essentialNameHash(string)` below.
 */
export function essentialHashAt(bytes: Uint8Array, start: number): number {
  let h = FNV_OFFSET;
  let essential = 0;
  let flavored = false;
  let saved = 0;
  let run = 0;
  let runStart = 0;
  for (let j = start; ; j++) {
    const c = bytes[j]!;
    if (c === 0) break;
    if (c === 95) {
      if (run === 0) {
        saved = h;
        runStart = j;
      }
      run++;
    } else {
      if (run === 3 && runStart > start) {
        essential = saved;
        flavored = true;
      }
      run = 0;
    }
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return (flavored ? essential : h) >>> 0;
}

export function essentialNameHash(name: string): number {
  const len = essentialNameLength(name);
  let h = FNV_OFFSET;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
  return h >>> 0;
}
