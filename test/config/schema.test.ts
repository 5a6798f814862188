import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { DEFAULT_CODEC_LIMITS } from '../../src/btf/limits.js';
import {
  CONFIG_ENV_VARS,
  ConfigError,
  loadConfig,
  redactConfig,
  redactUrl,
  unknownBtfhubVariables,
  type Config,
} from '../../src/config/schema.js';
import { defaultCodecThreads } from '../../src/config/default-threads.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** The ConfigError thrown by loadConfig, or a failed assertion. */
function configError(t: TapTest, ...args: Parameters<typeof loadConfig>): ConfigError {
  try {
    loadConfig(...args);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  t.fail('expected a ConfigError');
  throw new Error('unreachable');
}

t.test('codec threads, codec limits, allowed origins', async (t) => {
  const config = loadConfig({
    BTFHUB_CODEC_THREADS: '0',
    BTFHUB_MAX_RELOCATIONS: '1000',
    BTFHUB_MAX_TYPES: '5000',
    BTFHUB_ALLOWED_ORIGINS: 'https://ci.example.com, http://localhost:3000/',
  });
  t.equal(config.codecThreads, 0);
  t.match(config.codecLimits, { maxRelocations: 1000, maxTypes: 5000, maxSections: DEFAULT_CODEC_LIMITS.maxSections });
  t.same(config.allowedOrigins, ['https://ci.example.com', 'http://localhost:3000']);
  for (const bad of ['ci.example.com', 'https://ci.example.com/path', 'ftp://x.example', '*']) {
    t.match(configError(t, { BTFHUB_ALLOWED_ORIGINS: bad }).issues, [{ variable: 'BTFHUB_ALLOWED_ORIGINS' }], bad);
  }
  t.match(configError(t, { BTFHUB_CODEC_THREAD_HEAP_MB: '8' }).issues, [{ variable: 'BTFHUB_CODEC_THREAD_HEAP_MB' }]);
});

t.test('codec threads by default: one core left to the event loop, at most two', async (t) => {
  t.same(
    [1, 2, 3, 4, 64].map((cores) => defaultCodecThreads(cores)),
    [1, 1, 2, 2, 2],
  );
});

t.test('defaults', async (t) => {
  const config = loadConfig({});
  const dataDir = resolve('./data');
  t.same(config, {
    host: '127.0.0.1',
    port: 8080,
    dataDir,
    storage: { kind: 'fs', root: join(dataDir, 'objects') },
    database: { kind: 'sqlite', path: join(dataDir, 'catalog.sqlite') },
    queue: { kind: 'inline' },
    requestWaitMs: 10_000,
    workerConcurrency: 2,
    kernelCacheBytes: 268_435_456,
    maxFileBytes: 67_108_864,
    maxFiles: 16,
    jobTimeoutMs: 120_000,
    registerHostKernel: true,
    unpackAtImport: true,
    logLevel: 'info',
    maxRequestBytes: 134_217_728,
    maxFieldBytes: 1024,
    maxDecompressedBytes: 268_435_456,
    maxUploadBytesInFlight: 536_870_912,
    requestTimeoutMs: 60_000,
    shutdownGraceMs: 25_000,
    rateLimit: { max: 600, windowMs: 60_000 },
    trustProxy: false,
    trimCacheBytes: 67_108_864,
    syncIntervalMs: 0,
    generate: {
      mode: 'off',
      repositories: {},
      retryMs: 21_600_000,
      timeoutMs: 1_800_000,
      concurrency: 1,
      memoryBytes: 8 * 1024 ** 3,
      maxPackageBytes: 4 * 1024 ** 3,
    },
    compatWaitMs: 60_000,
    codecThreads: defaultCodecThreads(availableParallelism()),
    codecThreadHeapMb: 1024,
    codecTaskTimeoutMs: 30_000,
    codecLimits: { ...DEFAULT_CODEC_LIMITS },
    refusedObjectsTtlMs: 3_600_000,
    allowedOrigins: [],
  } satisfies Config);
  t.equal(config.archiveDir, undefined);
  t.equal(config.adminToken, undefined);
});

t.test('every scalar variable is read', async (t) => {
  const config = loadConfig({
    BTFHUB_HOST: '0.0.0.0',
    BTFHUB_PORT: '9000',
    BTFHUB_DATA_DIR: '/var/lib/btfhub',
    BTFHUB_ARCHIVE_DIR: 'archive',
    BTFHUB_REQUEST_WAIT_MS: '0',
    BTFHUB_WORKER_CONCURRENCY: '8',
    BTFHUB_KERNEL_CACHE_BYTES: '0',
    BTFHUB_MAX_FILE_BYTES: '1048576',
    BTFHUB_MAX_FILES: '4',
    BTFHUB_JOB_TIMEOUT_MS: '5000',
    BTFHUB_ADMIN_TOKEN: 'let-me-in-please-now',
    BTFHUB_REGISTER_HOST_KERNEL: 'no',
    BTFHUB_UNPACK_AT_IMPORT: 'false',
    LOG_LEVEL: 'DEBUG',
  });
  t.equal(config.host, '0.0.0.0');
  t.equal(config.port, 9000);
  t.equal(config.dataDir, '/var/lib/btfhub');
  t.equal(config.archiveDir, resolve('archive'), 'relative paths resolve against the current directory');
  t.same(config.storage, { kind: 'fs', root: '/var/lib/btfhub/objects' });
  t.same(config.database, { kind: 'sqlite', path: '/var/lib/btfhub/catalog.sqlite' });
  t.equal(config.requestWaitMs, 0);
  t.equal(config.workerConcurrency, 8);
  t.equal(config.kernelCacheBytes, 0);
  t.equal(config.maxFileBytes, 1_048_576);
  t.equal(config.maxFiles, 4);
  t.equal(config.jobTimeoutMs, 5000);
  t.equal(config.adminToken, 'let-me-in-please-now');
  t.equal(config.registerHostKernel, false);
  t.equal(config.unpackAtImport, false);
  t.equal(config.logLevel, 'debug', 'log levels are case-insensitive');
});

t.test('booleans', async (t) => {
  for (const [raw, value] of [
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['No', false],
  ] as const) {
    t.equal(loadConfig({ BTFHUB_REGISTER_HOST_KERNEL: raw }).registerHostKernel, value, raw);
  }
});

t.test('empty and blank values mean unset; values are trimmed', async (t) => {
  const config = loadConfig({ BTFHUB_PORT: '', S3_BUCKET: '   ', REDIS_URL: '', LOG_LEVEL: ' warn ' });
  t.equal(config.port, 8080);
  t.equal(config.storage.kind, 'fs');
  t.equal(config.queue.kind, 'inline');
  t.equal(config.logLevel, 'warn');
});

t.test('storage: S3', async (t) => {
  const minimal = loadConfig({ S3_BUCKET: 'btfhub' });
  t.same(minimal.storage, { kind: 's3', bucket: 'btfhub', region: 'us-east-1', prefix: '', forcePathStyle: false });
  const full = loadConfig({
    S3_BUCKET: 'btfhub.archive-1',
    S3_ENDPOINT: 'http://minio:9000',
    S3_REGION: 'eu-west-3',
    S3_PREFIX: '/prod/btf/',
    S3_FORCE_PATH_STYLE: 'yes',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
  });
  t.same(full.storage, {
    kind: 's3',
    bucket: 'btfhub.archive-1',
    endpoint: 'http://minio:9000',
    region: 'eu-west-3',
    prefix: 'prod/btf',
    forcePathStyle: true,
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI',
  });
  t.equal(full.database.kind, 'sqlite', 'S3 storage keeps the SQLite catalog in the data directory');
});

t.test('database: sqlite and postgres', async (t) => {
  t.same(loadConfig({ DATABASE_URL: 'sqlite:/srv/catalog.db' }).database, { kind: 'sqlite', path: '/srv/catalog.db' });
  t.same(loadConfig({ DATABASE_URL: 'sqlite:rel/catalog.db' }).database, { kind: 'sqlite', path: resolve('rel/catalog.db') });
  t.same(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).database, { kind: 'sqlite', path: ':memory:' });
  for (const url of ['postgres://btfhub:secret@db:5432/btfhub', 'postgresql://localhost/btfhub?sslmode=disable']) {
    t.same(loadConfig({ DATABASE_URL: url }).database, { kind: 'postgres', url });
  }
});

