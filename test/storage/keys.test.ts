import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { StorageError } from '../../src/storage/errors.js';
import {
  assertValidKey,
  assertValidPrefix,
  bundleKey,
  bundleMetaKey,
  packageKey,
  compareKeys,
  compatReportKey,
  derivedKernelKey,
  isSha256Hex,
  kernelFileFormat,
  kernelContentKey,
  kernelKey,
  MAX_KEY_LENGTH,
  objectKey,
  SERVICE_PREFIXES,
  trimmedKey,
} from '../../src/storage/keys.js';
import { INVALID_KEYS } from './contract.js';

const kernel = { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-42-generic' };

t.test('assertValidKey', async (t) => {
  for (const key of ['a', 'a/b', 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz', '.hidden/..dots/x...', 'x'.repeat(MAX_KEY_LENGTH)]) {
    t.doesNotThrow(() => assertValidKey(key), `accepts ${key.slice(0, 40)}`);
  }
  for (const key of INVALID_KEYS) {
    t.throws(() => assertValidKey(key), { name: 'StorageError', code: 'INVALID_KEY' }, `rejects ${JSON.stringify(key.slice(0, 40))}`);
  }
  t.throws(() => assertValidKey(42 as unknown as string), { code: 'INVALID_KEY', message: /not a string/ });
  t.throws(() => assertValidKey('a/../b'), { message: 'invalid object key "a/../b": has a ".." segment' }, 'says why');
});

t.test('assertValidPrefix', async (t) => {
  for (const prefix of ['', 'a', 'a/', 'ubuntu/20', 'trimmed/']) t.doesNotThrow(() => assertValidPrefix(prefix));
  for (const prefix of ['/', '//', '../', 'a/../', 'a//']) {
    t.throws(() => assertValidPrefix(prefix), { code: 'INVALID_KEY', message: /invalid list prefix/ });
  }
});

t.test('kernelKey', async (t) => {
  t.equal(kernelKey(kernel, 'btf.tar.xz'), 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz');
  t.equal(kernelKey(kernel, 'btf'), 'ubuntu/20.04/x86_64/5.4.0-42-generic.btf');
  t.throws(() => kernelKey({ ...kernel, distroVersion: '20.04/../..' }, 'btf'), {
    code: 'INVALID_KEY',
    message: /distroVersion .* one path segment/,
  });
  t.throws(() => kernelKey({ ...kernel, arch: '..' }, 'btf'), { code: 'INVALID_KEY' });
  t.throws(() => kernelKey({ ...kernel, distro: '' }, 'btf'), { code: 'INVALID_KEY' });
});

t.test('trimmedKey', async (t) => {
  const sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  t.equal(trimmedKey(sha), `trimmed/${sha}.btf`);
  for (const bad of ['', 'abc', sha.toUpperCase(), `${sha}0`, '../'.repeat(21) + 'a']) {
    t.throws(() => trimmedKey(bad), { code: 'INVALID_KEY' });
  }
});

t.test('objectKey, derivedKernelKey, job result keys', async (t) => {
  const sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  t.equal(objectKey(sha), `objects/${sha}.o`);
  t.equal(derivedKernelKey(sha, '5.4.0-42-generic', 'btf'), `derived/${sha}/5.4.0-42-generic.btf`);
  t.equal(derivedKernelKey(sha, '5.4.0-42-generic', 'btf.tar.xz'), `derived/${sha}/5.4.0-42-generic.btf.tar.xz`);
  const compat = `compat-${sha}`;
  t.equal(compatReportKey(compat), `reports/compat/${compat}.json`);
  t.equal(bundleKey(`bundle-${sha}`), `bundles/bundle-${sha}.tar.gz`);
  t.equal(bundleMetaKey(`bundle-${sha}`), `bundles/bundle-${sha}.json`);
  for (const bad of ['', 'abc', sha.toUpperCase(), '../x']) {
    t.throws(() => objectKey(bad), { code: 'INVALID_KEY' }, `objectKey(${JSON.stringify(bad)})`);
    t.throws(() => derivedKernelKey(bad, 'k', 'btf'), { code: 'INVALID_KEY' });
  }
  for (const kernel of ['a/b', '..', ''])
    t.throws(() => derivedKernelKey(sha, kernel, 'btf'), { code: 'INVALID_KEY' }, `kernel ${JSON.stringify(kernel)}`);
  for (const id of ['', '../x', 'a/b', '-x', 'x'.repeat(257), 'repeat:archive-sync:1']) {
    t.throws(() => compatReportKey(id), { code: 'INVALID_KEY' }, `job id ${JSON.stringify(id)}`);
    t.throws(() => bundleKey(id), { code: 'INVALID_KEY' });
    t.throws(() => bundleMetaKey(id), { code: 'INVALID_KEY' });
  }
  t.ok(isSha256Hex(sha));
  t.notOk(isSha256Hex(sha.toUpperCase()));
  t.notOk(isSha256Hex(42));
  t.equal(kernelFileFormat('ubuntu/20.04/x86_64/5.4.0-42-generic.btf.tar.xz'), 'btf.tar.xz');
  t.equal(kernelFileFormat('ubuntu/20.04/x86_64/5.4.0-42-generic.btf'), 'btf');
});

t.test('every key the service writes is under SERVICE_PREFIXES; kernel keys never are', async (t) => {
  const sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const written = [
    objectKey(sha),
    trimmedKey(sha),
    derivedKernelKey(sha, 'k', 'btf'),
    kernelContentKey(sha, 'btf.tar.xz'),
    compatReportKey(`compat-${sha}`),
    bundleKey(`bundle-${sha}`),
    bundleMetaKey(`bundle-${sha}`),
    packageKey(sha),
  ];
  for (const key of written)
    t.ok(
      SERVICE_PREFIXES.some((prefix) => key.startsWith(prefix)),
      `${key} is under a service prefix`,
    );
  const used = new Set(written.map((key) => SERVICE_PREFIXES.find((prefix) => key.startsWith(prefix))));
  t.same([...used].sort(), [...SERVICE_PREFIXES].sort(), 'and each prefix holds something');
  for (const distro of ['objects', 'trimmed', 'derived', 'reports', 'bundles']) {
    // A distro named like a prefix would hide its kernels from every scan: none of the known ones is.
    t.notOk(['ubuntu', 'debian', 'centos', 'fedora', 'amzn', 'ol', 'rhel', 'sles'].includes(distro));
  }
  t.notOk(SERVICE_PREFIXES.some((prefix) => kernelKey(kernel, 'btf').startsWith(prefix)));
});

t.test('keys are built in src/storage/keys.ts and nowhere else', async (t) => {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(src, f));
  const literal = new RegExp(`[\`'"](${SERVICE_PREFIXES.map((p) => p.replace('/', '\\/')).join('|')})`);
  const offenders: string[] = [];
  for (const file of files) {
    if (relative(src, file) === join('storage', 'keys.ts')) continue;
    // Comments may name keys (they document them); code may not spell them.
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    code.split('\n').forEach((line, i) => {
      if (literal.test(line)) offenders.push(`${relative(src, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  t.same(offenders, [], 'no key prefix spelt outside keys.ts');
});

t.test('compareKeys orders by code point, as S3 does', async (t) => {
  t.ok(compareKeys('a', 'b') < 0);
  t.ok(compareKeys('b', 'a') > 0);
  t.equal(compareKeys('same', 'same'), 0);
  t.ok(compareKeys('a', 'a/b') < 0, 'a prefix sorts first');
  t.ok(compareKeys('a.txt', 'a/b') < 0, "'.' sorts before '/'");
  t.ok(compareKeys('A', 'a') < 0, 'upper case first');
  // U+FF5E (one UTF-16 unit) sorts before U+1F600 (a surrogate pair) in UTF-8, unlike with '<'.
  t.ok(compareKeys('\uFF5E', '\u{1F600}') < 0);
  t.ok('\uFF5E' > '\u{1F600}', 'where plain string comparison disagrees');
  t.ok(compareKeys('\u{1F600}a', '\u{1F600}b') < 0);
  const keys = ['b', '\u{1F600}', 'a/b', 'a.txt', '\uFF5E', 'a'];
  const utf8Order = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.same([...keys].sort(compareKeys), utf8Order, 'same order as UTF-8 bytes');
});

t.test('StorageError', async (t) => {
  const cause = new Error('root cause');
  const error = new StorageError('UNAVAILABLE', 'down', { cause });
  t.ok(error instanceof Error);
  t.equal(error.name, 'StorageError');
  t.equal(error.code, 'UNAVAILABLE');
  t.equal(error.cause, cause);
});
