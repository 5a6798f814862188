import t, { type Test } from 'tap';
import {
  ARCH_ALIASES,
  ARCHES,
  DISTROS,
  IdentityError,
  normalizeArch,
  normalizeDistro,
  normalizeDistroVersion,
  normalizeKernelRef,
  RELEASE_ALIASES,
  RELEASE_RULES,
  type IdentityField,
} from '../../src/identity/kernel-identity.js';

const VALID = { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-100-generic' };
const INPUT_KEY: Record<IdentityField, keyof typeof VALID> = {
  distro: 'distro',
  distro_version: 'distroVersion',
  arch: 'arch',
  kernel_version: 'kernel',
};

/** Asserts that normalizing VALID with `field` set to `value` fails on that field. */
function rejects(t: Test, field: IdentityField, value: unknown, message: RegExp): void {
  const label = `${field} = ${JSON.stringify(value)}`;
  try {
    normalizeKernelRef({ ...VALID, [INPUT_KEY[field]]: value });
    t.fail(`${label} was accepted`);
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    t.match(
      { field: error.field, statusCode: error.statusCode, message: error.message },
      { field, statusCode: 400, message: new RegExp(`^${field}: .*${message.source}`) },
      label,
    );
  }
}

t.test('a canonical identity passes unchanged', async (t) => {
  t.same(normalizeKernelRef(VALID), VALID);
  t.same(normalizeKernelRef({ distro: 'amzn', distroVersion: '2', arch: 'arm64', kernel: '4.14.268-205.500.amzn2.aarch64' }), {
    distro: 'amzn',
    distroVersion: '2',
    arch: 'arm64',
    kernel: '4.14.268-205.500.amzn2.aarch64',
  });
});

t.test('surrounding whitespace is trimmed; the kernel keeps its case', async (t) => {
  t.same(normalizeKernelRef({ distro: ' Ubuntu ', distroVersion: '\tJammy\n', arch: ' AMD64', kernel: ' 5.15.0-1019-AWS ' }), {
    distro: 'ubuntu',
    distroVersion: '22.04',
    arch: 'x86_64',
    kernel: '5.15.0-1019-AWS',
  });
});

t.test('every arch alias maps to its archive name', async (t) => {
  const expected: Record<string, string> = {
    x86_64: 'x86_64',
    amd64: 'x86_64',
    'x86-64': 'x86_64',
    x64: 'x86_64',
    arm64: 'arm64',
    aarch64: 'arm64',
    arm64v8: 'arm64',
  };
  t.same(ARCH_ALIASES, expected, 'the table is what the docs promise');
  for (const [alias, arch] of Object.entries(expected)) {
    t.equal(normalizeArch(alias), arch, alias);
    t.equal(normalizeArch(alias.toUpperCase()), arch, `${alias} in capitals`);
  }
  t.same([...ARCHES], ['x86_64', 'arm64']);
});

t.test('every distro id and alias maps to its archive id', async (t) => {
  const expected: Record<string, string> = {
    ubuntu: 'ubuntu',
    debian: 'debian',
    centos: 'centos',
    fedora: 'fedora',
    amzn: 'amzn',
    ol: 'ol',
    rhel: 'rhel',
    sles: 'sles',
    amazon: 'amzn',
    amazonlinux: 'amzn',
    oracle: 'ol',
    oraclelinux: 'ol',
    redhat: 'rhel',
    suse: 'sles',
  };
  for (const [alias, distro] of Object.entries(expected)) {
    t.equal(normalizeDistro(alias), distro, alias);
    t.equal(normalizeDistro(alias.toUpperCase()), distro, `${alias} in capitals`);
  }
  const accepted = Object.entries(DISTROS).flatMap(([id, info]) => [id, ...info.aliases]);
  t.same(accepted.sort(), Object.keys(expected).sort(), 'no alias is untested');
});

t.test('release aliases: Ubuntu and Debian codenames, Amazon, SLES and Enterprise Linux rules', async (t) => {
  const cases: [string, string, string][] = [
    ['ubuntu', 'trusty', '14.04'],
    ['ubuntu', 'xenial', '16.04'],
    ['ubuntu', 'yakkety', '16.10'],
    ['ubuntu', 'zesty', '17.04'],
    ['ubuntu', 'artful', '17.10'],
    ['ubuntu', 'bionic', '18.04'],
    ['ubuntu', 'cosmic', '18.10'],
    ['ubuntu', 'disco', '19.04'],
    ['ubuntu', 'eoan', '19.10'],
    ['ubuntu', 'focal', '20.04'],
    ['ubuntu', 'groovy', '20.10'],
    ['ubuntu', 'hirsute', '21.04'],
    ['ubuntu', 'impish', '21.10'],
    ['ubuntu', 'jammy', '22.04'],
    ['ubuntu', 'kinetic', '22.10'],
    ['ubuntu', 'lunar', '23.04'],
    ['ubuntu', 'mantic', '23.10'],
    ['ubuntu', 'noble', '24.04'],
    ['ubuntu', 'oracular', '24.10'],
    ['ubuntu', 'plucky', '25.04'],
    ['ubuntu', 'questing', '25.10'],
    ['ubuntu', 'Focal', '20.04'],
    ['ubuntu', '22.04.3', '22.04'],
    ['ubuntu', '20.04', '20.04'],
    ['debian', 'jessie', '8'],
    ['debian', 'stretch', '9'],
    ['debian', 'buster', '10'],
    ['debian', 'bullseye', '11'],
    ['debian', 'bookworm', '12'],
    ['debian', 'trixie', '13'],
    ['debian', '11.7', '11'],
    ['debian', '10', '10'],
    ['amzn', '2018', '1'],
    ['amzn', '2018.03', '1'],
    ['amzn', '2017.09', '1'],
    ['amzn', '2011.09', '1'],
    ['amzn', 'al1', '1'],
    ['amzn', 'al2', '2'],
    ['amzn', 'amzn2', '2'],
    ['amzn', 'al2023', '2023'],
    ['amzn', '2', '2'],
    ['amzn', '1', '1'],
    ['amzn', '2023', '2023'],
    ['centos', '7.9.2009', '7'],
    ['centos', '8.5', '8'],
    ['centos', '7', '7'],
    ['rhel', '8.6', '8'],
    ['rhel', '9.2', '9'],
    ['ol', '7.9', '7'],
    ['ol', '8.6', '8'],
    ['sles', '15-SP4', '15.4'],
    ['sles', '12-sp5', '12.5'],
    ['sles', '15.3', '15.3'],
    ['fedora', '34', '34'],
  ];
  for (const [distro, input, expected] of cases) {
    t.equal(normalizeKernelRef({ ...VALID, distro, distroVersion: input }).distroVersion, expected, `${distro} ${input} → ${expected}`);
  }
  for (const [distro, aliases] of Object.entries(RELEASE_ALIASES)) {
    for (const [alias, version] of Object.entries(aliases)) {
      t.equal(normalizeDistroVersion(distro as keyof typeof DISTROS, alias), version, `table: ${distro} ${alias}`);
    }
  }
  t.ok(
    RELEASE_RULES.every((rule) => rule.description.includes('→')),
    'every rule documents an example',
  );
});

t.test('aliases apply to their own distro only', async (t) => {
  t.equal(normalizeDistroVersion('debian', 'jammy'), 'jammy');
  t.equal(normalizeDistroVersion('ubuntu', 'buster'), 'buster');
  t.equal(normalizeDistroVersion('fedora', '8.6'), '8.6');
  t.equal(normalizeDistroVersion('ubuntu', '2018.03'), '2018.03');
  t.equal(normalizeDistroVersion('amzn', '2019.01'), '2019.01', 'only 2011-2018 are the Amazon Linux AMI');
});

t.test('non-strings are rejected with the field named', async (t) => {
  for (const field of ['distro', 'distro_version', 'arch', 'kernel_version'] as const) {
    rejects(t, field, undefined, /must be a string, got undefined/);
    rejects(t, field, null, /must be a string, got null/);
    rejects(t, field, 42, /must be a string, got number/);
    rejects(t, field, ['ubuntu'], /must be a string, got an array/);
  }
});

t.test('empty, too long, bad characters, .. and leading . or - are rejected with the field named', async (t) => {
  for (const field of ['distro', 'distro_version', 'arch', 'kernel_version'] as const) {
    rejects(t, field, '', /must not be empty/);
    rejects(t, field, '   ', /must not be empty/);
    rejects(t, field, 'a/b', /may only contain letters, digits and \. _ \+ ~ - \(found "\/" at 1\)/);
    rejects(t, field, '/etc', /found "\/" at 0/);
    rejects(t, field, 'a b', /found " " at 1/);
    rejects(t, field, 'a\0b', /found "\\u0000" at 1/);
    rejects(t, field, 'a\\b', /found "\\\\" at 1/);
    rejects(t, field, 'ubuntu%2F', /found "%"/);
    rejects(t, field, 'jämmy', /found "ä"/);
    rejects(t, field, 'a:b', /found ":"/);
    rejects(t, field, '..', /must not contain '\.\.'/);
    rejects(t, field, 'a..b', /must not contain '\.\.'/);
    rejects(t, field, '5.4..0', /must not contain '\.\.'/);
    rejects(t, field, '.hidden', /must not start with '\.' or '-'/);
    rejects(t, field, '-rf', /must not start with '\.' or '-'/);
  }
  rejects(t, 'distro', 'u'.repeat(65), /must be at most 64 characters, got 65/);
  rejects(t, 'distro_version', '1'.repeat(65), /must be at most 64 characters, got 65/);
  rejects(t, 'arch', 'x'.repeat(65), /must be at most 64 characters, got 65/);
  rejects(t, 'kernel_version', '5'.repeat(129), /must be at most 128 characters, got 129/);
  t.equal(normalizeKernelRef({ ...VALID, kernel: '5'.repeat(128) }).kernel.length, 128, '128 is allowed');
  t.equal(normalizeKernelRef({ ...VALID, distroVersion: '1'.repeat(64) }).distroVersion.length, 64, '64 is allowed');
  t.equal(
    normalizeKernelRef({ ...VALID, kernel: '5.15.0+deb~1_x-generic' }).kernel,
    '5.15.0+deb~1_x-generic',
    'every allowed punctuation mark passes',
  );
});

t.test('unknown distros and arches list what is accepted', async (t) => {
  rejects(
    t,
    'distro',
    'gentoo',
    /"gentoo" is not supported; accepted: amzn, centos, debian, fedora, ol, rhel, sles, ubuntu \(also amazon, amazonlinux, oracle, oraclelinux, redhat, suse\)/,
  );
  rejects(t, 'distro', 'opensuse-leap', /not supported/);
  rejects(t, 'arch', 'sparc64', /"sparc64" is not supported; accepted: x86_64, arm64 \(also amd64, x86-64, x64, aarch64, arm64v8\)/);
  rejects(t, 'arch', 'i386', /not supported/);
  rejects(t, 'arch', 'armv7l', /not supported/);
});

t.test('the first bad field is reported, distro first', async (t) => {
  t.throws(() => normalizeKernelRef({ distro: 'nope', distroVersion: '', arch: '', kernel: '' }), {
    name: 'IdentityError',
    field: 'distro',
  });
  t.throws(() => normalizeKernelRef({ ...VALID, distroVersion: '', arch: 'sparc' }), { name: 'IdentityError', field: 'distro_version' });
  t.throws(() => normalizeKernelRef({ ...VALID, arch: 'sparc', kernel: '' }), { name: 'IdentityError', field: 'arch' });
  const error = t.throws(() => normalizeKernelRef({ ...VALID, kernel: 'a/../b' })) as IdentityError;
  t.equal(error.name, 'IdentityError');
  t.ok(error instanceof Error);
});

t.test('the package entry re-exports the identity API', async (t) => {
  const identity = await import('../../src/identity/index.js');
  for (const name of ['normalizeKernelRef', 'hostIdentityFromOsRelease', 'parseOsRelease', 'kernelReleaseHint', 'IdentityError']) {
    t.type(identity[name as keyof typeof identity], 'function', name);
  }
  t.same(identity.DISTROS, DISTROS);
});

t.test('docs/IDENTITY.md lists every alias in the tables', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../docs/IDENTITY.md', import.meta.url), 'utf8');
  const documented = (name: string) => doc.includes(`\`${name}\``);
  for (const alias of Object.keys(ARCH_ALIASES)) t.ok(documented(alias), `arch ${alias}`);
  for (const [id, info] of Object.entries(DISTROS)) {
    for (const alias of [id, ...info.aliases]) t.ok(documented(alias), `distro ${alias}`);
  }
  for (const [distro, aliases] of Object.entries(RELEASE_ALIASES)) {
    for (const alias of Object.keys(aliases)) t.ok(documented(alias), `${distro} release ${alias}`);
  }
});

t.test('names of Object.prototype members are plain values, not table hits', async (t) => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.equal(
      normalizeKernelRef({ distro: 'ubuntu', distroVersion: name, arch: 'x86_64', kernel: '5.4.0' }).distroVersion,
      name,
      `release ${name}`,
    );
    t.throws(
      () => normalizeKernelRef({ distro: 'ubuntu', distroVersion: '20.04', arch: name, kernel: '5.4.0' }),
      /arch/,
      `arch ${name} is refused`,
    );
  }
});
