import t from 'tap';
import { DEBIAN_KERNEL_SERIES, kernelReleaseHint } from '../../src/identity/kernel-release.js';

t.test('distribution kernels are recognized by their tag', async (t) => {
  const cases: [string, string[], string | undefined, boolean][] = [
    ['3.10.0-1160.el7.x86_64', ['centos', 'rhel', 'ol'], '7', true],
    ['4.18.0-305.el8.x86_64', ['centos', 'rhel', 'ol'], '8', true],
    ['4.18.0-372.9.1.el8_6.x86_64', ['centos', 'rhel', 'ol'], '8', true],
    ['4.18.0-147.0.2.el8_1.aarch64', ['centos', 'rhel', 'ol'], '8', true],
    ['4.14.0-115.el7a.aarch64', ['centos', 'rhel', 'ol'], '7', true],
    ['5.14.0-70.13.1.el9_0.x86_64', ['centos', 'rhel', 'ol'], '9', true],
    ['4.1.12-124.48.6.el7uek.x86_64', ['ol'], '7', true],
    ['5.4.17-2136.307.3.1.el8uek.x86_64', ['ol'], '8', true],
    ['4.14.106-79.86.amzn1.x86_64', ['amzn'], '1', true],
    ['4.14.101-91.76.amzn2.aarch64', ['amzn'], '2', true],
    ['6.1.61-85.141.amzn2023.x86_64', ['amzn'], '2023', true],
    ['5.11.12-300.fc34.x86_64', ['fedora'], '34', true],
    ['5.3.18-150300.59.63-default', ['sles'], '15.3', true],
    ['5.14.21-150500.55.19-azure', ['sles'], '15.5', true],
    ['4.19.0-17-amd64', ['debian'], '10', false],
    ['4.19.0-17-cloud-amd64', ['debian'], '10', false],
    ['4.19.0-17-rt-arm64', ['debian'], '10', false],
    ['4.9.0-13-amd64', ['debian'], '9', false],
    ['5.10.0-10-arm64', ['debian'], '11', false],
    ['6.1.0-13-amd64', ['debian'], '12', false],
    ['6.12.38+deb13-amd64', ['debian'], '13', true],
    ['6.12.38+deb13-cloud-arm64', ['debian'], '13', true],
    ['6.12.12+bpo-amd64', ['debian'], '12', false],
    ['4.19.0-0.bpo.19-cloud-amd64', ['debian'], '9', false],
    ['5.10.0-0.deb10.17-arm64', ['debian'], '10', true],
    ['6.1.0-0.deb11.13-amd64', ['debian'], '11', true],
    ['5.15.0-56-generic', ['ubuntu'], undefined, false],
    ['5.15.0-1019-aws', ['ubuntu'], undefined, false],
    ['5.4.0-1100-azure', ['ubuntu'], undefined, false],
    ['6.8.0-1008-gcp', ['ubuntu'], undefined, false],
    ['4.15.0-1030-aws', ['ubuntu'], undefined, false],
    ['6.8.0-31-generic-64k', ['ubuntu'], undefined, false],
    ['5.15.0-1034-raspi', ['ubuntu'], undefined, false],
  ];
  for (const [release, distros, version, versionCertain] of cases) {
    const hint = kernelReleaseHint(release);
    t.match(hint, { distros, version, versionCertain }, release);
    t.equal(hint?.version, version, `${release} release`);
  }
});

t.test('descriptions name what was recognized', async (t) => {
  t.equal(kernelReleaseHint('4.18.0-305.el8.x86_64')?.description, 'an Enterprise Linux 8 kernel (.el8)');
  t.equal(kernelReleaseHint('5.4.17-2136.307.3.1.el8uek.x86_64')?.description, 'an Oracle Linux UEK kernel (.el8uek)');
  t.equal(kernelReleaseHint('5.3.18-150300.59.63-default')?.description, 'a SLES 15.3 kernel (-150300.)');
  t.equal(kernelReleaseHint('4.19.0-0.bpo.19-amd64')?.description, 'a Debian 9 backport (4.19 series)');
  t.equal(kernelReleaseHint('5.10.0-0.deb10.17-arm64')?.description, 'a Debian 10 kernel (deb10)');
  t.equal(kernelReleaseHint('5.15.0-1019-aws')?.description, 'an Ubuntu kernel (-aws)');
});

t.test('other kernels give no hint', async (t) => {
  for (const release of ['6.6.1-arch1-1', '6.1.55-0-lts', '5.15.0-custom', '6.5.0', '5.15.0-56-mybuild', '4.4.73-5-default', 'electra']) {
    t.equal(kernelReleaseHint(release), null, release);
  }
});

t.test('a Debian series outside the table has no release', async (t) => {
  t.same(kernelReleaseHint('5.16.0-1-amd64'), {
    distros: ['debian'],
    versionCertain: false,
    description: 'a Debian kernel of the 5.16 series',
  });
  t.same(Object.values(DEBIAN_KERNEL_SERIES), ['8', '9', '10', '11', '12', '13']);
});
