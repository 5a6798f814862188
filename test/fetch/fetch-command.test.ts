/**
 * `btfhub fetch` as a whole, in-process: the order of the layers, falling through with a
 * reason (a corrupt file included), --offline, --trim, the environment, the report, the
 * atomic write, and the host identity only where it is needed.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { makeBtfTarXz } from '../../src/archive/kernel-btf.js';
import { fetchBtf } from '../../src/fetch/chain.js';
import { fail, startScriptedServer } from '../client/scripted-server.js';
import { loadFixtures, type FixtureSet } from '../helpers/fixtures.js';
import { fakeHost, HOST_KERNEL, HOST_KEY, put, runFetch, why } from './helpers.js';

const oracle = (fx: FixtureSet, name: string) => {
  const bytes = fx.oracle.single.get(name);
  if (bytes === undefined) throw new Error(`no bpftool output for ${name}`);
  return Buffer.from(bytes);
};
const object = (fx: FixtureSet, name = 'tools_like') => fx.objects.get(name)!.path;

/** A host with every local layer available: a configured file, the kernel's BTF, a bundle. */
async function everyLayer(t: Parameters<typeof fakeHost>[0], fx: FixtureSet) {
  const host = await fakeHost(t, { vmlinux: fx.vmlinuxPath });
  const configured = await put(join(host.dir, 'configured.btf'), fx.oracle.all);
  const bundle = join(host.dir, 'bundle');
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));
  return { ...host, configured, bundle, out: join(host.dir, 'out.btf') };
}

t.test('the first layer that answers wins; the others are not tried', async (t) => {
  const fx = await loadFixtures();
  const h = await everyLayer(t, fx);
  const server = await startScriptedServer(t);
  const args = ['--object', object(fx), '--out', h.out, '--json', '--root', h.root, '--dir', h.bundle, '--server', server.url];

  const first = await runFetch([...args, '--btf', h.configured]);
  t.equal(first.code, 0, why(first));
  const report = first.json();
  t.match(report, {
    ok: true,
    layer: 'configured',
    path: h.configured,
    out: h.out,
    size: fx.oracle.all.length,
    form: 'full',
    identity: null,
  });
  t.same(
    report.layers.map((l) => [l.layer, l.outcome]),
    [
      ['configured', 'answered'],
      ['kernel', 'not-tried'],
      ['bundle', 'not-tried'],
      ['service', 'not-tried'],
    ],
  );
  t.same(await readFile(h.out), Buffer.from(fx.oracle.all), 'the configured file, as it is');

  const second = await runFetch(args);
  t.equal(second.code, 0);
  const kernel = second.json();
  t.match(kernel, {
    ok: true,
    layer: 'kernel',
    path: join(h.root, 'sys/kernel/btf/vmlinux'),
    out: null,
    size: null,
    sha256: null,
    form: 'full',
    identity: null,
  });
  t.same(
    kernel.layers.map((l) => [l.layer, l.outcome]),
    [
      ['configured', 'skipped'],
      ['kernel', 'answered'],
      ['bundle', 'not-tried'],
      ['service', 'not-tried'],
    ],
  );
  t.match(kernel.layers[0], { reason: 'no BTF file configured (--btf, BTFHUB_BTF_PATH)' });
  t.match(kernel.layers[1], { detail: /the kernel has its own BTF: nothing to fetch/ });
  t.same(await readFile(h.out), Buffer.from(fx.oracle.all), 'nothing written: the earlier file is untouched');
  t.equal(server.requests.length, 0, 'the service was never asked');
});

