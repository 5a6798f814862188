/**
 * `.xz` by way of the system's `xz` (XZ Utils): no new dependency, and the same code that
 * produced BTFHub's archives. Decompression is bounded: a small hostile file can expand
 * without limit, so the output is counted as it streams and xz is killed past the limit.
 */
import { spawn } from 'node:child_process';
import { ArchiveError } from './errors.js';

/** `FD 37 7A 58 5A 00`: the xz stream header magic. */
export const XZ_MAGIC: readonly number[] = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

export function isXz(bytes: Uint8Array): boolean {
  return XZ_MAGIC.every((b, i) => bytes[i] === b);
}

export interface XzOptions {
  /** The xz executable; `xz` from PATH by default. */
  xzPath?: string;
}

export interface CompressOptions extends XzOptions {
  /** xz preset 0-9; 6 (xz's default, what BTFHub uses) unless told. 0 is ~10x faster, for test data. */
  preset?: number;
}

export interface DecompressOptions extends XzOptions {
  /** Fail with ArchiveError('LIMIT') once the output would exceed this many bytes. */
  maxOutputBytes: number;
}

/**
 * xz's own memory cap for decompression. BTFHub archives use presets up to -9 (64 MiB
 * dictionary); a header asking for more than this is refused by xz before it allocates.
 */
const DECOMPRESS_MEMLIMIT = '512MiB';

export function decompressXz(input: Uint8Array, options: DecompressOptions): Promise<Uint8Array> {
  const args = ['--decompress', '--stdout', '--format=xz', `--memlimit-decompress=${DECOMPRESS_MEMLIMIT}`];
  return runXz(args, input, options.maxOutputBytes, options.xzPath);
}

/**
 * Compresses as `xz -c -6` (or the given preset). Single-threaded on purpose: multi-threaded
 * xz (the default from XZ Utils 5.6) splits the stream into blocks, so the bytes would depend
 * on the host.
 */
export function compressXz(input: Uint8Array, options: CompressOptions = {}): Promise<Uint8Array> {
  const preset = options.preset ?? 6;
  if (!Number.isInteger(preset) || preset < 0 || preset > 9) throw new RangeError(`xz preset ${preset} is not 0-9`);
  const args = ['--compress', '--stdout', `-${preset}`, '--threads=1', '--format=xz'];
  return runXz(args, input, Number.POSITIVE_INFINITY, options.xzPath);
}

function runXz(args: string[], input: Uint8Array, maxOutputBytes: number, xzPath = 'xz'): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn(xzPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let total = 0;
    let overLimit = false;
    let stderr = '';
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };

    child.on('error', (err) => {
      settle(() => reject(new ArchiveError('XZ', `cannot run ${xzPath}: ${err.message}`, { cause: err })));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (overLimit) return;
      total += chunk.length;
      if (total > maxOutputBytes) {
        overLimit = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    // xz stops reading when it finds corrupt data or is killed; the EPIPE that follows on
    // stdin is not the error to report, the exit status below is.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      settle(() => {
        if (overLimit) {
          reject(new ArchiveError('LIMIT', `xz: decompressed data exceeds the limit of ${maxOutputBytes} bytes`));
        } else if (code !== 0) {
          const detail = stderr.trim().replace(/^xz: \(stdin\): /gm, '') || `exit ${code ?? signal}`;
          reject(new ArchiveError('XZ', `xz: ${detail}`));
        } else {
          const out = new Uint8Array(total);
          let at = 0;
          for (const chunk of chunks) {
            out.set(chunk, at);
            at += chunk.length;
          }
          resolve(out);
        }
      });
    });
    child.stdin.end(input);
  });
}
