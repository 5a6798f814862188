/**
 * Host identity read from a filesystem root: fake host roots for each distribution, a
 * missing os-release, a container with the host's root mounted at /host, symlinks that
 * must stay inside the root, the kernel release from <root>/proc, and every override.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { detectHostIdentity, readHostFacts, resolveHostIdentity } from '../../src/identity/host.js';
import { IdentityError } from '../../src/identity/kernel-identity.js';
import {
  ALPINE_3_18,
  AMZN_2,
  AMZN_2018_03,
  CENTOS_7,
  DEBIAN_12,
  FEDORA_34,
  OL_8,
  RHEL_8,
  SLES_15_SP4,
  UBUNTU_22_04,
  type HostSample,
} from './os-release-samples.js';

/** A fake host root: `files` maps paths under it to contents; `links` to symlink targets. */
async function fakeRoot(t: Test, files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'btfhub-host-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  for (const [path, target] of Object.entries(links)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await symlink(target, join(root, path));
  }
  return root;
}

/** A root holding `sample`'s os-release and kernel release, the way a real host has them. */
const hostRoot = (t: Test, sample: HostSample, osReleaseAt = 'etc/os-release') =>
  fakeRoot(t, { [osReleaseAt]: sample.osRelease, 'proc/sys/kernel/osrelease': `${sample.unameRelease}\n` });

/** uname must never be this machine's in these tests. */
const NOT_THIS_MACHINE = { unameRelease: () => 'uname-was-called', unameMachine: () => 'x86_64' };

t.test('a fake root for each distribution resolves to its archive identity', async (t) => {
  const cases: [string, HostSample, string, string, string][] = [
    ['ubuntu', UBUNTU_22_04, 'ubuntu', '22.04', 'x86_64'],
    ['debian', DEBIAN_12, 'debian', '12', 'arm64'],
    ['centos', CENTOS_7, 'centos', '7', 'x86_64'],
    ['amzn', AMZN_2, 'amzn', '2', 'arm64'],
    ['amzn AMI', AMZN_2018_03, 'amzn', '1', 'x86_64'],
    ['ol', OL_8, 'ol', '8', 'x86_64'],
    ['rhel', RHEL_8, 'rhel', '8', 'x86_64'],
    ['sles', SLES_15_SP4, 'sles', '15.4', 'x86_64'],
    ['fedora', FEDORA_34, 'fedora', '34', 'x86_64'],
  ];
  for (const [name, sample, distro, distroVersion, arch] of cases) {
    const root = await hostRoot(t, sample);
    const identity = await detectHostIdentity({
      root,
      unameMachine: () => sample.unameMachine,
      unameRelease: NOT_THIS_MACHINE.unameRelease,
    });
    t.same(identity.ref, { distro, distroVersion, arch, kernel: sample.unameRelease }, name);
    t.equal(identity.source, 'os-release', `${name}: from os-release`);
    t.equal(identity.osReleasePath, '/etc/os-release', `${name}: path`);
    t.match(
      identity.notes,
      [/kernel release from \/proc\/sys\/kernel\/osrelease under /],
      `${name}: says where the kernel release came from`,
    );
  }
});

t.test('readHostFacts: /usr/lib/os-release when /etc has none; the kernel release from proc, else uname', async (t) => {
  const root = await hostRoot(t, RHEL_8, 'usr/lib/os-release');
  const facts = await readHostFacts({ root, ...NOT_THIS_MACHINE });
  t.equal(facts.osReleasePath, '/usr/lib/os-release');
  t.equal(facts.osRelease, RHEL_8.osRelease);
  t.equal(facts.unameRelease, RHEL_8.unameRelease, 'newline trimmed');
  t.equal(facts.kernelReleaseSource, '/proc/sys/kernel/osrelease');

  const bare = await fakeRoot(t, { 'etc/os-release': UBUNTU_22_04.osRelease });
  const uname = await readHostFacts({ root: bare, unameRelease: () => '5.15.0-91-generic', unameMachine: () => 'aarch64' });
  t.same(
    { release: uname.unameRelease, machine: uname.unameMachine, source: uname.kernelReleaseSource },
    { release: '5.15.0-91-generic', machine: 'aarch64', source: 'uname' },
  );
});

