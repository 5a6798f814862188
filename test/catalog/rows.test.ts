import t from 'tap';
import { kernelFilterCondition } from '../../src/catalog/kernel-filter.js';
import { likePrefixPattern } from '../../src/catalog/like-pattern.js';
import { assertValidPage, toNumber } from '../../src/catalog/rows.js';

t.test('likePrefixPattern escapes the wildcards and the escape character', async (t) => {
  t.equal(likePrefixPattern('5.15.0-'), '5.15.0-%');
  t.equal(likePrefixPattern('a%b_c!d'), 'a!%b!_c!!d%');
  t.equal(likePrefixPattern(''), '%');
});

t.test('kernelFilterCondition numbers parameters in filter order', async (t) => {
  t.same(
    kernelFilterCondition({}, () => '?'),
    { where: '', params: [] },
  );
  t.same(
    kernelFilterCondition({ distro: 'ubuntu', arch: 'arm64', kernelPrefix: '5_' }, (i) => `$${i}`),
    { where: "WHERE distro = $1 AND arch = $2 AND kernel LIKE $3 ESCAPE '!'", params: ['ubuntu', 'arm64', '5!_%'] },
  );
});

t.test('toNumber accepts what the drivers return and refuses lossy values', async (t) => {
  t.equal(toNumber('1700000000000'), 1_700_000_000_000);
  t.equal(toNumber(42), 42);
  t.equal(toNumber(42n), 42);
  t.throws(() => toNumber('9007199254740993'), /not a safe integer/);
  t.throws(() => toNumber('abc'), /not a safe integer/);
});

t.test('assertValidPage refuses what LIMIT/OFFSET would misread', async (t) => {
  assertValidPage({ limit: 0, offset: 0 });
  t.throws(() => assertValidPage({ limit: Number.NaN, offset: 0 }), RangeError);
  t.throws(() => assertValidPage({ limit: 1, offset: -1 }), /offset must be a non-negative integer/);
});
