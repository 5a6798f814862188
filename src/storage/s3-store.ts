/**
 * ObjectStore over an S3 bucket (AWS or any S3-compatible server: MinIO, Ceph, s3rver).
 *
 * put is atomic on every server, not only on those that are: the data goes to a temporary
 * key beside the target (`<dir>/.btfhub-tmp-<random>`, with Content-MD5 so a server that
 * checks rejects a damaged body), is copied server-side onto the key (CopyObject: whole or
 * not at all), and the temporary key is deleted. AWS S3 and MinIO never keep a PutObject
 * whose body was cut short, but some S3-compatible servers (s3rver, for one) write the body
 * to the key as it streams in, so a connection lost mid-upload would leave half an object
 * where readers look. The temporary key sits in the target's "directory": servers that keep
 * objects as files and prune empty directories (s3rver) would otherwise race one put's
 * mkdir against another's cleanup in a shared temporary directory. Temporary keys are hidden
 * from `list` and cannot be written as keys; one left behind by a killed process is garbage,
 * removed at start by `sweepTemporaryKeys` once it is older than any put could still be running.
 *
 * Checksums are only computed when an operation requires them: recent SDKs add CRC32
 * trailers by default, which several S3-compatible servers reject.
 *
 * Every SDK failure other than "no such key" becomes StorageError('UNAVAILABLE') with the
 * SDK error as its cause, so callers handle one error type whatever the backend.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';
import { StorageError } from './errors.js';
import { assertValidKey, assertValidPrefix, compareKeys } from './keys.js';
import type { ObjectInfo, ObjectStore, SweepSummary } from './object-store.js';

export interface S3ObjectStoreOptions {
  /** Custom endpoint URL (MinIO, s3rver...); the AWS endpoint of `region` when unset. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket, so one bucket can serve several deployments. */
  prefix?: string;
  /** Address the bucket in the path (http://host/bucket/key), as most S3-compatible servers need. */
  forcePathStyle: boolean;
  /** Static credentials; when unset the SDK's default chain applies (env, profile, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Attempts per request, the first included. SDK default: 3. */
  maxAttempts?: number;
  /** How long opening a connection may take, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** How long a connection may sit idle mid-request, ms. Default 60000. */
  idleTimeoutMs?: number;
  /** Keys per ListObjectsV2 request (S3 caps it at 1000, the default). */
  listPageSize?: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly sdk = awsSdk();
  private readonly client: S3Sdk.S3Client;
  private readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  private readonly keyPrefix: string;
  private readonly listPageSize: number | undefined;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.keyPrefix = normalizePrefix(options.prefix ?? '');
    this.description = `s3://${this.bucket}/${this.keyPrefix}`;
    this.listPageSize = options.listPageSize;
    const config: S3Sdk.S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        socketTimeout: options.idleTimeoutMs ?? 60_000,
      },
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
    if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
      config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
    }
    this.client = new this.sdk.S3Client(config);
  }

  async get(key: string): Promise<Uint8Array | null> {
    assertValidKey(key);
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
      if (response.Body === undefined) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (isMissingObject(error)) return null;
      throw this.unavailable(`get ${key}`, error);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const response = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
      return withModified({ key, size: response.ContentLength ?? 0 }, response.LastModified);
    } catch (error) {
      if (isMissingObject(error)) return null;
      throw this.unavailable(`head ${key}`, error);
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.putVia(key, { Body: data, ContentLength: data.byteLength, ContentMD5: createHash('md5').update(data).digest('base64') });
  }

  /** The file streamed as the body, with its MD5 (one more read of it) so a damaged upload is refused. */
  async putFile(key: string, path: string): Promise<void> {
    const size = (await stat(path)).size;
    const md5 = createHash('md5');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) md5.update(chunk as Buffer);
    await this.putVia(key, {
      Body: createReadStream(path, { highWaterMark: 1 << 20 }),
      ContentLength: size,
      ContentMD5: md5.digest('base64'),
    });
  }

  async getFile(key: string, path: string): Promise<boolean> {
    assertValidKey(key);
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
      const body = response.Body as Readable | undefined;
      await pipeline(body ?? Readable.from([]), createWriteStream(path, { flags: 'wx' }));
      return true;
    } catch (error) {
      if (isMissingObject(error)) return false;
      await rm(path, { force: true });
      throw this.unavailable(`get ${key}`, error);
    }
  }

  private async putVia(key: string, body: { Body: Uint8Array | Readable; ContentLength: number; ContentMD5: string }): Promise<void> {
    assertValidKey(key);
    if (isTemporaryKey(key)) {
      throw new StorageError('INVALID_KEY', `invalid object key ${JSON.stringify(key)}: "${TEMP_MARK}" is reserved`);
    }
    const slash = key.lastIndexOf('/');
    const temporary = `${this.keyPrefix}${key.slice(0, slash + 1)}${TEMP_MARK}${randomBytes(12).toString('hex')}`;
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: temporary,
          ...body,
          ContentType: 'application/octet-stream',
        }),
      );
      await this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.keyPrefix + key,
          CopySource: `${this.bucket}/${temporary.split('/').map(encodeURIComponent).join('/')}`,
          ContentType: 'application/octet-stream',
          MetadataDirective: 'REPLACE',
        }),
      );
    } catch (error) {
      await this.removeTemporary(temporary);
      throw this.unavailable(`put ${key}`, error);
    }
    await this.removeTemporary(temporary);
  }

  /** Best effort: a temporary key left behind is never read, only listed by nobody. */
  private async removeTemporary(temporary: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: temporary }));
    } catch {
      // The store is failing (that is why we are here) or went away since: leave it.
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      // S3 answers 204 whether or not the key existed.
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
    } catch (error) {
      if (isMissingObject(error)) return;
      throw this.unavailable(`delete ${key}`, error);
    }
  }

  /**
   * S3 lists in UTF-8 byte order, which is the key order the interface promises. Each page is
   * sorted again anyway: some S3-compatible servers (s3rver) return a page in their own
   * directory-walk order, and sorting an already sorted page costs next to nothing.
   */
  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    let continuationToken: string | undefined;
    do {
      let response;
      try {
        response = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            ContinuationToken: continuationToken,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (error) {
        throw this.unavailable(`list ${prefix}`, error);
      }
      const page: ObjectInfo[] = [];
      for (const object of response.Contents ?? []) {
        if (object.Key === undefined) continue;
        const key = object.Key.slice(this.keyPrefix.length);
        // Objects written by other tools (folder markers "a/", "a//b") are not addressable here.
        if (!isValidKey(key) || isTemporaryKey(key)) continue;
        page.push(withModified({ key, size: object.Size ?? 0 }, object.LastModified));
      }
      yield* page.sort((a, b) => compareKeys(a.key, b.key));
      continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  /**
   * Removes the temporary keys of puts that never finished (a process killed between its
   * PutObject and its DeleteObject) under this store's prefix. Other replicas may be writing
   * right now, and their temporary keys look the same: only keys last modified at least
   * `minAgeMs` before `now` are removed, an age no put lives to. Never throws for one key it
   * cannot remove; a listing that fails throws StorageError('UNAVAILABLE').
   */
  async sweepTemporaryKeys(options: { minAgeMs: number; now?: number }): Promise<SweepSummary> {
    const now = options.now ?? Date.now();
    const summary: SweepSummary = { files: 0, bytes: 0 };
    let continuationToken: string | undefined;
    do {
      let response;
      try {
        response = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix,
            ContinuationToken: continuationToken,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (error) {
        throw this.unavailable('sweep temporary keys', error);
      }
      for (const object of response.Contents ?? []) {
        if (object.Key === undefined || !isTemporaryKey(object.Key.slice(this.keyPrefix.length))) continue;
        // A key without a modification time cannot be proved old: left alone.
        const modified = object.LastModified?.getTime();
        if (modified === undefined || now - modified < options.minAgeMs) continue;
        try {
          await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: object.Key }));
          summary.files++;
          summary.bytes += object.Size ?? 0;
        } catch {
          // Removed by another replica's sweep meanwhile, or the store is failing: the next start retries.
        }
      }
      continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
    return summary;
  }

  /** HeadBucket: proves the endpoint answers, the credentials work and the bucket exists. */
  async check(): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (httpStatus(error) === 404) {
        throw new StorageError('NOT_FOUND', `${this.description}: bucket does not exist`, { cause: error });
      }
      throw this.unavailable('check', error);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private unavailable(operation: string, cause: unknown): StorageError {
    return new StorageError('UNAVAILABLE', `${this.description}: ${operation}: ${describe(cause)}`, { cause });
  }
}