t.test('queue: inline and redis', async (t) => {
  t.same(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).queue, {
    kind: 'redis',
    url: 'redis://127.0.0.1:6379',
    prefix: 'btfhub',
  });
  t.same(loadConfig({ REDIS_URL: 'rediss://cache:6380/2', BTFHUB_QUEUE_PREFIX: 'btfhub-test:1' }).queue, {
    kind: 'redis',
    url: 'rediss://cache:6380/2',
    prefix: 'btfhub-test:1',
  });
  t.same(loadConfig({ BTFHUB_QUEUE_PREFIX: 'other' }).queue, { kind: 'inline' }, 'a prefix alone does not select Redis');
});

t.test('overrides (CLI flags) win over the environment', async (t) => {
  const config = loadConfig({ BTFHUB_PORT: '8081', LOG_LEVEL: 'warn' }, { BTFHUB_PORT: '9000', S3_BUCKET: undefined });
  t.equal(config.port, 9000);
  t.equal(config.logLevel, 'warn', 'variables without an override keep their value');
  const error = configError(t, {}, { BTFHUB_PORT: 'x' });
  t.equal(error.issues[0]?.variable, 'BTFHUB_PORT', 'overrides are validated like variables');
  const unknown = configError(t, {}, { BTFHUB_PROT: '9000' } as never);
  t.same(unknown.issues, [{ variable: 'BTFHUB_PROT', message: 'unknown configuration variable' }]);
});

