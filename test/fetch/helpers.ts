/**
 * Running `btfhub fetch` in-process against fake host roots.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Test } from 'tap';
import { createFetchCommand, type FetchCommandDeps } from '../../src/cli/commands/fetch.js';
import { runCli, type CliIo } from '../../src/cli/run.js';

export const HOST_KERNEL = '5.15.0-91-generic';
export const HOST_KEY = `ubuntu/22.04/x86_64/${HOST_KERNEL}`;
export const UBUNTU_OS_RELEASE = 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n';

export interface FetchRun {
  code: number;
  stdoutBytes: Buffer;
  stdout: string;
  stderr: string;
  /** stdout parsed, when --json was given. */
  json: () => Record<string, unknown> & { layers: { layer: string; outcome: string; reason?: string; path?: string; detail?: string }[] };
}

/** Runs `btfhub fetch ARGS` with an empty environment (plus `env`) and this machine's uname kept out. */
export async function runFetch(args: string[], deps: FetchCommandDeps = {}, io: Partial<CliIo> = {}): Promise<FetchRun> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const collector = (into: Buffer[]) => ({
    write(chunk: string | Uint8Array) {
      into.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
      return true;
    },
  });
  const command = createFetchCommand({
    env: {},
    host: { unameRelease: () => 'uname-must-not-be-used', unameMachine: () => 'x86_64' },
    client: { maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 20 },
    ...deps,
  });
  const code = await runCli(['fetch', ...args], { stdout: collector(out), stderr: collector(err), ...io }, [command]);
  const stdoutBytes = Buffer.concat(out);
  return {
    code,
    stdoutBytes,
    stdout: stdoutBytes.toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    json: () => JSON.parse(stdoutBytes.toString('utf8')) as ReturnType<FetchRun['json']>,
  };
}

export interface FakeHostOptions {
  /** os-release text at etc/os-release (null: none). Default: Ubuntu 22.04. */
  osRelease?: string | null;
  /** Kernel release at proc/sys/kernel/osrelease. Default HOST_KERNEL. */
  kernel?: string;
  /** A file to link at sys/kernel/btf/vmlinux, or bytes to write there. */
  vmlinux?: string | Uint8Array;
}

/** A scratch directory holding a fake host root (`root`) and room for other files. */
export async function fakeHost(t: Test, options: FakeHostOptions = {}): Promise<{ dir: string; root: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-fetch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const osRelease = options.osRelease === undefined ? UBUNTU_OS_RELEASE : options.osRelease;
  if (osRelease !== null) await put(join(root, 'etc/os-release'), osRelease);
  await put(join(root, 'proc/sys/kernel/osrelease'), `${options.kernel ?? HOST_KERNEL}\n`);
  if (typeof options.vmlinux === 'string') {
    await mkdir(join(root, 'sys/kernel/btf'), { recursive: true });
    await symlink(options.vmlinux, join(root, 'sys/kernel/btf/vmlinux'));
  } else if (options.vmlinux !== undefined) {
    await put(join(root, 'sys/kernel/btf/vmlinux'), options.vmlinux);
  }
  return { dir, root };
}

export async function put(path: string, data: string | Uint8Array): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
  return path;
}

/** An assertion message: "exit 0", or stderr when the run failed. */
export const why = (run: FetchRun): string => (run.code === 0 ? 'exit 0' : `exit ${run.code}: ${run.stderr}`);
