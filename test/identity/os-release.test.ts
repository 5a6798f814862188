import t from 'tap';
import { IdentityError } from '../../src/identity/kernel-identity.js';
import { hostIdentityFromOsRelease, parseOsRelease, type HostFacts } from '../../src/identity/os-release.js';
import {
  ALPINE_3_18,
  AMZN_2,
  AMZN_2018_03,
  CENTOS_7,
  DEBIAN_12,
  DEBIAN_SID,
  FEDORA_34,
  OL_8,
  OPENSUSE_LEAP_15_3,
  RHEL_8,
  ROCKY_8,
  SLES_15_SP4,
  UBUNTU_22_04,
} from './os-release-samples.js';

t.test('parseOsRelease: quotes, escapes, comments and blank lines', async (t) => {
  const text = [
    '# a comment',
    '   # an indented comment',
    '',
    'ID=ubuntu',
    'NAME="Ubuntu Linux"',
    'SINGLE=\'it is "quoted" $literally \\n\'',
    'ESCAPED="a \\"quote\\", a \\$dollar, a \\`tick\\` and a \\\\ backslash"',
    'KEPT="\\n and \\x stay as written"',
    'UNQUOTED=with\\ escaped\\ spaces',
    'MIXED=abc"def ghi"\'jkl\'',
    'EMPTY=',
    'EMPTY_QUOTED=""',
    'TRAILING=value   # not part of the value',
    '  INDENTED="yes"',
    'CRLF="windows"\r',
    'UNTERMINATED="runs to the end',
    "UNTERMINATED_SINGLE='also",
    'not an assignment',
    '1BAD=starts with a digit',
    'BAD-KEY=dash',
    '=no key',
    'ID=debian',
    'LONE_BACKSLASH=end\\',
  ].join('\n');
  t.same(parseOsRelease(text), {
    ID: 'debian',
    NAME: 'Ubuntu Linux',
    SINGLE: 'it is "quoted" $literally \\n',
    ESCAPED: 'a "quote", a $dollar, a `tick` and a \\ backslash',
    KEPT: '\\n and \\x stay as written',
    UNQUOTED: 'with escaped spaces',
    MIXED: 'abcdef ghijkl',
    EMPTY: '',
    EMPTY_QUOTED: '',
    TRAILING: 'value',
    INDENTED: 'yes',
    CRLF: 'windows',
    UNTERMINATED: 'runs to the end',
    UNTERMINATED_SINGLE: 'also',
    LONE_BACKSLASH: 'end',
  });
});