t.test('--trim: the kernel’s own BTF trimmed here equals bpftool gen min_core_btf', async (t) => {
  const fx = await loadFixtures();
  const h = await everyLayer(t, fx);
  for (const name of ['tools_like', 'field_exists']) {
    const r = await runFetch(['--object', object(fx, name), '--out', h.out, '--root', h.root, '--trim']);
    t.equal(r.code, 0, why(r));
    t.same(await readFile(h.out), oracle(fx, name), `${name}: byte for byte`);
    t.match(r.stderr, /btfhub fetch: kernel: answered: .*vmlinux \(trimmed here from \d+ types to \d+ bytes\)/);
    t.match(r.stderr, new RegExp(`wrote ${oracle(fx, name).length} bytes of trimmed BTF to ${h.out.replace(/[.]/g, '\\.')}`));
  }
  const both = await runFetch(['--out', h.out, '--root', h.root, '--trim', object(fx, 'shared_a'), '--object', object(fx, 'shared_b')]);
  t.equal(both.code, 0, why(both));
  t.same(await readFile(h.out), Buffer.from(fx.oracle.sharedPair), 'objects as arguments and --object together');

  // A configured full BTF (here a BTFHub .btf.tar.xz) is trimmed the same way.
  const archive = await put(join(h.dir, `${HOST_KERNEL}.btf.tar.xz`), await makeBtfTarXz(HOST_KERNEL, fx.oracle.all));
  const configured = await runFetch(['--object', object(fx), '--out', h.out, '--btf', archive, '--trim']);
  t.equal(configured.code, 0, why(configured));
  t.same(await readFile(h.out), oracle(fx, 'tools_like'));
});

t.test('a corrupt file falls through to the next layer, with the codec’s reason', async (t) => {
  const fx = await loadFixtures();
  const truncated = fx.vmlinux.subarray(0, 4096);
  const h = await fakeHost(t, { vmlinux: truncated });
  const garbage = await put(join(h.dir, 'garbage.btf'), 'this is not BTF at all');
  const bundle = join(h.dir, 'bundle');
  const badMagic = Buffer.from(oracle(fx, 'tools_like'));
  badMagic[0] = 0;
  await put(join(bundle, `${HOST_KEY}.btf`), badMagic);
  const out = join(h.dir, 'out.btf');
  const args = ['--object', object(fx), '--out', out, '--json', '--root', h.root, '--btf', garbage, '--dir', bundle, '--offline'];

  const none = await runFetch(args);
  t.equal(none.code, 1);
  const report = none.json();
  t.match(report, { ok: false, layer: null, out: null });
  t.match(report.layers, [
    {
      layer: 'configured',
      outcome: 'failed',
      path: garbage,
      reason: /garbage\.btf does not decode as BTF: .*not raw BTF, an ELF file with \.BTF, or a \.btf\.tar\.xz/,
    },
    { layer: 'kernel', outcome: 'failed', reason: /vmlinux does not decode as BTF: BTF .*(truncated|outside|past)/ },
    { layer: 'bundle', outcome: 'failed', reason: new RegExp(`${HOST_KEY.replace(/\./g, '\\.')}\\.btf does not decode as BTF`) },
    { layer: 'service', outcome: 'skipped', reason: '--offline' },
  ]);
  await t.rejects(stat(out), { code: 'ENOENT' }, 'nothing written when nothing decodes');
  t.match(none.stderr, /btfhub fetch: no layer answered/);

  // Fix the bundle: it answers, the two corrupt layers stay in the report with their reasons.
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));
  const fixed = await runFetch(args);
  t.equal(fixed.code, 0, why(fixed));
  t.same(
    fixed.json().layers.map((l) => l.outcome),
    ['failed', 'failed', 'answered', 'not-tried'],
  );
  t.same(await readFile(out), oracle(fx, 'tools_like'));
  // Under --root, the report names the os-release file read: the one under the root.
  t.match(fixed.json().identity, {
    distro: 'ubuntu',
    distro_version: '22.04',
    arch: 'x86_64',
    kernel_version: HOST_KERNEL,
    source: 'os-release',
    os_release_path: join(h.root, 'etc/os-release'),
  });
  t.match(
    fixed.stderr,
    new RegExp(
      `host: ubuntu/22\\.04/x86_64/${HOST_KERNEL.replace(/\./g, '\\.')} \\(from ${join(h.root, 'etc/os-release').replace(/\./g, '\\.')}\\)`,
    ),
  );
});

