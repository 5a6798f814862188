/**
 * End to end: `btfhub fetch` on a host whose kernel has no BTF of its own gets it from a
 * btfhub-online service started here (buildApp over a filesystem store, SQLite and the
 * in-process queue, listening on 127.0.0.1), and the file it writes equals what bpftool
 * gen min_core_btf makes of the same kernel BTF and objects. Both ways the service can
 * answer: at once (200), and with a 202 that fetch follows through the job.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runBpftoolMinCore, type FixtureSet } from '../helpers/fixtures.js';
import { RAW_KERNEL, setupApi } from '../api/helpers.js';
import { fakeHost, runFetch, why } from './helpers.js';

/** A service with the fixture kernel registered as `ubuntu/22.04/x86_64/5.15.0-91-generic`, on a real port. */
async function startService(
  t: Test,
  requestWaitMs: number,
): Promise<{ url: string; fixtures: FixtureSet; countTrims: () => Promise<number> }> {
  const api = await setupApi(t, { requestWaitMs });
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = api.app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, fixtures: api.fixtures, countTrims: () => api.catalog.countTrims() };
}

/** bpftool's output for these objects on the fixture kernel: recorded at fixture build, and re-run when bpftool is here. */
async function bpftool(t: Test, fx: FixtureSet, names: string[]): Promise<Buffer> {
  const recorded =
    names.length === 1 ? fx.oracle.single.get(names[0]!) : names.join(',') === 'shared_a,shared_b' ? fx.oracle.sharedPair : undefined;
  if (recorded === undefined) throw new Error(`no recorded bpftool output for ${names.join(', ')}`);
  if (fx.hasBpftool) {
    const live = await runBpftoolMinCore(
      fx.vmlinuxPath,
      names.map((n) => fx.objects.get(n)!.path),
    );
    if (!live.ok) throw new Error(`bpftool failed: ${live.stderr}`);
    t.same(Buffer.from(live.btf), Buffer.from(recorded), `bpftool run now agrees with the recorded output for ${names.join(', ')}`);
  }
  return Buffer.from(recorded);
}

t.test('fetch gets the trimmed BTF from the service: equal to bpftool’s', async (t) => {
  const service = await startService(t, 30_000);
  const fx = service.fixtures;
  // The host: Ubuntu 22.04 running the fixture kernel's release, no /sys/kernel/btf/vmlinux.
  const host = await fakeHost(t, { kernel: RAW_KERNEL.kernel });
  const out = join(host.dir, 'vmlinux.btf');

  const r = await runFetch([
    '--object',
    fx.objects.get('tools_like')!.path,
    '--out',
    out,
    '--root',
    host.root,
    '--server',
    service.url,
    '--json',
  ]);
  t.equal(r.code, 0, why(r));
  t.same(await readFile(out), await bpftool(t, fx, ['tools_like']), 'byte for byte');
  const report = r.json();
  t.match(report, {
    ok: true,
    layer: 'service',
    path: `${service.url}/api/v1/btf`,
    out,
    form: 'trimmed',
    identity: { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: RAW_KERNEL.kernel, source: 'os-release' },
  });
  t.same(
    report.layers.map((l) => [l.layer, l.outcome]),
    [
      ['configured', 'skipped'],
      ['kernel', 'failed'],
      ['bundle', 'skipped'],
      ['service', 'answered'],
    ],
  );
  t.match(report.layers[3], { detail: /^trimmed on request, kernel ubuntu\/22\.04\/x86_64\/5\.15\.0-91-generic, sha256 [0-9a-f]{64}$/ });

  // The same again is a cache hit; two objects at once through BTFHUB_URL.
  const again = await runFetch([
    '--object',
    fx.objects.get('tools_like')!.path,
    '--out',
    out,
    '--root',
    host.root,
    '--server',
    service.url,
    '--json',
  ]);
  t.match(again.json().layers[3], { detail: /^cache hit/ });
  t.equal(await service.countTrims(), 1, 'one trim for the two requests');
  const pair = await runFetch(['--out', out, '--root', host.root, fx.objects.get('shared_a')!.path, fx.objects.get('shared_b')!.path], {
    env: { BTFHUB_URL: service.url },
  });
  t.equal(pair.code, 0, why(pair));
  t.same(await readFile(out), await bpftool(t, fx, ['shared_a', 'shared_b']), 'two objects, byte for byte');
});

t.test('a 202 is followed through GET /api/v1/jobs/{id} until the trim is done', async (t) => {
  const service = await startService(t, 0);
  const fx = service.fixtures;
  const host = await fakeHost(t, { kernel: RAW_KERNEL.kernel });
  const out = join(host.dir, 'vmlinux.btf');
  const r = await runFetch([
    '--object',
    fx.objects.get('field_exists')!.path,
    '--out',
    out,
    '--root',
    host.root,
    '--server',
    service.url,
    '--timeout',
    '60',
  ]);
  t.equal(r.code, 0, why(r));
  t.match(r.stderr, /service: the service is still trimming \(job [0-9a-f]{64}\); following it/);
  t.match(r.stderr, /service: answered: .* \(job [0-9a-f]{64}, kernel ubuntu\/22\.04\/x86_64\/5\.15\.0-91-generic/);
  t.same(await readFile(out), await bpftool(t, fx, ['field_exists']), 'byte for byte');
});

t.test('a kernel the service does not have: the reason says so, nothing is written', async (t) => {
  const service = await startService(t, 30_000);
  const fx = service.fixtures;
  const host = await fakeHost(t, { kernel: '5.15.0-1-generic' });
  const out = join(host.dir, 'vmlinux.btf');
  const r = await runFetch([
    '--object',
    fx.objects.get('tools_like')!.path,
    '--out',
    out,
    '--root',
    host.root,
    '--server',
    service.url,
    '--json',
  ]);
  t.equal(r.code, 1);
  t.match(r.json().layers[3], {
    outcome: 'failed',
    reason: /^the service has no BTF for this kernel: no BTF for kernel ubuntu\/22\.04\/x86_64\/5\.15\.0-1-generic/,
  });
  await t.rejects(readFile(out), { code: 'ENOENT' });
});
