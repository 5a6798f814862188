/**
 * A real, throwaway S3 server for tests: s3rver on a free local port, storing in a temp
 * directory, with one fresh bucket. Tests talk to it through the real AWS SDK.
 *
 * s3rver's limits, worth knowing when a test fails strangely:
 *  - a listing is in its directory-walk order ('a/b' before 'a-b'), not S3's key order;
 *  - a ListObjectsV2 response with more than one page answers 500 in-process: its
 *    continuation tokens use single DES, which OpenSSL 3 only has in the legacy provider.
 *    `startS3ServerProcess` runs s3rver in a child Node with that provider enabled;
 *  - keys ending in '/' cannot be written.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import S3rver from 's3rver';

export interface TestS3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Closes the server (dropping open connections) and removes its data. Safe to call twice. */
  stop(): Promise<void>;
}

const CREDENTIALS = { region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

async function freshBucket(): Promise<{ directory: string; bucket: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'btfhub-s3rver-'));
  return { directory, bucket: `btfhub-test-${randomBytes(6).toString('hex')}` };
}

/** s3rver in this process: starts in milliseconds; listings of up to 1000 keys. */
/** The settings that point btfhub at `s3` (what a deployment's processes are given). */
export function s3ServiceEnv(s3: TestS3Server): Record<string, string> {
  return {
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

export async function startS3Server(): Promise<TestS3Server> {
  const { directory, bucket } = await freshBucket();
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    ...CREDENTIALS,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Keep-alive sockets of SDK clients would otherwise hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Runs in the child: starts s3rver, reports its port, and exits when the parent goes away. */
const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then((address) => console.log(JSON.stringify({ port: address.port })));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

/**
 * s3rver in a child Node with OpenSSL's legacy provider, so ListObjectsV2 can page (see the
 * module comment). Slower to start; use it when a test needs more than one page.
 */
export async function startS3ServerProcess(): Promise<TestS3Server> {
  const { directory, bucket } = await freshBucket();
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SCRIPT, s3rverPath, directory, bucket], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver child exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    ...CREDENTIALS,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.stdin.end(); // the child exits when its stdin closes
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