t.test('a corrupt answer from the service is not written', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const out = join(h.dir, 'out.btf');
  await writeFile(out, 'the previous good file');
  const server = await startScriptedServer(t);
  server.script((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-btfhub-kernel': HOST_KEY });
    res.end('<html>a captive portal</html>');
  });
  const r = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--server', server.url]);
  t.equal(r.code, 1);
  t.match(r.stderr, /service: failed: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/btf does not decode as BTF/);
  t.equal(await readFile(out, 'utf8'), 'the previous good file', 'the old file is kept whole');
});

t.test('--offline never asks the service; BTFHUB_OFFLINE=1 too', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const server = await startScriptedServer(t);
  const out = join(h.dir, 'out.btf');
  const offline = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--server', server.url, '--offline', '--json']);
  t.equal(offline.code, 1);
  t.match(offline.json().layers[3], { layer: 'service', outcome: 'skipped', reason: '--offline' });
  const byEnv = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--json'], {
    env: { BTFHUB_URL: server.url, BTFHUB_OFFLINE: '1' },
  });
  t.equal(byEnv.code, 1);
  t.match(byEnv.json().layers[3], { outcome: 'skipped', reason: '--offline' });
  t.equal(server.requests.length, 0, 'no request reached the service');

  server.script(
    fail(503, 'unavailable', 'down', { headers: { 'retry-after': '0' } }),
    fail(503, 'unavailable', 'down', { headers: { 'retry-after': '0' } }),
  );
  const online = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--json'], {
    env: { BTFHUB_URL: server.url, BTFHUB_OFFLINE: '0' },
  });
  t.equal(online.code, 1);
  t.match(online.json().layers[3], { outcome: 'failed', reason: /503 unavailable: down \(after 2 attempts\)/ });
  t.equal(server.requests.length, 2, 'without --offline the service is asked (and retried)');
});

t.test('the environment configures the layers when flags do not', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const bundle = join(h.dir, 'bundle');
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));
  const configured = await put(join(h.dir, 'c.btf'), fx.oracle.all);
  const out = join(h.dir, 'out.btf');

  const byDir = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--json'], { env: { BTFHUB_BTF_DIR: bundle } });
  t.match(byDir.json(), { layer: 'bundle', path: join(bundle, `${HOST_KEY}.btf`), form: 'trimmed' });
  const byPath = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--json'], {
    env: { BTFHUB_BTF_PATH: configured, BTFHUB_BTF_DIR: bundle },
  });
  t.match(byPath.json(), { layer: 'configured', path: configured });
  const flagWins = await runFetch(['--object', object(fx), '--out', out, '--root', h.root, '--json', '--btf', join(h.dir, 'missing.btf')], {
    env: { BTFHUB_BTF_PATH: configured, BTFHUB_BTF_DIR: bundle },
  });
  t.match(flagWins.json(), { layer: 'bundle' });
  t.match(flagWins.json().layers[0], { outcome: 'failed', reason: /missing\.btf: no such file/ });
});

t.test('the identity is resolved only for layers 3 and 4, and its failure is their reason', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t, { osRelease: null, kernel: '6.6.1-arch1-1' });
  const configured = await put(join(h.dir, 'c.btf'), fx.oracle.all);
  const bundle = join(h.dir, 'bundle');
  const out = join(h.dir, 'out.btf');
  const base = ['--object', object(fx), '--out', out, '--root', h.root, '--json', '--dir', bundle, '--server', 'http://127.0.0.1:9'];

  const local = await runFetch([...base, '--btf', configured]);
  t.equal(local.code, 0, 'an unidentifiable host still gets its configured BTF');
  t.equal(local.json().identity, null);

  const none = await runFetch(base);
  t.equal(none.code, 1);
  const report = none.json();
  t.match(report.identity, {
    error: /cannot determine the distribution: kernel release 6\.6\.1-arch1-1 matches no known distribution kernel/,
  });
  t.match(report.layers[2], {
    layer: 'bundle',
    outcome: 'failed',
    reason: /^the host's identity is unknown: distro: no os-release file; cannot determine/,
  });
  t.match(report.layers[3], { layer: 'service', outcome: 'failed', reason: /^the host's identity is unknown/ });

  // Given explicitly, the identity is the flags'.
  await put(join(bundle, 'arch/rolling/x86_64/6.6.1-arch1-1.btf'), oracle(fx, 'tools_like'));
  const given = await runFetch([...base, '--distro', 'ubuntu', '--distro-version', '24.04']);
  t.equal(given.code, 1, 'arch is not an archive distro, so the flags must name one');
  await put(join(bundle, 'ubuntu/24.04/x86_64/6.6.1-arch1-1.btf'), oracle(fx, 'tools_like'));
  const ok = await runFetch([...base, '--distro', 'ubuntu', '--distro-version', 'noble', '--arch', 'amd64']);
  t.equal(ok.code, 0, why(ok));
  t.match(ok.json(), { layer: 'bundle', identity: { distro: 'ubuntu', distro_version: '24.04', arch: 'x86_64', source: 'override' } });
  t.match(ok.json().identity, { notes: [/kernel release from/, /arch amd64 given/, /distro ubuntu and release 24\.04 given/] });
});

