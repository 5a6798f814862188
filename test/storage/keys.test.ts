import t from 'tap';
import { StorageError } from '../../src/storage/errors.js';
import {
  assertValidKey,
  assertValidPrefix,
  compareKeys,
  kernelKey,
  MAX_KEY_LENGTH,
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
