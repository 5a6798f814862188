/**
 * Running pahole (Debian's `dwarves`) to turn a vmlinux's DWARF into BTF, with flags chosen
 * so that the agents' older libbpf can read the result, as it can read BTFHub's archive:
 *
 * | flag                           | from pahole | why                                                  |
 * |--------------------------------|------------:|------------------------------------------------------|
 * | `--btf_encode_detached=FILE`   |        1.22 | raw BTF into a file of ours; the input is never modified |
 * | `--btf_gen_floats`             |        1.21 | float types as FLOAT (libbpf 0.4+), as the kernel's own build does |
 * | `--skip_encoding_btf_type_tag` |        1.23 | no TYPE_TAG unless asked: libbpf before 0.6 rejects it |
 * | `--skip_encoding_btf_decl_tag` |        1.23 | no DECL_TAG unless asked: libbpf before 0.6 rejects it |
 * | `--skip_encoding_btf_enum64`   |        1.24 | no ENUM64: libbpf before 1.0 rejects it; 64-bit enums become ENUMs, as in pre-1.24 BTF |
 *
 * No `-j`: before pahole 1.26's `reproducible_build` feature, parallel encoding could order
 * types differently from run to run, and the result is meant to be the same bytes as a
 * single-threaded pahole run of the same version gives (and the kernel's own build uses
 * -j1 for the same reason). pahole older than 1.22 cannot write detached BTF and is refused.
 *
 * pahole runs with a time bound and is killed past it, and optionally with an address-space
 * bound (`ulimit -v` in a shell that then execs pahole): past it pahole's allocations fail and
 * it exits with an error, which is reported with the bound. Its stderr is kept for the error.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { GenerateError } from './errors.js';

export interface PaholeVersion {
  /** As pahole prints it, without the leading `v`: "1.24". */
  text: string;
  major: number;
  minor: number;
}

/** pahole older than this cannot write detached BTF. */
export const MIN_PAHOLE: PaholeVersion = { text: '1.22', major: 1, minor: 22 };

export interface BtfEncodingOptions {
  /** Keep BTF_KIND_TYPE_TAG and DECL_TAG (pahole 1.23+ encodes them): newer libbpf only. */
  tags?: boolean;
}

/** Parses `pahole --version` output ("v1.24"). */
export function parsePaholeVersion(output: string): PaholeVersion {
  const match = /^v?(\d+)\.(\d+)/.exec(output.trim());
  if (!match) throw new GenerateError('PAHOLE', `cannot read pahole's version from '${output.trim().slice(0, 80)}'`);
  return { text: `${match[1]}.${match[2]}`, major: Number(match[1]), minor: Number(match[2]) };
}