t.test('output: stdout without --out, progress on stderr, --quiet', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const bundle = join(h.dir, 'bundle');
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));

  const toStdout = await runFetch(['--object', object(fx), '--root', h.root, '--dir', bundle]);
  t.equal(toStdout.code, 0);
  t.same(toStdout.stdoutBytes, oracle(fx, 'tools_like'));
  t.match(
    toStdout.stderr,
    /^btfhub fetch: configured: skipped: no BTF file configured.*\nbtfhub fetch: kernel: failed: .*no such file.*\nbtfhub fetch: host: ubuntu\/22\.04\/x86_64\/5\.15\.0-91-generic \(from \/.*\/etc\/os-release\).*\nbtfhub fetch: bundle: answered: .*\nbtfhub fetch: wrote \d+ bytes of trimmed BTF to stdout\n$/,
  );

  const quiet = await runFetch(['-q', '--object', object(fx), '--root', h.root, '--dir', bundle]);
  t.equal(quiet.stderr, '');
  const quietFail = await runFetch(['-q', '--object', object(fx), '--root', h.root]);
  t.equal(quietFail.code, 1);
  t.match(
    quietFail.stderr,
    /^btfhub fetch: no layer answered: configured: no BTF file configured .*; kernel: .*no such file.*; bundle: no bundle configured .*; service: no service configured .*\n$/,
  );

  const tty = await runFetch(['--object', object(fx), '--root', h.root, '--dir', bundle], {}, { stdoutIsTTY: true });
  t.equal(tty.code, 1);
  t.match(tty.stderr, /refusing to write binary BTF to a terminal/);
});

t.test('usage and input errors', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const noObject = await runFetch(['--out', join(h.dir, 'o')]);
  t.equal(noObject.code, 2);
  t.match(noObject.stderr, /give at least one BPF object/);
  const jsonNoOut = await runFetch(['--object', object(fx), '--json']);
  t.equal(jsonNoOut.code, 2);
  t.match(jsonNoOut.stderr, /--json prints the report on stdout: give --out PATH/);
  const badTimeout = await runFetch(['--object', object(fx), '--out', join(h.dir, 'o'), '--timeout', 'soon']);
  t.equal(badTimeout.code, 2);
  t.match(badTimeout.stderr, /--timeout needs a positive number of seconds/);
  const notAnObject = await put(join(h.dir, 'x.o'), 'not an ELF');
  const bad = await runFetch(['--object', notAnObject, '--out', join(h.dir, 'o'), '--root', h.root]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /x\.o: not an ELF file/);
  const missing = await runFetch(['--object', join(h.dir, 'none.o'), '--out', join(h.dir, 'o')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /none\.o: no such file/);
  const help = await runFetch(['--help']);
  t.equal(help.code, 0);
  for (const flag of [
    '--object',
    '--out',
    '--json',
    '--btf',
    '--dir',
    '--server',
    '--offline',
    '--trim',
    '--root',
    '--distro',
    '--distro-version',
    '--arch',
    '--kernel',
    '--timeout',
  ]) {
    t.match(help.stdout, flag, `help lists ${flag}`);
  }
});

