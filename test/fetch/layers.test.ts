/**
 * Each lookup layer on its own: what it answers, and the reason it gives when it cannot.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { makeBtfTarXz } from '../../src/archive/kernel-btf.js';
import { writeSingleFileTar } from '../../src/archive/tar-write.js';
import { bundleLayer } from '../../src/fetch/bundle.js';
import { configuredLayer } from '../../src/fetch/configured.js';
import { btfHeaderProblem, kernelLayer } from '../../src/fetch/kernel.js';
import { serviceLayer } from '../../src/fetch/service.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { startScriptedServer, fail } from '../client/scripted-server.js';
import { fakeHost, HOST_KERNEL, HOST_KEY, put } from './helpers.js';

const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: HOST_KERNEL };
const hasTar = (() => {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('layer 1, configured: the file, or why not', async (t) => {
  const { dir } = await fakeHost(t);
  t.same(await configuredLayer({ path: undefined }), {
    ok: false,
    skipped: true,
    reason: 'no BTF file configured (--btf, BTFHUB_BTF_PATH)',
  });
  t.same(await configuredLayer({ path: '' }), { ok: false, skipped: true, reason: 'no BTF file configured (--btf, BTFHUB_BTF_PATH)' });
  const missing = join(dir, 'none.btf');
  t.same(await configuredLayer({ path: missing }), { ok: false, skipped: false, reason: `${missing}: no such file` });
  t.same(await configuredLayer({ path: dir }), { ok: false, skipped: false, reason: `${dir}: is a directory` });
  const file = await put(join(dir, 'x.btf'), 'bytes');
  t.match(await configuredLayer({ path: file }), { ok: true, path: file, form: 'full', bytes: Buffer.from('bytes') });
});

t.test('layer 2, kernel: <root>/sys/kernel/btf/vmlinux', async (t) => {
  const fx = await loadFixtures();
  const without = await fakeHost(t);
  t.same(await kernelLayer({ root: without.root }), {
    ok: false,
    skipped: false,
    reason: `${join(without.root, 'sys/kernel/btf/vmlinux')}: no such file (a kernel without CONFIG_DEBUG_INFO_BTF)`,
  });
  const empty = await fakeHost(t, { vmlinux: new Uint8Array() });
  t.match(await kernelLayer({ root: empty.root }), { ok: false, reason: /vmlinux: empty$/ });
  const withBtf = await fakeHost(t, { vmlinux: fx.vmlinuxPath });
  const found = await kernelLayer({ root: withBtf.root });
  t.match(found, { ok: true, path: join(withBtf.root, 'sys/kernel/btf/vmlinux'), form: 'full' });
  t.equal(found.ok && found.bytes.length, fx.vmlinux.length);
});

t.test('layer 2 header only: the 24-byte header checked against the file size', async (t) => {
  const fx = await loadFixtures();
  const withBtf = await fakeHost(t, { vmlinux: fx.vmlinuxPath });
  const found = await kernelLayer({ root: withBtf.root, headerOnly: true });
  t.match(found, { ok: true, form: 'full', checked: 'header' });
  t.equal(found.ok && found.bytes.length, 24, 'only the header was read');
  t.equal(btfHeaderProblem(fx.vmlinux.subarray(0, 24), fx.vmlinux.length), undefined);

  const header = () => Buffer.from(fx.vmlinux.subarray(0, 24));
  const le = (b: Buffer, off: number, v: number) => (b.writeUInt32LE(v, off), b);
  const size = fx.vmlinux.length;
  t.equal(btfHeaderProblem(header().subarray(0, 10), size), 'BTF header truncated: 10 bytes, need 24');
  t.equal(btfHeaderProblem(Buffer.alloc(24), size), 'bad BTF magic 0x0 at offset 0');
  t.equal(btfHeaderProblem(le(header(), 4, 8), size), 'BTF hdr_len 8 at offset 4 is smaller than 24');
  t.equal(btfHeaderProblem(le(header(), 8, 2), size), 'BTF type_off 2 is not 4-byte aligned');
  t.match(
    btfHeaderProblem(le(header(), 12, 0x7fffffff), size),
    /^BTF type section \[0, \+2147483647\) overlaps the string section at \d+$/,
  );
  t.equal(btfHeaderProblem(le(header(), 20, 0), size), 'BTF string section is empty');
  t.match(
    btfHeaderProblem(header(), size - 1),
    new RegExp(`^BTF string section ends at byte ${size}, past the end of the file \\(${size - 1} bytes\\)$`),
  );
  // The same header in big-endian byte order is a valid header too.
  const be = Buffer.alloc(24);
  const view = new DataView(fx.vmlinux.buffer, fx.vmlinux.byteOffset);
  be.writeUInt16BE(0xeb9f, 0);
  be[2] = 1;
  for (const off of [4, 8, 12, 16, 20]) be.writeUInt32BE(view.getUint32(off, true), off);
  t.equal(btfHeaderProblem(be, size), undefined);

  const empty = await fakeHost(t, { vmlinux: new Uint8Array() });
  t.match(await kernelLayer({ root: empty.root, headerOnly: true }), { ok: false, reason: /vmlinux: empty$/ });
  const none = await fakeHost(t);
  t.match(await kernelLayer({ root: none.root, headerOnly: true }), {
    ok: false,
    reason: /no such file \(a kernel without CONFIG_DEBUG_INFO_BTF\)$/,
  });
});

t.test('layer 3, bundle directory: the exact kernel only, with what else it has', async (t) => {
  const fx = await loadFixtures();
  const { dir } = await fakeHost(t);
  t.same(await bundleLayer({ location: undefined, kernel: KERNEL }), {
    ok: false,
    skipped: true,
    reason: 'no bundle configured (--dir, BTFHUB_BTF_DIR)',
  });
  t.match(await bundleLayer({ location: join(dir, 'nowhere'), kernel: KERNEL }), {
    ok: false,
    skipped: false,
    reason: /nowhere: no such file$/,
  });

  const bundle = join(dir, 'bundle');
  const trimmed = fx.oracle.single.get('tools_like')!;
  await put(join(bundle, 'ubuntu/22.04/x86_64/5.15.0-92-generic.btf'), trimmed);
  await put(join(bundle, 'ubuntu/22.04/x86_64/5.15.0-90-generic.btf'), trimmed);
  t.same(await bundleLayer({ location: bundle, kernel: KERNEL }), {
    ok: false,
    skipped: false,
    reason: `no ${HOST_KEY}.btf in ${bundle} (it has 2 other kernels for ubuntu/22.04/x86_64; only the exact kernel is used)`,
  });
  t.match(await bundleLayer({ location: bundle, kernel: { ...KERNEL, distroVersion: '20.04' } }), {
    reason: /it has no kernels for ubuntu\/20\.04\/x86_64/,
  });

  await put(join(bundle, `${HOST_KEY}.btf`), trimmed);
  const hit = await bundleLayer({ location: bundle, kernel: KERNEL });
  t.match(hit, { ok: true, path: join(bundle, `${HOST_KEY}.btf`), form: 'trimmed' });
  t.same(hit.ok && Buffer.from(hit.bytes), Buffer.from(trimmed));
});

t.test('layer 3, a BTFHub archive directory: <kernel>.btf.tar.xz is the full BTF', async (t) => {
  const fx = await loadFixtures();
  const { dir } = await fakeHost(t);
  const archive = await makeBtfTarXz(HOST_KERNEL, fx.oracle.all);
  await put(join(dir, 'archive', `${HOST_KEY}.btf.tar.xz`), archive);
  const hit = await bundleLayer({ location: join(dir, 'archive'), kernel: KERNEL });
  t.match(hit, { ok: true, path: join(dir, 'archive', `${HOST_KEY}.btf.tar.xz`), form: 'full' });
});

t.test('layer 3, a .tar.gz bundle: entries found under any top directory', async (t) => {
  const fx = await loadFixtures();
  const { dir } = await fakeHost(t);
  const trimmed = fx.oracle.single.get('tools_like')!;
  const single = await put(join(dir, 'single.tar.gz'), gzipSync(writeSingleFileTar(`${HOST_KEY}.btf`, trimmed)));
  const hit = await bundleLayer({ location: single, kernel: KERNEL });
  t.match(hit, { ok: true, path: `${single}:${HOST_KEY}.btf`, form: 'trimmed' });
  t.same(hit.ok && Buffer.from(hit.bytes), Buffer.from(trimmed));
  t.match(await bundleLayer({ location: single, kernel: { ...KERNEL, kernel: '5.15.0-1-generic' } }), {
    ok: false,
    reason:
      /^no ubuntu\/22\.04\/x86_64\/5\.15\.0-1-generic\.btf in .*single\.tar\.gz \(it has 1 other kernel for ubuntu\/22\.04\/x86_64; only the exact kernel is used\)$/,
  });

  t.test('made by tar, with ./ and a top directory', { skip: hasTar ? false : 'no tar command' }, async (t) => {
    const tree = join(dir, 'tree');
    await put(join(tree, 'btf', `${HOST_KEY}.btf`), trimmed);
    await put(join(tree, 'btf', 'debian/11/arm64/5.10.0-26-arm64.btf'), trimmed);
    const dotted = join(dir, 'dotted.tar.gz');
    execFileSync('tar', ['-czf', dotted, '-C', join(tree, 'btf'), '.']);
    t.match(await bundleLayer({ location: dotted, kernel: KERNEL }), { ok: true, path: `${dotted}:./${HOST_KEY}.btf` });
    const topDir = join(dir, 'top.tgz');
    execFileSync('tar', ['-czf', topDir, '-C', tree, 'btf']);
    t.match(await bundleLayer({ location: topDir, kernel: KERNEL }), { ok: true, path: `${topDir}:btf/${HOST_KEY}.btf` });
  });

  const notGzip = await put(join(dir, 'plain.tar'), writeSingleFileTar('x.btf', trimmed));
  t.match(await bundleLayer({ location: notGzip, kernel: KERNEL }), {
    ok: false,
    reason: /plain\.tar: neither a directory nor a \.tar\.gz \(no gzip magic\)$/,
  });
  const corrupt = await put(join(dir, 'corrupt.tar.gz'), Buffer.concat([gzipSync(writeSingleFileTar('x.btf', trimmed)).subarray(0, 40)]));
  t.match(await bundleLayer({ location: corrupt, kernel: KERNEL }), { ok: false, reason: /corrupt\.tar\.gz: cannot gunzip: / });
  const notTar = await put(join(dir, 'text.tar.gz'), gzipSync(Buffer.from('just text, not a tar archive')));
  t.match(await bundleLayer({ location: notTar, kernel: KERNEL }), { ok: false, reason: /text\.tar\.gz: .*tar/i });
});

t.test('layer 4, service: skipped offline or unconfigured; failures as reasons', async (t) => {
  const objects = [{ name: 'o', bytes: new Uint8Array([1]) }];
  t.same(await serviceLayer({ server: 'http://127.0.0.1:1', offline: true, kernel: KERNEL, objects }), {
    ok: false,
    skipped: true,
    reason: '--offline',
  });
  t.same(await serviceLayer({ server: undefined, kernel: KERNEL, objects }), {
    ok: false,
    skipped: true,
    reason: 'no service configured (--server, BTFHUB_URL)',
  });
  t.match(await serviceLayer({ server: 'ftp://x', kernel: KERNEL, objects }), {
    ok: false,
    skipped: false,
    reason: /ftp:\/\/x: not a service URL/,
  });

  const server = await startScriptedServer(t);
  server.script(fail(404, 'kernel_not_found', `no BTF for kernel ${HOST_KEY}`));
  t.same(await serviceLayer({ server: server.url, kernel: KERNEL, objects }), {
    ok: false,
    skipped: false,
    reason: `the service has no BTF for this kernel: no BTF for kernel ${HOST_KEY}`,
  });
  server.script(fail(500, 'internal_error', 'internal error'), fail(500, 'internal_error', 'internal error'));
  const lines: string[] = [];
  const failing = await serviceLayer({
    server: server.url,
    kernel: KERNEL,
    objects,
    client: { maxAttempts: 2, backoffBaseMs: 1 },
    log: (line) => lines.push(line),
  });
  t.match(failing, { ok: false, reason: /POST http:.*\/api\/v1\/btf: 500 internal_error: internal error \(after 2 attempts\)/ });
  t.match(lines, [/POST .*: 500, retry in \d+ ms/]);
});
