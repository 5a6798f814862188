import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { S3_TEMP_KEY_MIN_AGE_MS, sweepStore } from '../../src/service/data-dir.js';
import { createObjectStore } from '../../src/storage/index.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../../src/storage/s3-store.js';
import { startS3Server, startS3ServerProcess, type TestS3Server } from '../helpers/s3.js';
import { collect, listKeys, objectStoreContract, rejectsWithCode, type TapTest } from './contract.js';

const bytes = (text: string) => new TextEncoder().encode(text);

function storeOptions(server: TestS3Server, extra: Partial<S3ObjectStoreOptions> = {}): S3ObjectStoreOptions {
  return {
    endpoint: server.endpoint,
    region: server.region,
    bucket: server.bucket,
    forcePathStyle: true,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    ...extra,
  };
}

async function serverFor(t: TapTest): Promise<TestS3Server> {
  const server = await startS3Server();
  t.teardown(() => server.stop());
  return server;
}

/** A TCP port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

t.test('contract, whole bucket (one server per store)', async (t) => {
  objectStoreContract(t, async (t) => new S3ObjectStore(storeOptions(await serverFor(t))));
});

t.test('contract, under a key prefix (one shared bucket)', async (t) => {
  const server = await serverFor(t);
  objectStoreContract(
    t,
    async () => new S3ObjectStore(storeOptions(server, { prefix: `/deployments/${randomBytes(4).toString('hex')}/` })),
  );
});

t.test('prefixes isolate stores sharing a bucket', async (t) => {
  const server = await serverFor(t);
  const whole = new S3ObjectStore(storeOptions(server));
  const blue = new S3ObjectStore(storeOptions(server, { prefix: 'blue' }));
  const green = new S3ObjectStore(storeOptions(server, { prefix: 'green/' }));
  t.teardown(async () => {
    await Promise.all([whole.close(), blue.close(), green.close()]);
  });
  t.equal(blue.description, `s3://${server.bucket}/blue/`);
  t.equal(whole.description, `s3://${server.bucket}/`);

  await blue.put('trimmed/a.btf', bytes('blue'));
  await green.put('trimmed/a.btf', bytes('green'));
  t.same(await blue.get('trimmed/a.btf'), bytes('blue'));
  t.same(await green.get('trimmed/a.btf'), bytes('green'));
  t.same(await listKeys(blue), ['trimmed/a.btf'], 'keys are listed relative to the prefix');
  t.same(await listKeys(whole), ['blue/trimmed/a.btf', 'green/trimmed/a.btf']);
  await blue.delete('trimmed/a.btf');
  t.same(await listKeys(whole), ['green/trimmed/a.btf'], 'delete stays inside the prefix');
  t.throws(() => new S3ObjectStore(storeOptions(server, { prefix: 'a/../b' })), { code: 'INVALID_KEY' });
});

t.test('list pages through ListObjectsV2', async (t) => {
  const server = await startS3ServerProcess();
  t.teardown(() => server.stop());
  const store = new S3ObjectStore(storeOptions(server, { listPageSize: 2 }));
  t.teardown(() => store.close());
  const keys = ['k/1', 'k/2', 'k/3', 'k/4', 'k/5'];
  for (const key of keys) await store.put(key, bytes(key));
  t.same(await listKeys(store), keys, 'every page, in order');
  t.same(await listKeys(store, 'k/3'), ['k/3']);
});

t.test('objects other tools wrote with unaddressable keys are skipped', async (t) => {
  const server = await serverFor(t);
  const store = new S3ObjectStore(storeOptions(server));
  const raw = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  t.teardown(async () => {
    raw.destroy();
    await store.close();
  });
  for (const key of ['back\\slash', `${'long/'.repeat(205)}key`, 'ok/key']) {
    await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'x' }));
  }
  t.same(await listKeys(store), ['ok/key']);
});

t.test('a missing bucket', async (t) => {
  const server = await serverFor(t);
  const store = new S3ObjectStore(storeOptions(server, { bucket: 'no-such-bucket' }));
  t.teardown(() => store.close());
  await rejectsWithCode(t, store.check(), 'NOT_FOUND');
  await rejectsWithCode(t, store.get('a'), 'UNAVAILABLE', 'get names NoSuchBucket, which is no missing key');
  await rejectsWithCode(t, store.put('a', bytes('x')), 'UNAVAILABLE');
  await rejectsWithCode(t, collect(store.list()), 'UNAVAILABLE');
});

t.test('an unreachable endpoint fails fast with UNAVAILABLE', async (t) => {
  const port = await closedPort();
  const store = new S3ObjectStore({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    bucket: 'btfhub-unreachable',
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    maxAttempts: 1,
    connectTimeoutMs: 1000,
  });
  t.teardown(() => store.close());
  const started = Date.now();
  const error = await store.check().catch((caught: unknown) => caught);
  t.match(error, { name: 'StorageError', code: 'UNAVAILABLE', message: /ECONNREFUSED/ });
  t.ok((error as Error).cause instanceof Error, 'keeps the SDK error as the cause');
  t.ok(Date.now() - started < 5000, `rejected in ${Date.now() - started} ms`);
  await rejectsWithCode(t, store.get('a'), 'UNAVAILABLE');
  await rejectsWithCode(t, store.head('a'), 'UNAVAILABLE');
  await rejectsWithCode(t, store.put('a', bytes('x')), 'UNAVAILABLE');
  await rejectsWithCode(t, store.delete('a'), 'UNAVAILABLE');
  await rejectsWithCode(t, collect(store.list('a/')), 'UNAVAILABLE');
});

t.test('createObjectStore picks S3 from the configuration', async (t) => {
  const server = await serverFor(t);
  const store = createObjectStore({
    storage: {
      kind: 's3',
      bucket: server.bucket,
      endpoint: server.endpoint,
      region: server.region,
      prefix: 'cfg',
      forcePathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    },
  });
  t.teardown(() => store.close());
  t.ok(store instanceof S3ObjectStore);
  t.equal(store.description, `s3://${server.bucket}/cfg/`);
  await store.check();
  await store.put('x', bytes('y'));
  t.same(await store.get('x'), bytes('y'));
});

t.test('a start sweeps temporary keys of killed puts, only those old enough, only under its prefix', async (t) => {
  const server = await serverFor(t);
  const store = new S3ObjectStore(storeOptions(server, { prefix: 'deploy' }));
  const raw = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  t.teardown(async () => {
    raw.destroy();
    await store.close();
  });
  const config = {
    storage: {
      kind: 's3' as const,
      bucket: server.bucket,
      endpoint: server.endpoint,
      region: server.region,
      prefix: 'deploy',
      forcePathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    },
  };
  await store.put('trimmed/a.btf', bytes('kept'));
  // What a put killed between its PutObject and its DeleteObject leaves (s3-store.ts putVia).
  const killed = ['deploy/trimmed/.btfhub-tmp-0123abcd', 'deploy/.btfhub-tmp-4567ef', 'deploy/objects/x/.btfhub-tmp-89'];
  for (const key of killed) await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'half an upload' }));
  await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'other/trimmed/.btfhub-tmp-feed', Body: 'another deployment' }));
  const rawKeys = async () => {
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: server.bucket }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  };

  // Just written: another replica may be in the middle of this put. Left alone.
  t.same(await sweepStore(config, store), { files: 0, bytes: 0 }, 'fresh temporary keys are not removed');
  t.equal((await rawKeys()).filter((key) => key.includes('.btfhub-tmp-')).length, 4);

  const later = Date.now() + S3_TEMP_KEY_MIN_AGE_MS + 60_000;
  t.same(await sweepStore(config, store, later), { files: 3, bytes: 3 * 'half an upload'.length }, 'old ones are removed');
  t.same(
    await rawKeys(),
    ['deploy/trimmed/a.btf', 'other/trimmed/.btfhub-tmp-feed'].sort(),
    'every old temporary key under the prefix is gone; the object and another prefix are untouched',
  );
  t.same(await store.get('trimmed/a.btf'), bytes('kept'));
  t.same(await sweepStore(config, store, later), { files: 0, bytes: 0 }, 'a second sweep finds nothing');
  t.equal(await sweepStore({ storage: config.storage }), null, 'without the store, nothing to sweep');
});