t.test('--out into a missing directory creates it; a write that fails is in the --json report', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const bundle = join(h.dir, 'bundle');
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));
  const args = ['--object', object(fx), '--root', h.root, '--dir', bundle, '--json'];

  const deep = join(h.dir, 'not', 'yet', 'there', 'x.btf');
  const made = await runFetch([...args, '--out', deep]);
  t.equal(made.code, 0, why(made));
  t.same(await readFile(deep), oracle(fx, 'tools_like'), 'the directory made, the file written');
  t.match(made.json(), { ok: true, layer: 'bundle', out: deep, error: null });

  // A directory that cannot be made (a file is in the way): the layer answered, the report says why nothing was written.
  await put(join(h.dir, 'plain-file'), 'x');
  const blocked = join(h.dir, 'plain-file', 'sub', 'x.btf');
  const refused = await runFetch([...args, '--out', blocked]);
  t.equal(refused.code, 1);
  const report = refused.json();
  t.match(report, { ok: false, layer: 'bundle', out: null, size: oracle(fx, 'tools_like').length, form: 'trimmed' });
  t.match(
    report.error,
    new RegExp(`^cannot create the directory ${join(h.dir, 'plain-file', 'sub').replace(/\./g, '\\.')}: a parent is not a directory$`),
  );
  t.same(
    report.layers.map((l) => l.outcome),
    ['skipped', 'failed', 'answered', 'not-tried'],
    'every layer’s outcome is still there',
  );
  t.match(
    refused.stderr,
    /btfhub fetch: bundle answered, but cannot create the directory .*plain-file\/sub: a parent is not a directory\n$/,
  );

  // The write itself failing (here: the writer refuses) is reported the same way.
  const failing = await runFetch(
    [...args, '--out', join(h.dir, 'w.btf')],
    {},
    {
      writeFileAtomic: async (path) => {
        throw new Error(`${path}: no space left on device`);
      },
    },
  );
  t.equal(failing.code, 1);
  t.match(failing.json(), { ok: false, layer: 'bundle', error: `cannot write ${join(h.dir, 'w.btf')}: no space left on device` });
});

t.test('layer 2 without --trim checks the header only: a bad one still falls through', async (t) => {
  const fx = await loadFixtures();
  const badVersion = Buffer.from(fx.vmlinux);
  badVersion[2] = 7;
  const h = await fakeHost(t, { vmlinux: badVersion });
  const r = await runFetch(['--object', object(fx), '--root', h.root, '--offline', '--json', '--out', join(h.dir, 'o.btf')]);
  t.equal(r.code, 1);
  t.match(r.json().layers[1], {
    layer: 'kernel',
    outcome: 'failed',
    reason: /vmlinux does not decode as BTF: unsupported BTF version 7 at offset 2$/,
  });
  const good = await fakeHost(t, { vmlinux: fx.vmlinuxPath });
  const ok = await runFetch(['--object', object(fx), '--root', good.root, '--offline', '--json', '--out', join(good.dir, 'o.btf')]);
  t.equal(ok.code, 0);
  t.match(ok.json().layers[1], { layer: 'kernel', outcome: 'answered', detail: /nothing to fetch \(its header checked\)/ });
});

t.test('fetchBtf as a library: the write happens after decoding, through the given writer', async (t) => {
  const fx = await loadFixtures();
  const h = await fakeHost(t);
  const bundle = join(h.dir, 'bundle');
  await put(join(bundle, `${HOST_KEY}.btf`), oracle(fx, 'tools_like'));
  const writes: [string, number][] = [];
  const { report, btf } = await fetchBtf({
    objects: [{ name: 'tools_like', bytes: fx.objects.get('tools_like')!.bytes }],
    root: h.root,
    dir: bundle,
    out: '/somewhere/out.btf',
    write: async (path, data) => {
      writes.push([path, data.length]);
    },
  });
  t.same(writes, [['/somewhere/out.btf', oracle(fx, 'tools_like').length]]);
  t.same(Buffer.from(btf!), oracle(fx, 'tools_like'));
  t.match(report, { ok: true, layer: 'bundle', out: '/somewhere/out.btf', form: 'trimmed' });
  await t.rejects(fetchBtf({ objects: [], root: h.root }), TypeError);
});
