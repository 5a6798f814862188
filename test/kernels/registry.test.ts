import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { Btf, parseBpfObject, trimBtf } from '../../src/btf/index.js';
import { openCatalog } from '../../src/catalog/index.js';
import { parseKernelKey, registerHostKernel, registerKernelsFromStore, type RegistrationProgress } from '../../src/kernels/registry.js';
import { FsObjectStore } from '../../src/storage/index.js';
import { sha256Hex } from '../../src/storage/integrity.js';
import { kernelContentKey } from '../../src/storage/keys.js';
import { loadFixtures } from '../helpers/fixtures.js';

const run = promisify(execFile);
const VMLINUX = '/sys/kernel/btf/vmlinux';
const hasVmlinux = await readFile(VMLINUX).then(
  () => true,
  () => false,
);

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-registry-'));
  const archive = join(dir, 'archive');
  const catalog = await openCatalog({ kind: 'sqlite', path: ':memory:' });
  await catalog.migrate();
  t.teardown(async () => {
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, archive, store: new FsObjectStore(archive), catalog };
}

async function put(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, data);
}

t.test('parseKernelKey', async (t) => {
  t.same(parseKernelKey('ubuntu/focal/aarch64/5.4.0-1-generic.btf.tar.xz'), {
    ok: true,
    ref: { distro: 'ubuntu', distroVersion: '20.04', arch: 'arm64', kernel: '5.4.0-1-generic' },
    format: 'btf.tar.xz',
  });
  t.match(parseKernelKey('centos/8/x86_64/4.18.0-80.el8.x86_64.btf'), { ok: true, format: 'btf', ref: { kernel: '4.18.0-80.el8.x86_64' } });
  t.equal(parseKernelKey('README.md'), null);
  t.equal(parseKernelKey('ubuntu/20.04/x86_64/5.4.0-1-generic.failed'), null);
  t.match(parseKernelKey('loose/kernel.btf'), { ok: false, reason: /layout/ });
  t.match(parseKernelKey('plan9/4/x86_64/k.btf'), { ok: false, reason: /distro/ });
  t.match(parseKernelKey('ubuntu/20.04/sparc/k.btf'), { ok: false, reason: /arch/ });
});

