/**
 * Layer 2: the running kernel's own BTF, `/sys/kernel/btf/vmlinux` (under `--root` when
 * the host's filesystem is mounted elsewhere). When it is there, libbpf and cilium/ebpf
 * find it themselves: nothing needs fetching, unless --trim asks for a trimmed copy.
 *
 * Without --trim nothing is made from it, so only its header is read and checked against
 * the file's size (`headerOnly`): an agent start then costs a 24-byte read, not 5 MB read
 * and decoded. The loader that uses it (libbpf) decodes it anyway. With --trim the whole
 * file is read and the chain decodes it like any other answer.
 *
 * BTF header (the codec reads the same fields, src/btf/btf.ts):
 * | off | size | field    |
 * |   0 |    2 | magic 0xEB9F, in the blob's byte order |
 * |   2 |    1 | version (1) |
 * |   3 |    1 | flags    |
 * |   4 |    4 | hdr_len  (>= 24) |
 * |   8 |    4 | type_off (from the end of the header; 4-byte aligned) |
 * |  12 |    4 | type_len |
 * |  16 |    4 | str_off  (from the end of the header) |
 * |  20 |    4 | str_len  (> 0) |
 * The type section must end at or before the string section, which must end in the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { readFile as readFileCallback } from 'node:fs';
import { join } from 'node:path';
import { failed, fsReason, type LayerResult } from './layer.js';

export const KERNEL_BTF_PATH = 'sys/kernel/btf/vmlinux';

const BTF_MAGIC = 0xeb9f;
const HEADER_LEN = 24;

export interface KernelLayerOptions {
  /** The host's filesystem root ('/' by default). */
  root?: string;
  /** Read and check only the header (the answer's `bytes` are then the header alone). */
  headerOnly?: boolean;
  readFile?: (path: string) => Promise<Uint8Array>;
}

export async function kernelLayer(options: KernelLayerOptions = {}): Promise<LayerResult> {
  const path = join(options.root ?? '/', KERNEL_BTF_PATH);
  try {
    if (options.headerOnly) {
      const { header, size } = readHeader(path);
      if (size === 0) return failed(`${path}: empty`);
      const problem = btfHeaderProblem(header, size);
      if (problem !== undefined) return failed(`${path} does not decode as BTF: ${problem}`);
      return { ok: true, path, bytes: header, form: 'full', checked: 'header' };
    }
    const bytes = await (options.readFile ?? readFile)(path);
    if (bytes.length === 0) return failed(`${path}: empty`);
    return { ok: true, path, bytes, form: 'full' };
  } catch (err) {
    const reason = fsReason(err);
    return failed(`${path}: ${reason}${reason === 'no such file' ? ' (a kernel without CONFIG_DEBUG_INFO_BTF)' : ''}`);
  }
}

/** The first bytes of the file (up to the header's length) and the file's size. */
function readHeader(path: string): { header: Uint8Array; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const header = new Uint8Array(HEADER_LEN);
    let got = 0;
    while (got < HEADER_LEN) {
      const n = readSync(fd, header, got, HEADER_LEN - got, got);
      if (n === 0) break;
      got += n;
    }
    return { header: header.subarray(0, got), size };
  } finally {
    closeSync(fd);
  }
}

/** Why `header` cannot start a BTF file of `size` bytes, or undefined when it can. */
export function btfHeaderProblem(header: Uint8Array, size: number): string | undefined {
  if (header.length < HEADER_LEN) return `BTF header truncated: ${header.length} bytes, need ${HEADER_LEN}`;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const le = view.getUint16(0, true) === BTF_MAGIC;
  if (!le && view.getUint16(0, false) !== BTF_MAGIC) return `bad BTF magic 0x${view.getUint16(0, true).toString(16)} at offset 0`;
  if (header[2] !== 1) return `unsupported BTF version ${header[2]} at offset 2`;
  const hdrLen = view.getUint32(4, le);
  const typeOff = view.getUint32(8, le);
  const typeLen = view.getUint32(12, le);
  const strOff = view.getUint32(16, le);
  const strLen = view.getUint32(20, le);
  if (hdrLen < HEADER_LEN) return `BTF hdr_len ${hdrLen} at offset 4 is smaller than ${HEADER_LEN}`;
  if (typeOff % 4 !== 0) return `BTF type_off ${typeOff} is not 4-byte aligned`;
  if (typeOff + typeLen > strOff) return `BTF type section [${typeOff}, +${typeLen}) overlaps the string section at ${strOff}`;
  if (strLen === 0) return 'BTF string section is empty';
  const end = hdrLen + strOff + strLen;
  if (end > size) return `BTF string section ends at byte ${end}, past the end of the file (${size} bytes)`;
  return undefined;
}

/** node:fs's readFile as a promise (not node:fs/promises, which loads Node's streams at start). */
function readFile(path: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => readFileCallback(path, (err, data) => (err ? reject(err) : resolve(data))));
}