t.test('the result is deeply frozen', async (t) => {
  const config = loadConfig({ S3_BUCKET: 'btfhub' });
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.storage));
  t.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

t.test('every bad variable is named, with the reason and the value', async (t) => {
  const bad: Record<string, { value: string; message: RegExp }> = {
    BTFHUB_HOST: { value: 'two words', message: /expected a host name or IP address, got "two words"/ },
    BTFHUB_PORT: { value: 'abc', message: /^expected an integer between 1 and 65535, got "abc"$/ },
    DATABASE_URL: { value: 'mysql://db/btfhub', message: /expected a postgres:\/\/ or postgresql:\/\/ URL, or sqlite:PATH/ },
    REDIS_URL: { value: 'http://cache', message: /expected a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/cache\/?"/ },
    BTFHUB_QUEUE_PREFIX: { value: 'has space', message: /expected up to 64 letters/ },
    S3_BUCKET: { value: 'Upper_Case', message: /expected a bucket name/ },
    S3_REGION: { value: 'US East', message: /expected a region name/ },
    S3_PREFIX: { value: 'a/../b', message: /without empty, '\.' or '\.\.' segments/ },
    S3_FORCE_PATH_STYLE: { value: 'maybe', message: /expected one of true, false, 1, 0, yes, no, got "maybe"/ },
    BTFHUB_REQUEST_WAIT_MS: { value: '1e3', message: /expected an integer between 0 and 3600000, got "1e3"/ },
    BTFHUB_WORKER_CONCURRENCY: { value: '0', message: /between 1 and 256, got "0"/ },
    BTFHUB_KERNEL_CACHE_BYTES: { value: '-1', message: /expected an integer of at least 0, got "-1"/ },
    BTFHUB_MAX_FILE_BYTES: { value: '99999999999999999999', message: /expected an integer of at least 1/ },
    BTFHUB_MAX_FILES: { value: '2.5', message: /between 1 and 1024/ },
    BTFHUB_JOB_TIMEOUT_MS: { value: '0x10', message: /between 1 and 86400000/ },
    BTFHUB_REGISTER_HOST_KERNEL: { value: 'on', message: /expected one of true, false/ },
    LOG_LEVEL: { value: 'verbose', message: /expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"/ },
    BTFHUB_GENERATE: { value: 'always', message: /expected off or on-miss/ },
    BTFHUB_GENERATE_REPOSITORIES: { value: '[1]', message: /expected a JSON object from distro name to a list of repository objects/ },
    BTFHUB_MAX_PACKAGE_BYTES: { value: '0', message: /expected an integer of at least 1/ },
  };
  // One bad variable at a time: each message stands on its own.
  for (const [variable, { value, message }] of Object.entries(bad)) {
    const env = { [variable]: value, ...(variable.startsWith('S3_') && variable !== 'S3_BUCKET' && { S3_BUCKET: 'btfhub' }) };
    const error = configError(t, env);
    t.same(
      error.issues.map((issue) => issue.variable),
      [variable],
      `${variable} alone is reported`,
    );
    t.match(error.issues[0]?.message, message, variable);
    t.match(error.message, `${variable}: `, 'the message names it');
  }
  // All at once: one error lists them all, in CONFIG_ENV_VARS order.
  const env = Object.fromEntries(Object.entries(bad).map(([name, { value }]) => [name, value]));
  const error = configError(t, env);
  t.same(
    error.issues.map((issue) => issue.variable),
    CONFIG_ENV_VARS.filter((name) => name in bad),
    'every bad variable in one error',
  );
  t.equal(error.name, 'ConfigError');
  t.match(error.message, /^invalid configuration:\n {2}BTFHUB_HOST: /);
  t.equal(error.message.split('\n').length, Object.keys(bad).length + 1, 'one line per variable');
});

t.test('rules across variables', async (t) => {
  t.same(configError(t, { S3_ENDPOINT: 'http://minio:9000' }).issues, [
    { variable: 'S3_BUCKET', message: 'required when S3_ENDPOINT is set' },
  ]);
  t.same(configError(t, { S3_PREFIX: 'prod' }).issues, [{ variable: 'S3_BUCKET', message: 'required when S3_PREFIX is set' }]);
  t.same(configError(t, { S3_BUCKET: 'btfhub', AWS_ACCESS_KEY_ID: 'AK' }).issues, [
    { variable: 'AWS_SECRET_ACCESS_KEY', message: 'required when AWS_ACCESS_KEY_ID is set' },
  ]);
  t.same(configError(t, { S3_BUCKET: 'btfhub', AWS_SECRET_ACCESS_KEY: 'SK' }).issues, [
    { variable: 'AWS_ACCESS_KEY_ID', message: 'required when AWS_SECRET_ACCESS_KEY is set' },
  ]);
  t.equal(loadConfig({ AWS_ACCESS_KEY_ID: 'AK' }).storage.kind, 'fs', 'AWS variables alone do not matter without S3');
  const both = configError(t, { BTFHUB_PORT: '0', S3_ENDPOINT: 'http://minio' });
  t.same(
    both.issues.map((issue) => issue.variable),
    ['BTFHUB_PORT', 'S3_BUCKET'],
    'reported together with single-variable errors',
  );
});

t.test('errors never echo secrets', async (t) => {
  const error = configError(t, {
    DATABASE_URL: 'mysql://admin:hunter2@db/btfhub',
    REDIS_URL: 'http://:hunter3@cache',
    S3_ENDPOINT: 'ftp://key:hunter4@s3',
    S3_BUCKET: 'btfhub',
  });
  t.notMatch(error.message, /hunter/);
  t.match(error.message, /DATABASE_URL: .*got "mysql:\/\/admin:\*\*\*@db\/btfhub"/);
  const unparseable = configError(t, { DATABASE_URL: 'postgres//admin:hunter2@db' });
  t.match(unparseable.message, /got a value that is not a URL/);
  t.notMatch(unparseable.message, /hunter/);
});

t.test('redactConfig hides secrets and URL passwords', async (t) => {
  const config = loadConfig({
    DATABASE_URL: 'postgres://btfhub:pg-secret@db:5432/btfhub?sslmode=require&password=pg-secret-2',
    REDIS_URL: 'redis://:redis-secret@cache:6379/0',
    S3_BUCKET: 'btfhub',
    S3_ENDPOINT: 'http://minio:9000',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 's3-secret',
    BTFHUB_ADMIN_TOKEN: 'admin-secret-0123456789',
  });
  const redacted = redactConfig(config);
  const text = JSON.stringify(redacted);
  for (const secret of ['pg-secret', 'redis-secret', 'AKIAEXAMPLE', 's3-secret', 'admin-secret']) {
    t.notOk(text.includes(secret), `${secret} is hidden`);
  }
  t.same(redacted.database, {
    kind: 'postgres',
    url: 'postgres://btfhub:***@db:5432/btfhub?sslmode=require&password=***',
  });
  t.same(redacted.queue, { kind: 'redis', url: 'redis://:***@cache:6379/0', prefix: 'btfhub' });
  t.match(redacted.storage, { kind: 's3', endpoint: 'http://minio:9000', accessKeyId: '***', secretAccessKey: '***' });
  t.equal(redacted.adminToken, '***');
  t.equal(redacted.port, config.port, 'everything else is kept');
  t.equal(config.adminToken, 'admin-secret-0123456789', 'the original is untouched');
  t.ok(Object.isFrozen(redacted.database));

  const plain = redactConfig(loadConfig({}));
  t.same(plain, loadConfig({}), 'nothing to hide, nothing changed');
  t.equal(redactConfig(loadConfig({ S3_BUCKET: 'btfhub' })).storage.kind, 's3');
});

t.test('redactUrl', async (t) => {
  t.equal(redactUrl('postgres://user:pw@host/db'), 'postgres://user:***@host/db');
  t.equal(redactUrl('postgres://user@host/db'), 'postgres://user@host/db', 'no password, unchanged');
  t.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  t.equal(redactUrl('not a url with pw'), '***', 'unparseable: nothing shown');
});

t.test('CONFIG_ENV_VARS lists every variable the schema reads', async (t) => {
  const documented = [
    'BTFHUB_HOST',
    'BTFHUB_PORT',
    'BTFHUB_DATA_DIR',
    'BTFHUB_ARCHIVE_DIR',
    'DATABASE_URL',
    'REDIS_URL',
    'BTFHUB_QUEUE_PREFIX',
    'S3_BUCKET',
    'S3_ENDPOINT',
    'S3_REGION',
    'S3_PREFIX',
    'S3_FORCE_PATH_STYLE',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'BTFHUB_REQUEST_WAIT_MS',
    'BTFHUB_WORKER_CONCURRENCY',
    'BTFHUB_KERNEL_CACHE_BYTES',
    'BTFHUB_MAX_FILE_BYTES',
    'BTFHUB_MAX_FILES',
    'BTFHUB_JOB_TIMEOUT_MS',
    'BTFHUB_ADMIN_TOKEN',
    'BTFHUB_REGISTER_HOST_KERNEL',
    'BTFHUB_UNPACK_AT_IMPORT',
    'LOG_LEVEL',
    'BTFHUB_MAX_REQUEST_BYTES',
    'BTFHUB_MAX_FIELD_BYTES',
    'BTFHUB_MAX_DECOMPRESSED_BYTES',
    'BTFHUB_MAX_UPLOAD_BYTES_IN_FLIGHT',
    'BTFHUB_REQUEST_TIMEOUT_MS',
    'BTFHUB_SHUTDOWN_GRACE_MS',
    'BTFHUB_RATE_LIMIT_MAX',
    'BTFHUB_RATE_LIMIT_WINDOW_MS',
    'BTFHUB_TRUST_PROXY',
    'BTFHUB_TRIM_CACHE_BYTES',
    'BTFHUB_SYNC_SOURCE',
    'BTFHUB_SYNC_INTERVAL_MS',
    'BTFHUB_GENERATE',
    'BTFHUB_GENERATE_REPOSITORIES',
    'BTFHUB_GENERATE_RETRY_MS',
    'BTFHUB_GENERATE_TIMEOUT_MS',
    'BTFHUB_GENERATE_CONCURRENCY',
    'BTFHUB_GENERATE_MEMORY_BYTES',
    'BTFHUB_MAX_PACKAGE_BYTES',
    'BTFHUB_COMPAT_WAIT_MS',
    'BTFHUB_CODEC_THREADS',
    'BTFHUB_CODEC_THREAD_HEAP_MB',
    'BTFHUB_CODEC_TASK_TIMEOUT_MS',
    'BTFHUB_MAX_SECTIONS',
    'BTFHUB_MAX_TYPES',
    'BTFHUB_MAX_STRING_BYTES',
    'BTFHUB_MAX_RELOCATIONS',
    'BTFHUB_MAX_EXT_BLOCKS',
    'BTFHUB_MAX_CORE_STEPS_PER_BYTE',
    'BTFHUB_REFUSED_OBJECTS_TTL_MS',
    'BTFHUB_ALLOWED_ORIGINS',
  ];
  t.same([...CONFIG_ENV_VARS].sort(), [...documented].sort());
  t.equal(new Set(CONFIG_ENV_VARS).size, CONFIG_ENV_VARS.length, 'no duplicates');
  // Each variable is really read: an invalid value for it is reported under its name.
  for (const name of CONFIG_ENV_VARS) {
    const base = name.startsWith('S3_') || name.startsWith('AWS_') ? { S3_BUCKET: 'btfhub' } : {};
    const changed = (() => {
      try {
        return JSON.stringify(loadConfig({ ...base, [name]: 'x\u0000 bad value' })) !== JSON.stringify(loadConfig(base));
      } catch (error) {
        return error instanceof ConfigError && error.issues.some((issue) => issue.variable === name || issue.message.includes(name));
      }
    })();
    t.ok(changed, `${name} affects the configuration`);
  }
});

t.test('docs/CONFIGURATION.md documents every variable', async (t) => {
  const doc = await readFile(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
  for (const name of CONFIG_ENV_VARS) t.match(doc, `\`${name}\``, `${name} is documented`);
});

t.test('unknownBtfhubVariables flags likely typos', async (t) => {
  t.same(unknownBtfhubVariables({ BTFHUB_PROT: '1', BTFHUB_PORT: '1', PATH: '/bin', BTFHUB_A: '' }), ['BTFHUB_A', 'BTFHUB_PROT']);
  t.same(unknownBtfhubVariables({}), []);
  t.type(unknownBtfhubVariables(), Array, 'reads process.env by default');
});

t.test('hardening variables: limits, timeouts, rate limit, proxies, admin token', async (t) => {
  const config = loadConfig({
    BTFHUB_MAX_REQUEST_BYTES: '1048576',
    BTFHUB_MAX_FILE_BYTES: '65536',
    BTFHUB_MAX_FIELD_BYTES: '256',
    BTFHUB_MAX_DECOMPRESSED_BYTES: '4096',
    BTFHUB_MAX_UPLOAD_BYTES_IN_FLIGHT: '0',
    BTFHUB_REQUEST_TIMEOUT_MS: '5000',
    BTFHUB_SHUTDOWN_GRACE_MS: '0',
    BTFHUB_RATE_LIMIT_MAX: '0',
    BTFHUB_RATE_LIMIT_WINDOW_MS: '1000',
    BTFHUB_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    BTFHUB_TRIM_CACHE_BYTES: '0',
  });
  t.match(config, {
    maxRequestBytes: 1_048_576,
    maxFileBytes: 65_536,
    maxFieldBytes: 256,
    maxDecompressedBytes: 4096,
    maxUploadBytesInFlight: 0,
    requestTimeoutMs: 5000,
    shutdownGraceMs: 0,
    rateLimit: { max: 0, windowMs: 1000 },
    trimCacheBytes: 0,
  });
  t.same(config.trustProxy, ['10.0.0.0/8', '127.0.0.1']);
  t.equal(loadConfig({ BTFHUB_TRUST_PROXY: 'yes' }).trustProxy, true);
  t.equal(loadConfig({ BTFHUB_TRUST_PROXY: '2' }).trustProxy, 2);
  t.match(configError(t, { BTFHUB_TRUST_PROXY: 'the load balancer' }).message, /BTFHUB_TRUST_PROXY: expected true, false, a hop count/);
  t.match(
    configError(t, { BTFHUB_MAX_FILE_BYTES: '2000', BTFHUB_MAX_REQUEST_BYTES: '1000' }).message,
    /BTFHUB_MAX_REQUEST_BYTES: must be at least BTFHUB_MAX_FILE_BYTES \(2000\)/,
  );
  t.match(configError(t, { BTFHUB_MAX_FIELD_BYTES: '100' }).message, /BTFHUB_MAX_FIELD_BYTES: expected an integer between 128 and 65536/);
  t.match(configError(t, { BTFHUB_REQUEST_TIMEOUT_MS: '10' }).message, /BTFHUB_REQUEST_TIMEOUT_MS/);
  const short = configError(t, { BTFHUB_ADMIN_TOKEN: 'hunter2' });
  t.match(short.message, /BTFHUB_ADMIN_TOKEN: expected at least 16 characters/);
  t.notMatch(short.message, /hunter2/, 'the rejected token is not shown');
  t.match(configError(t, { BTFHUB_ADMIN_TOKEN: 'a token with spaces in it' }).message, /BTFHUB_ADMIN_TOKEN: expected printable ASCII/);
});