t.test('registers a BTFHub-layout archive directory', { skip: hasVmlinux ? false : `no ${VMLINUX}` }, async (t) => {
  const { dir, archive, store, catalog } = await setup(t);

  // ubuntu/20.04: a .btf.tar.xz made with tar, as BTFHub makes them; ubuntu/focal links to it.
  const tarball = join(archive, 'ubuntu/20.04/x86_64/5.4.0-1-generic.btf.tar.xz');
  await mkdir(join(dir, 'tar'), { recursive: true });
  await copyFile(VMLINUX, join(dir, 'tar', '5.4.0-1-generic.btf'));
  await mkdir(join(archive, 'ubuntu/20.04/x86_64'), { recursive: true });
  await run('tar', ['-C', join(dir, 'tar'), '-cJf', tarball, '5.4.0-1-generic.btf'], { env: { ...process.env, XZ_OPT: '-0' } });
  await symlink('20.04', join(archive, 'ubuntu/focal'));
  // debian/12: raw BTF.
  await mkdir(join(archive, 'debian/12/x86_64'), { recursive: true });
  await copyFile(VMLINUX, join(archive, 'debian/12/x86_64/6.1.0-1-amd64.btf'));
  // fedora/38: a corrupt file, reported and not registered.
  await put(join(archive, 'fedora/38/x86_64/6.2.9-300.fc38.x86_64.btf.tar.xz'), 'this is not an xz archive');
  await put(join(archive, 'fedora/38/x86_64/6.2.15-300.fc38.x86_64.btf'), (await readFile(VMLINUX)).subarray(0, 4096));
  // BTFHub markers and things that are not kernels.
  await put(join(archive, 'centos/8/x86_64/4.18.0-80.el8.x86_64.failed'), '');
  await put(join(archive, 'README.md'), '# archive');
  await put(join(archive, 'trimmed', `${'a'.repeat(64)}.btf`), 'x');
  await put(join(archive, 'objects', `${'b'.repeat(64)}.o`), 'x');
  await put(join(archive, 'loose/kernel.btf'), 'x');

  const progress: RegistrationProgress[] = [];
  const first = await registerKernelsFromStore(store, catalog, { onProgress: (p) => progress.push(p) });
  t.match(first, { added: 2, unchanged: 0, updated: 0, markers: 1, aliases: 0 });
  t.same(
    first.invalid.map((i) => i.key),
    ['fedora/38/x86_64/6.2.15-300.fc38.x86_64.btf', 'fedora/38/x86_64/6.2.9-300.fc38.x86_64.btf.tar.xz', 'loose/kernel.btf'],
    'corrupt files and bad layouts are reported by key',
  );
  t.ok(
    first.invalid.every((i) => i.reason.length > 0),
    'each with a reason',
  );
  t.match(first.invalid.find((i) => i.key.endsWith('.btf.tar.xz'))?.reason, /not raw BTF|xz/);
  t.equal(first.ignored, 3, 'README, trimmed/, objects/');
  t.equal(progress.length, 5);
  t.same(
    progress.map((p) => p.done).sort((a, b) => a - b),
    [1, 2, 3, 4, 5],
  );
  t.ok(progress.every((p) => p.total === 5));

  const { items, total } = await catalog.listKernels({}, { limit: 10, offset: 0 });
  t.equal(total, 2, 'the focal alias is registered once, the corrupt files not at all');
  const ubuntu = await catalog.getKernel({ distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-1-generic' });
  t.match(ubuntu, { storageKey: 'ubuntu/20.04/x86_64/5.4.0-1-generic.btf.tar.xz', size: (await readFile(tarball)).length });
  const debian = items.find((k) => k.distro === 'debian');
  t.match(debian, { distroVersion: '12', arch: 'x86_64', kernel: '6.1.0-1-amd64', storageKey: 'debian/12/x86_64/6.1.0-1-amd64.btf' });

  const second = await registerKernelsFromStore(store, catalog);
  t.match(second, { added: 0, unchanged: 2, updated: 0, markers: 1 }, 'a second run adds nothing');
  t.equal(second.invalid.length, 3);

  // A changed file is an update.
  const fx = await loadFixtures();
  const full = Btf.parse(await readFile(VMLINUX));
  const smaller = trimBtf(full, [parseBpfObject(fx.objects.get('tools_like')!.bytes, 'tools_like.bpf.o')]);
  await writeFile(join(archive, 'debian/12/x86_64/6.1.0-1-amd64.btf'), smaller);
  const third = await registerKernelsFromStore(store, catalog);
  t.match(third, { added: 0, unchanged: 1, updated: 1 });
  t.match(await catalog.getKernel(debian!), { size: smaller.length });

  // Only under a prefix.
  const ubuntuOnly = await registerKernelsFromStore(store, catalog, { prefix: 'ubuntu/' });
  t.match(ubuntuOnly, { added: 0, unchanged: 1, updated: 0, markers: 0, invalid: [] });
});

t.test('two spellings of one release in the store are registered once', async (t) => {
  const { archive, store, catalog } = await setup(t);
  const fx = await loadFixtures();
  const full = Btf.parse(fx.vmlinux);
  const btf = trimBtf(full, [parseBpfObject(fx.objects.get('field_offset')!.bytes, 'field_offset.bpf.o')]);
  // Not a symlink this time: two real directories (as an S3 copy of the archive would have).
  await put(join(archive, 'ubuntu/20.04/x86_64/5.4.0-1-generic.btf'), btf);
  await put(join(archive, 'ubuntu/focal/x86_64/5.4.0-1-generic.btf'), btf);
  const summary = await registerKernelsFromStore(store, catalog);
  t.match(summary, { added: 1, aliases: 1, invalid: [] });
  t.match(await catalog.getKernel({ distro: 'ubuntu', distroVersion: '20.04', arch: 'x86_64', kernel: '5.4.0-1-generic' }), {
    storageKey: 'ubuntu/20.04/x86_64/5.4.0-1-generic.btf',
  });
});

t.test('registerHostKernel', { skip: hasVmlinux ? false : `no ${VMLINUX}` }, async (t) => {
  const { dir, store, catalog } = await setup(t);
  const osRelease = join(dir, 'os-release');
  await writeFile(osRelease, 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n');
  const options = { osReleasePath: osRelease, unameRelease: '6.1.0-18-amd64', unameMachine: 'x86_64' };

  const first = await registerHostKernel(store, catalog, options);
  const ref = { distro: 'debian', distroVersion: '12', arch: 'x86_64', kernel: '6.1.0-18-amd64' };
  const hostBtf = new Uint8Array(await readFile(VMLINUX));
  t.match(first, { ref, storageKey: kernelContentKey(sha256Hex(hostBtf), 'btf'), outcome: 'added', stored: true, source: 'os-release' });
  t.equal(await store.head('debian/12/x86_64/6.1.0-18-amd64.btf'), null, 'stored by content, not at its identity key');
  const stored = await store.get(first.storageKey);
  t.ok(stored && Buffer.from(stored).equals(await readFile(VMLINUX)), 'the host BTF is in the store');
  t.match(await catalog.getKernel(ref), { storageKey: first.storageKey, size: stored!.length });

  const again = await registerHostKernel(store, catalog, options);
  t.match(again, { outcome: 'unchanged', stored: false }, 'idempotent');

  // A walk of the store for archive-layout kernels leaves it alone (a service prefix), and the row stays.
  t.match(await registerKernelsFromStore(store, catalog), { added: 0, unchanged: 0, updated: 0, ignored: 1, invalid: [] });
  t.match(await catalog.getKernel(ref), { storageKey: first.storageKey });

  // A BTF that does not decode is refused before anything is stored.
  const bad = join(dir, 'bad.btf');
  await writeFile(bad, 'garbage');
  await t.rejects(registerHostKernel(store, catalog, { ...options, btfPath: bad, unameRelease: '6.1.0-19-amd64' }), /bad\.btf/);
  t.equal(await store.head('debian/12/x86_64/6.1.0-19-amd64.btf'), null);
});