t.test('no os-release at all: the kernel release decides, and says so', async (t) => {
  const root = await fakeRoot(t, { 'proc/sys/kernel/osrelease': '4.18.0-372.9.1.el8_6.x86_64\n' });
  const identity = await detectHostIdentity({ root, ...NOT_THIS_MACHINE });
  t.same(identity.ref, { distro: 'centos', distroVersion: '8', arch: 'x86_64', kernel: '4.18.0-372.9.1.el8_6.x86_64' });
  t.equal(identity.source, 'kernel-release');
  t.equal(identity.osReleasePath, null);
  t.match(identity.notes, [/kernel release from/, 'no os-release file', /chose centos/, /centos 8 from the kernel release/]);

  const ubuntuKernel = await fakeRoot(t, { 'proc/sys/kernel/osrelease': '5.15.0-91-generic\n' });
  await t.rejects(detectHostIdentity({ root: ubuntuKernel, ...NOT_THIS_MACHINE }), {
    name: 'IdentityError',
    field: 'distro_version',
    message: /no os-release file.*provide the host’s \/etc\/os-release or the distro version/,
  });
  const withRelease = await detectHostIdentity({ root: ubuntuKernel, ...NOT_THIS_MACHINE, overrides: { distroVersion: '22.04' } });
  t.same(
    withRelease.ref,
    { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' },
    '--distro-version completes it',
  );
  t.equal(withRelease.source, 'override');
});

t.test('a container with the host root at /host: the host’s os-release wins over the image’s', async (t) => {
  const root = await fakeRoot(t, {
    'etc/os-release': ALPINE_3_18,
    'host/etc/os-release': AMZN_2.osRelease,
    'proc/sys/kernel/osrelease': `${AMZN_2.unameRelease}\n`,
  });
  const identity = await detectHostIdentity({ root, unameMachine: () => 'aarch64', unameRelease: NOT_THIS_MACHINE.unameRelease });
  t.same(identity.ref, { distro: 'amzn', distroVersion: '2', arch: 'arm64', kernel: AMZN_2.unameRelease });
  t.equal(identity.source, 'os-release');
  t.equal(identity.osReleasePath, '/host/etc/os-release');
  t.match(identity.notes, [/kernel release from/, /os-release from \/host\/etc\/os-release \(the host's, mounted into this container\)/]);

  // The host mount given as --root: the same answer, read from <root>/etc.
  const hostOnly = await detectHostIdentity({
    root: join(root, 'host'),
    unameMachine: () => 'aarch64',
    unameRelease: () => AMZN_2.unameRelease,
  });
  t.same(hostOnly.ref, identity.ref);
  t.equal(hostOnly.osReleasePath, '/etc/os-release');
});

t.test('a container without the host mount: the image’s os-release is overruled by the kernel', async (t) => {
  const root = await fakeRoot(t, { 'etc/os-release': DEBIAN_12.osRelease, 'proc/sys/kernel/osrelease': '5.10.184-175.731.amzn2.x86_64\n' });
  const identity = await detectHostIdentity({ root, ...NOT_THIS_MACHINE });
  t.same(identity.ref, { distro: 'amzn', distroVersion: '2', arch: 'x86_64', kernel: '5.10.184-175.731.amzn2.x86_64' });
  t.equal(identity.source, 'kernel-release');
  t.match(identity.notes, [/kernel release from/, /os-release says debian 12, but .* is an Amazon Linux 2 kernel/, /amzn 2 from/]);
});

t.test('symlinks resolve inside the root, never into this machine’s files', async (t) => {
  // /etc/os-release -> /usr/lib/os-release, absolute, as some distributions ship it.
  const absolute = await fakeRoot(
    t,
    { 'usr/lib/os-release': SLES_15_SP4.osRelease, 'proc/sys/kernel/osrelease': SLES_15_SP4.unameRelease },
    {
      'etc/os-release': '/usr/lib/os-release',
    },
  );
  const facts = await readHostFacts({ root: absolute, ...NOT_THIS_MACHINE });
  t.equal(facts.osRelease, SLES_15_SP4.osRelease, 'absolute target read under the root');
  t.equal(facts.osReleasePath, '/etc/os-release');

  // A relative target with more '..' than the depth stays at the root, as in a chroot.
  const relative = await fakeRoot(
    t,
    { 'usr/lib/os-release': FEDORA_34.osRelease },
    { 'etc/os-release': '../../../../../usr/lib/os-release' },
  );
  t.equal((await readHostFacts({ root: relative, ...NOT_THIS_MACHINE })).osRelease, FEDORA_34.osRelease);

  // A directory in the path that is an absolute symlink (`/etc -> /private/etc`).
  const dirLink = await fakeRoot(t, { 'private/etc/os-release': CENTOS_7.osRelease }, { etc: '/private/etc' });
  t.equal((await readHostFacts({ root: dirLink, ...NOT_THIS_MACHINE })).osRelease, CENTOS_7.osRelease);

  // A loop, a dangling link and a directory named os-release are not files: the next candidate is read.
  const broken = await fakeRoot(
    t,
    { 'usr/lib/os-release': UBUNTU_22_04.osRelease, 'host/etc/os-release/README': 'a directory' },
    {
      'etc/os-release': '/etc/loop',
      'etc/loop': '/etc/os-release',
      'host/usr/lib/os-release': '/nowhere',
    },
  );
  const fallback = await readHostFacts({ root: broken, ...NOT_THIS_MACHINE });
  t.equal(fallback.osReleasePath, '/usr/lib/os-release');
  t.equal(fallback.osRelease, UBUNTU_22_04.osRelease);
});

t.test('an os-release too large to be one is ignored', async (t) => {
  const root = await fakeRoot(t, { 'etc/os-release': `ID=ubuntu\n${'#'.repeat(70 * 1024)}\n`, 'usr/lib/os-release': FEDORA_34.osRelease });
  t.equal((await readHostFacts({ root, ...NOT_THIS_MACHINE })).osReleasePath, '/usr/lib/os-release');
});

t.test('overrides: each input can be given instead', async (t) => {
  const root = await hostRoot(t, CENTOS_7);
  const probe = { root, ...NOT_THIS_MACHINE };

  const all = await detectHostIdentity({
    ...probe,
    overrides: { distro: 'Ubuntu', distroVersion: 'focal', arch: 'amd64', kernel: '5.4.0-100-generic' },
  });
  t.same(all.ref, { distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-100-generic' }, 'aliases apply to overrides');
  t.equal(all.source, 'override');
  t.equal(all.osReleasePath, null, 'os-release not used');
  t.match(all.notes, [
    /arch amd64 given \(the host says x86_64\)/,
    /kernel 5\.4\.0-100-generic given/,
    /distro ubuntu and release 20\.04 given/,
  ]);

  const arch = await detectHostIdentity({ ...probe, overrides: { arch: 'aarch64' } });
  t.same(arch.ref, { distro: 'centos', distroVersion: '7', arch: 'arm64', kernel: CENTOS_7.unameRelease });
  t.equal(arch.source, 'os-release', 'detection still names distro and release');

  const kernel = await detectHostIdentity({ ...probe, overrides: { kernel: '3.10.0-957.el7.x86_64' } });
  t.equal(kernel.ref.kernel, '3.10.0-957.el7.x86_64');

  // The .el7 kernel is published under centos, rhel and ol: --distro picks, the release still comes from the host.
  const rhel = await detectHostIdentity({ ...probe, overrides: { distro: 'rhel' } });
  t.same(rhel.ref, { distro: 'rhel', distroVersion: '7', arch: 'x86_64', kernel: CENTOS_7.unameRelease });
  t.equal(rhel.source, 'override');
  t.match(rhel.notes, [/kernel release from/, /release 7 from the kernel release/, /distro rhel given/]);

  const sameDistro = await detectHostIdentity({ ...probe, overrides: { distro: 'centos' } });
  t.same(sameDistro.ref.distroVersion, '7');
  t.match(sameDistro.notes, [/kernel release from/, /release 7 from the os-release/, /distro centos given/]);

  const version = await detectHostIdentity({ ...probe, overrides: { distroVersion: '7.9.2009' } });
  t.same(version.ref, { distro: 'centos', distroVersion: '7', arch: 'x86_64', kernel: CENTOS_7.unameRelease }, 'release aliases apply');
  t.match(version.notes, [/kernel release from/, /release 7 given \(distro centos from the os-release\)/]);

  await t.rejects(detectHostIdentity({ ...probe, overrides: { distro: 'ubuntu' } }), {
    name: 'IdentityError',
    field: 'distro_version',
    message: /distro ubuntu given, but neither os-release nor the kernel release .* names its release: give the release too/,
  });
  await t.rejects(detectHostIdentity({ ...probe, overrides: { distro: 'gentoo', distroVersion: '1' } }), {
    name: 'IdentityError',
    field: 'distro',
  });
  await t.rejects(detectHostIdentity({ ...probe, overrides: { arch: 'sparc64' } }), { name: 'IdentityError', field: 'arch' });
});

t.test('resolveHostIdentity: the same rules on facts given directly (what POST /api/v1/identity runs)', async (t) => {
  const identity = resolveHostIdentity({
    osRelease: UBUNTU_22_04.osRelease,
    unameRelease: UBUNTU_22_04.unameRelease,
    unameMachine: 'x86_64',
  });
  t.same(identity, {
    ref: { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: UBUNTU_22_04.unameRelease },
    source: 'os-release',
    notes: [],
    osReleasePath: null,
  });
  const error = t.throws(() =>
    resolveHostIdentity({ osRelease: null, unameRelease: '6.6.1-arch1-1', unameMachine: 'x86_64' }, { kernel: '6.6.2-arch1-1' }),
  ) as IdentityError;
  t.ok(error instanceof IdentityError);
  t.equal(error.field, 'distro');
  t.match(error.message, /^distro: kernel 6\.6\.2-arch1-1 given .*; no os-release file; cannot determine the distribution/);
});
