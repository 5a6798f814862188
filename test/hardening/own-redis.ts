/**
 * A redis-server of the test's own, on a free port, that the test may stop and start again
 * (the machine's shared Redis on 6379 is never touched). No persistence: a restart comes
 * back empty, like a Redis that lost its data. Killed when the test process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '../helpers/net.js';

export interface OwnRedis {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Stops the server (SIGKILL: an abrupt outage) and waits for it to be gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  running(): boolean;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on ${port} did not start:\n${output}`)), 10_000);
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${port} exited with ${code}:\n${output}`));
      });
    });
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async stop() {
      const proc = child;
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