/** Names of the keys puts write before the copy onto their key. */
const TEMP_MARK = '.btfhub-tmp-';

let loadedSdk: typeof S3Sdk | undefined;

/**
 * The AWS SDK, loaded when the first S3 store is made rather than when this module is: it
 * holds ~25 MB of a process's RSS that a deployment on the filesystem store never uses, and
 * `serve` imports this module either way. Its CommonJS build, through require: synchronous,
 * so a store is still made by its constructor.
 */
function awsSdk(): typeof S3Sdk {
  loadedSdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof S3Sdk;
  return loadedSdk;
}

function isTemporaryKey(key: string): boolean {
  return key.slice(key.lastIndexOf('/') + 1).startsWith(TEMP_MARK);
}

/** Strips surrounding '/' and adds one trailing '/', so keys join without doubled separators. */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  assertValidKey(trimmed);
  return `${trimmed}/`;
}

function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

function withModified(info: ObjectInfo, modified: Date | undefined): ObjectInfo {
  return modified === undefined ? info : { ...info, modified };
}

function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata as { httpStatusCode?: number } | undefined;
  return metadata?.httpStatusCode;
}

/** NoSuchKey (GET) or a bare 404 (HEAD has no body to name the error), but not a missing bucket. */
function isMissingObject(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'NoSuchBucket') return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || httpStatus(error) === 404;
}

/** Network errors from Node can have an empty message (an AggregateError of refused addresses). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && (typeof error.code === 'string' || typeof error.code === 'number') ? String(error.code) : undefined;
  const parts = [error.name, code, error.message].filter((part) => part !== undefined && part !== '');
  if (error instanceof AggregateError && error.errors.length > 0) parts.push(describe(error.errors[0]));
  return parts.join(': ');
}