function atLeast(version: PaholeVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/** The encoding flags for pahole `version` (without the output file), per the table above. */
export function paholeFlags(version: PaholeVersion, options: BtfEncodingOptions = {}): string[] {
  if (!atLeast(version, MIN_PAHOLE.major, MIN_PAHOLE.minor)) {
    throw new GenerateError(
      'PAHOLE',
      `pahole ${version.text} is too old: BTF generation needs pahole ${MIN_PAHOLE.text} or later (--btf_encode_detached)`,
    );
  }
  const flags: string[] = [];
  if (atLeast(version, 1, 21)) flags.push('--btf_gen_floats');
  if (!options.tags && atLeast(version, 1, 23)) flags.push('--skip_encoding_btf_type_tag', '--skip_encoding_btf_decl_tag');
  if (atLeast(version, 1, 24)) flags.push('--skip_encoding_btf_enum64');
  return flags;
}

/** Runs `pahole --version`. */
export async function detectPaholeVersion(paholePath = 'pahole', timeoutMs = 30_000): Promise<PaholeVersion> {
  const result = await runBounded(paholePath, ['--version'], timeoutMs);
  if (result.timedOut) throw new GenerateError('PAHOLE_TIMEOUT', `${paholePath} --version did not answer within ${timeoutMs} ms`);
  if (result.code !== 0) throw new GenerateError('PAHOLE', `${paholePath} --version failed: ${result.detail}`);
  return parsePaholeVersion(result.stdout);
}

export interface PaholeRun {
  /** The raw BTF pahole wrote. */
  btf: Uint8Array;
  durationMs: number;
  /** pahole's peak resident set (VmHWM), sampled from /proc; undefined where /proc is not there. */
  peakRssBytes?: number;
}

export interface RunPaholeOptions {
  paholePath?: string;
  flags: readonly string[];
  timeoutMs: number;
  /** Address space pahole may map (RLIMIT_AS); unbounded when unset. */
  maxMemoryBytes?: number;
  signal?: AbortSignal;
}

/** Encodes `vmlinux`'s DWARF as BTF into `outFile` and returns it. */
export async function runPahole(vmlinux: string, outFile: string, options: RunPaholeOptions): Promise<PaholeRun> {
  const paholePath = options.paholePath ?? 'pahole';
  const args = [...options.flags, `--btf_encode_detached=${outFile}`, vmlinux];
  const started = performance.now();
  const bounded =
    options.maxMemoryBytes === undefined
      ? { command: paholePath, args }
      : {
          command: '/bin/sh',
          args: ['-c', 'ulimit -v "$1" && shift && exec "$@"', 'sh', String(Math.ceil(options.maxMemoryBytes / 1024)), paholePath, ...args],
        };
  const result = await runBounded(bounded.command, bounded.args, options.timeoutMs, options.signal, true);
  const durationMs = Math.round(performance.now() - started);
  if (options.signal?.aborted) throw options.signal.reason;
  if (result.timedOut) {
    throw new GenerateError(
      'PAHOLE_TIMEOUT',
      `pahole ran longer than its bound of ${options.timeoutMs} ms and was killed${result.detail ? ` (stderr: ${result.detail})` : ''}`,
    );
  }
  if (result.code !== 0) {
    const bound = options.maxMemoryBytes === undefined ? '' : ` (its memory bound is ${options.maxMemoryBytes} bytes of address space)`;
    throw new GenerateError('PAHOLE', `pahole failed on ${vmlinux}: ${result.detail}${bound}`);
  }
  let btf: Uint8Array;
  try {
    btf = await readFile(outFile);
  } catch (err) {
    throw new GenerateError(
      'PAHOLE',
      `pahole exited 0 but wrote no BTF to ${outFile}${result.detail ? ` (stderr: ${result.detail})` : ''}`,
      { cause: err },
    );
  }
  if (btf.length === 0)
    throw new GenerateError('PAHOLE', `pahole exited 0 but wrote an empty BTF file${result.detail ? ` (stderr: ${result.detail})` : ''}`);
  return { btf, durationMs, ...(result.peakRssBytes !== undefined ? { peakRssBytes: result.peakRssBytes } : {}) };
}

interface BoundedResult {
  code: number | null;
  timedOut: boolean;
  stdout: string;
  /** stderr (or the exit status when stderr is empty), on one line. */
  detail: string;
  peakRssBytes?: number;
}

const MAX_CAPTURE = 16 * 1024;
const RSS_SAMPLE_MS = 100;

function runBounded(command: string, args: string[], timeoutMs: number, signal?: AbortSignal, sampleRss = false): Promise<BoundedResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let peak: number | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += text;
    });
    child.stderr.on('data', (text: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += text;
    });
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    const sampler =
      sampleRss && child.pid !== undefined
        ? setInterval(() => {
            void readPeakRss(child.pid!).then((bytes) => {
              if (bytes !== undefined) peak = Math.max(peak ?? 0, bytes);
            });
          }, RSS_SAMPLE_MS)
        : undefined;
    const finish = () => {
      clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      signal?.removeEventListener('abort', kill);
    };
    child.once('error', (err) => {
      finish();
      reject(new GenerateError('PAHOLE', `cannot run ${command}: ${err.message} (is dwarves installed?)`, { cause: err }));
    });
    child.once('close', (code, sig) => {
      finish();
      const text = stderr.trim().replace(/\s*\n\s*/g, '; ');
      resolve({
        code,
        timedOut,
        stdout,
        detail: text || (code === null ? `killed by ${sig}` : code === 0 ? '' : `exit status ${code}`),
        ...(peak !== undefined ? { peakRssBytes: peak } : {}),
      });
    });
  });
}

/** VmHWM of process `pid`, in bytes. */
async function readPeakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