t.test('parseOsRelease keeps odd keys as plain data', async (t) => {
  const fields = parseOsRelease('__proto__=polluted\nconstructor=x\n');
  t.equal(Object.getPrototypeOf(fields), Object.prototype);
  t.equal(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value, 'polluted');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('parseOsRelease reads a real file', async (t) => {
  const fields = parseOsRelease(UBUNTU_22_04.osRelease);
  t.equal(fields.PRETTY_NAME, 'Ubuntu 22.04.3 LTS');
  t.equal(fields.VERSION, '22.04.3 LTS (Jammy Jellyfish)');
  t.equal(fields.UBUNTU_CODENAME, 'jammy');
  t.equal(Object.keys(fields).length, 12);
});

t.test('host identity from each distribution’s os-release', async (t) => {
  const cases: [string, HostFacts, [string, string, string]][] = [
    ['ubuntu 22.04', UBUNTU_22_04, ['ubuntu', '22.04', 'x86_64']],
    ['debian 12', DEBIAN_12, ['debian', '12', 'arm64']],
    ['centos 7', CENTOS_7, ['centos', '7', 'x86_64']],
    ['amazon linux 2', AMZN_2, ['amzn', '2', 'arm64']],
    ['amazon linux AMI 2018.03', AMZN_2018_03, ['amzn', '1', 'x86_64']],
    ['oracle linux 8.6 (UEK)', OL_8, ['ol', '8', 'x86_64']],
    ['oracle linux 8.6 (Red Hat compatible kernel)', { ...OL_8, unameRelease: '4.18.0-372.9.1.el8.x86_64' }, ['ol', '8', 'x86_64']],
    ['rhel 8.6', RHEL_8, ['rhel', '8', 'x86_64']],
    ['sles 15 sp4', SLES_15_SP4, ['sles', '15.4', 'x86_64']],
    ['fedora 34', FEDORA_34, ['fedora', '34', 'x86_64']],
    ['ubuntu with a custom kernel', { ...UBUNTU_22_04, unameRelease: '6.6.0-mybuild' }, ['ubuntu', '22.04', 'x86_64']],
  ];
  for (const [name, facts, [distro, distroVersion, arch]] of cases) {
    const identity = hostIdentityFromOsRelease(facts);
    t.same(identity, { ref: { distro, distroVersion, arch, kernel: facts.unameRelease }, source: 'os-release', notes: [] }, name);
  }
});

t.test('os-release without VERSION_ID: a known codename names the release', async (t) => {
  const identity = hostIdentityFromOsRelease(DEBIAN_SID);
  t.same(identity.ref, { distro: 'debian', distroVersion: '13', arch: 'x86_64', kernel: '6.5.0-4-amd64' });
  t.equal(identity.source, 'os-release');
  t.match(identity.notes, [/no VERSION_ID; release 13 from VERSION_CODENAME trixie/]);
});

t.test('os-release codenames that are Object.prototype names are unknown codenames, not lookups', async (t) => {
  for (const codename of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const identity = hostIdentityFromOsRelease({
      osRelease: `ID=debian\nVERSION_CODENAME=${codename}\n`,
      unameRelease: '6.1.0-18-amd64',
      unameMachine: 'x86_64',
    });
    t.same(identity.ref, { distro: 'debian', distroVersion: '12', arch: 'x86_64', kernel: '6.1.0-18-amd64' }, codename);
    t.equal(identity.source, 'kernel-release', `${codename}: from the kernel release`);
  }
});

t.test('os-release without any release falls back to the kernel release', async (t) => {
  const identity = hostIdentityFromOsRelease({
    osRelease: 'ID=debian\nVERSION_CODENAME=forky\n',
    unameRelease: '6.1.0-18-amd64',
    unameMachine: 'x86_64',
  });
  t.same(identity.ref, { distro: 'debian', distroVersion: '12', arch: 'x86_64', kernel: '6.1.0-18-amd64' });
  t.equal(identity.source, 'kernel-release');
  t.match(identity.notes, [
    /no VERSION_ID and VERSION_CODENAME forky is not known/,
    /debian 12 from the kernel release 6\.1\.0-18-amd64 \(release inferred from the kernel version\)/,
  ]);
  t.match(hostIdentityFromOsRelease({ osRelease: 'ID=centos\n', unameRelease: '3.10.0-1160.el7.x86_64', unameMachine: 'x86_64' }), {
    ref: { distro: 'centos', distroVersion: '7' },
    source: 'kernel-release',
    notes: [/\(centos\) has no VERSION_ID$/, /centos 7 from/],
  });
});

t.test('an os-release ID the archive lacks: the kernel release decides', async (t) => {
  const rocky = hostIdentityFromOsRelease(ROCKY_8);
  t.same(rocky.ref, { distro: 'centos', distroVersion: '8', arch: 'x86_64', kernel: '4.18.0-372.9.1.el8_6.x86_64' });
  t.equal(rocky.source, 'kernel-release');
  t.match(rocky.notes, [
    /os-release ID "rocky" \(ID_LIKE "rhel centos fedora"\) is not a distro the archive has/,
    /Enterprise Linux 8 kernel \(\.el8\) is published in the archive under centos\/8, rhel\/8, ol\/8; chose centos/,
    /centos 8 from the kernel release/,
  ]);

  const leap = hostIdentityFromOsRelease(OPENSUSE_LEAP_15_3);
  t.same(leap.ref, { distro: 'sles', distroVersion: '15.3', arch: 'x86_64', kernel: '5.3.18-150300.59.63-default' });
  t.match(leap.notes, [/"opensuse-leap"/, /sles 15\.3 from the kernel release/]);

  t.match(
    hostIdentityFromOsRelease({ osRelease: 'NAME=nothing\n', unameRelease: '5.10.184-175.731.amzn2.x86_64', unameMachine: 'x86_64' }),
    { ref: { distro: 'amzn', distroVersion: '2' }, notes: ['os-release has no ID', /amzn 2 from/] },
  );
});

t.test('an os-release that contradicts the kernel (a container’s): the kernel release wins', async (t) => {
  const onAmazon = hostIdentityFromOsRelease({ ...DEBIAN_12, unameRelease: '5.10.184-175.731.amzn2.x86_64', unameMachine: 'x86_64' });
  t.same(onAmazon.ref, { distro: 'amzn', distroVersion: '2', arch: 'x86_64', kernel: '5.10.184-175.731.amzn2.x86_64' });
  t.equal(onAmazon.source, 'kernel-release');
  t.match(onAmazon.notes, [
    /os-release says debian 12, but 5\.10\.184-175\.731\.amzn2\.x86_64 is an Amazon Linux 2 kernel \(\.amzn2\): is the os-release a container’s/,
    /amzn 2 from the kernel release/,
  ]);

  const centos7OnEl8 = hostIdentityFromOsRelease({ ...CENTOS_7, unameRelease: '4.18.0-348.7.1.el8_5.x86_64' });
  t.same(centos7OnEl8.ref, { distro: 'centos', distroVersion: '8', arch: 'x86_64', kernel: '4.18.0-348.7.1.el8_5.x86_64' });
  t.equal(centos7OnEl8.notes.length, 2, 'keeps centos (it publishes el8 kernels) without a choice note');

  const alpineOnFedora = hostIdentityFromOsRelease({ ...FEDORA_34, osRelease: ALPINE_3_18 });
  t.same(alpineOnFedora.ref, { distro: 'fedora', distroVersion: '34', arch: 'x86_64', kernel: '5.11.12-300.fc34.x86_64' });

  t.throws(() => hostIdentityFromOsRelease({ ...DEBIAN_12, unameRelease: '5.15.0-1019-aws', unameMachine: 'x86_64' }), {
    name: 'IdentityError',
    field: 'distro_version',
    message: /os-release says debian 12, but 5\.15\.0-1019-aws is an Ubuntu kernel \(-aws\).*cannot be told from the kernel release/,
  });
});

t.test('without os-release the kernel release names distro and release', async (t) => {
  const cases: [string, [string, string]][] = [
    ['3.10.0-1160.95.1.el7.x86_64', ['centos', '7']],
    ['4.18.0-372.9.1.el8_6.x86_64', ['centos', '8']],
    ['4.14.0-115.el7a.aarch64', ['centos', '7']],
    ['5.4.17-2136.307.3.1.el8uek.x86_64', ['ol', '8']],
    ['4.14.268-205.500.amzn2.aarch64', ['amzn', '2']],
    ['4.14.336-180.566.amzn1.x86_64', ['amzn', '1']],
    ['6.1.61-85.141.amzn2023.x86_64', ['amzn', '2023']],
    ['5.11.12-300.fc34.x86_64', ['fedora', '34']],
    ['5.14.21-150400.24.46-default', ['sles', '15.4']],
    ['5.10.0-0.deb10.17-cloud-amd64', ['debian', '10']],
    ['4.19.0-0.bpo.19-amd64', ['debian', '9']],
    ['5.10.0-9-rt-arm64', ['debian', '11']],
  ];
  for (const [kernel, [distro, distroVersion]] of cases) {
    const identity = hostIdentityFromOsRelease({ osRelease: null, unameRelease: kernel, unameMachine: 'x86_64' });
    t.same(identity.ref, { distro, distroVersion, arch: 'x86_64', kernel }, kernel);
    t.equal(identity.source, 'kernel-release');
    t.equal(identity.notes[0], 'no os-release file');
    t.match(identity.notes.at(-1), new RegExp(`^${distro} ${distroVersion.replace('.', '\\.')} from the kernel release`));
  }
  const el8 = hostIdentityFromOsRelease({ osRelease: null, unameRelease: '4.18.0-372.9.1.el8.x86_64', unameMachine: 'x86_64' });
  t.match(el8.notes, ['no os-release file', /under centos\/8, rhel\/8, ol\/8; chose centos/, /centos 8 from/]);
});

t.test('without os-release, unknown or release-less kernels are errors that say what to provide', async (t) => {
  const facts = (unameRelease: string): HostFacts => ({ osRelease: null, unameRelease, unameMachine: 'x86_64' });
  t.throws(() => hostIdentityFromOsRelease(facts('5.15.0-86-generic')), {
    field: 'distro_version',
    message:
      /no os-release file; 5\.15\.0-86-generic is an Ubuntu kernel \(-generic\), but its release cannot be told .* provide the host’s \/etc\/os-release/,
  });
  t.throws(() => hostIdentityFromOsRelease(facts('5.4.0-1100-azure')), { name: 'IdentityError', field: 'distro_version' });
  t.throws(() => hostIdentityFromOsRelease(facts('6.6.1-arch1-1')), {
    field: 'distro',
    message: /cannot determine the distribution: kernel release 6\.6\.1-arch1-1 matches no known distribution kernel/,
  });
  t.throws(() => hostIdentityFromOsRelease(facts('5.16.0-1-amd64')), {
    field: 'distro_version',
    message: /a Debian kernel of the 5\.16 series/,
  });
  t.throws(() => hostIdentityFromOsRelease({ osRelease: ALPINE_3_18, unameRelease: '6.1.55-0-lts', unameMachine: 'x86_64' }), {
    field: 'distro',
    message: /os-release ID "alpine" is not a distro the archive has.*matches no known distribution kernel/,
  });
});

t.test('host facts are validated like any identity', async (t) => {
  t.throws(() => hostIdentityFromOsRelease({ ...UBUNTU_22_04, unameMachine: 'armv7l' }), { name: 'IdentityError', field: 'arch' });
  t.throws(() => hostIdentityFromOsRelease({ ...UBUNTU_22_04, unameRelease: '../../etc/passwd' }), {
    name: 'IdentityError',
    field: 'kernel_version',
  });
  t.throws(() => hostIdentityFromOsRelease({ ...UBUNTU_22_04, unameRelease: '' }), IdentityError);
  t.throws(() => hostIdentityFromOsRelease({ ...UBUNTU_22_04, osRelease: 'ID=ubuntu\nVERSION_ID="22.04 LTS"\n' }), {
    field: 'distro_version',
    message: /found " "/,
  });
});
