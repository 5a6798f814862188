/**
 * Compatibility reports over the test archive (test/helpers/test-archive.ts): every kernel
 * gives exactly the relocation outcomes its variant was built to produce, the summary
 * counts equal the archive's files, and `btfhub compat` prints them.
 */
import { basename } from 'node:path';
import t from 'tap';
import { Btf, parseBpfObject, type BpfObject } from '../../src/btf/index.js';
import type { CompatReportBody } from '../../src/cli/compat-report.js';
import { runCli } from '../../src/cli/run.js';
import { compatReport, kernelCompat, listRelocations, type CompatReport, type RelocationClass } from '../../src/coverage/compat.js';
import { archiveKernels, type KernelProgress } from '../../src/coverage/kernel-source.js';
import { expectedClasses } from '../../src/coverage/variants.js';
import { FsObjectStore } from '../../src/storage/index.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { testArchive } from '../helpers/test-archive.js';

const fx = await loadFixtures();
const archive = await testArchive();
const toolsLike = fx.objects.get('tools_like')!;
const objects: BpfObject[] = [parseBpfObject(toolsLike.bytes, 'tools_like.bpf.o')];
const { kernels, skipped } = await archiveKernels(new FsObjectStore(archive.dir));
const progress: KernelProgress[] = [];
const report = await compatReport(kernels, objects, { onProgress: (p) => progress.push(p) });
const base = kernelCompat(Btf.parse(fx.vmlinux), objects, report.relocations).results.map((r) => r.class);
const label = (k: { ref: { distro: string; distroVersion: string; arch: string; kernel: string } }) =>
  `${k.ref.distro}/${k.ref.distroVersion}/${k.ref.arch}/${k.ref.kernel}`;

t.test('the listing is the archive: kernels once (the focal alias too), markers and README left out', async (t) => {
  t.same(kernels.map((k) => k.source), [...archive.kernels.map((k) => k.key), archive.corruptKey].sort());
  t.same(skipped, [], 'nothing in the layout with a bad name');
  t.equal(progress.length, kernels.length);
  t.same(progress.at(-1), { done: kernels.length, total: kernels.length, failed: 2, kernel: kernels.at(-1)!.ref });
});

t.test('every variant kernel gives exactly the outcomes its edits imply', async (t) => {
  t.equal(report.relocations.length, 145);
  for (const k of archive.kernels) {
    const got = report.kernels.find((r) => r.source === k.key)!;
    const want = expectedClasses(report.relocations, base, k.rules);
    t.same(got.results.map((r) => r.class), want, `${k.path} (${k.variants.join(' + ')})`);
    // The history edits change outcomes (the kernels really differ); unrelated renames do not.
    const changed = want.filter((c, i) => c !== base[i]).length;
    if (k.variants.every((v) => v === 'base' || v.startsWith('unrelated-'))) t.equal(changed, 0, `${k.path}: same outcomes as the base kernel`);
    else t.ok(changed > 0, `${k.path}: ${changed} outcomes differ from the base kernel`);
  }
});

t.test('outcome details: values, reasons, refused objects', async (t) => {
  const byPath = (path: string) => report.kernels.find((k) => label(k) === path)!;
  const index = (path: string) => report.relocations.findIndex((r) => r.path === path && r.kind === 'byte_off');
  const old = byPath('ubuntu/20.04/x86_64/5.4.0-42-generic');
  t.match(old.results[index('task_struct.__state')], { class: 'field_missing', value: null, reason: /no field task_struct.__state/ });
  t.match(old.results[index('task_struct.state')], { class: 'resolved', value: 24 });
  const debian = byPath('debian/12/x86_64/6.1.0-9-amd64');
  t.match(debian.results[index('gendisk.major')], { class: 'type_missing', reason: /no type named gendisk/ });
  const enumIndex = report.relocations.findIndex((r) => r.path === 'oom_constraint::CONSTRAINT_MEMCG');
  t.match(byPath('debian/12/arm64/6.1.0-9-arm64').results[enumIndex], { class: 'enum_missing', value: null });
  t.match(byPath('ubuntu/24.04/x86_64/6.11.0-8-generic').results[enumIndex], { class: 'resolved', value: 3 });
  const fedora = byPath('fedora/40/x86_64/6.8.5-301.fc40.x86_64');
  t.same(fedora.failedObjects, ['tools_like.bpf.o']);
  t.match(fedora.results[index('cfs_rq.nr_queued')], { class: 'ambiguous', reason: /field offset ambiguity/ });
  t.equal(fedora.counts.ambiguous, 1, 'the relocations after the refused one are still resolved');
  t.equal(fedora.counts.resolved + fedora.counts.field_missing, 144);
  const corrupt = report.kernels.find((k) => k.source === archive.corruptKey)!;
  t.match(corrupt, { loadError: /amzn\/2\/x86_64\/5\.10\.0-1\.amzn2\.x86_64\.btf\.tar\.xz: xz/, results: [] });
});

t.test('summary counts equal the archive', async (t) => {
  const total = (r: CompatReport, f: (g: CompatReport['groups'][number]) => number) => r.groups.reduce((n, g) => n + f(g), 0);
  t.equal(total(report, (g) => g.kernels), archive.kernels.length + 1, 'every kernel file, the corrupt one included');
  t.equal(total(report, (g) => g.unreadable), 1);
  t.equal(total(report, (g) => g.loadable), archive.kernels.length - 1, 'all but the ambiguous kernel load');
  t.same(
    report.groups.map((g) => `${g.distro}/${g.distroVersion}/${g.arch}:${g.kernels}`),
    ['amzn/2/x86_64:1', 'centos/8/x86_64:1', 'debian/12/arm64:1', 'debian/12/x86_64:1', 'fedora/40/x86_64:1',
      'ubuntu/20.04/arm64:1', 'ubuntu/20.04/x86_64:2', 'ubuntu/24.04/arm64:1', 'ubuntu/24.04/x86_64:2'],
  );
  const ubuntuOld = report.groups.find((g) => g.distroVersion === '20.04' && g.arch === 'x86_64')!;
  t.same(ubuntuOld.relocations, { resolved: 276, field_missing: 14, type_missing: 0, enum_missing: 0, ambiguous: 0, error: 0 });
  // byRelocation sums the per-kernel classes.
  const classes: RelocationClass[] = ['resolved', 'field_missing', 'type_missing', 'enum_missing', 'ambiguous', 'error'];
  report.byRelocation.forEach((counts, i) => {
    const sum = classes.reduce((n, c) => n + counts[c], 0);
    if (sum !== archive.kernels.length) t.fail(`relocation ${i}: counts sum to ${sum}`);
  });
});

t.test('relocation paths name members through anonymous unions, arrays and flavors', async (t) => {
  const paths = new Set(listRelocations(objects).map((r) => r.path));
  for (const p of ['task_struct.real_parent', 'trace_event_raw_sys_enter.args[1]', 'sock.__sk_common.skc_daddr', 'inode.__i_ctime.tv_sec']) {
    t.ok(paths.has(p), p);
  }
  const daddr = listRelocations(objects).find((r) => r.path === 'sock.__sk_common.skc_daddr')!;
  t.same(daddr.steps, [{ struct: 'sock', member: '__sk_common' }, { struct: 'sock_common', member: 'skc_daddr' }]);
});

t.test('btfhub compat prints the table, or the whole report as JSON', async (t) => {
  const run = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const status = await runCli(argv, { stdout: { write: (s) => (stdout += String(s)) }, stderr: { write: (s) => (stderr += String(s)) } });
    return { status, stdout, stderr };
  };
  const table = await run(['compat', '--archive', archive.dir, '--distro', 'Ubuntu', '--distro-version', 'focal', toolsLike.path]);
  t.equal(table.status, 1, 'task_struct.__state does not resolve on focal: the default gate (--fail-on unresolved) fails');
  t.match(table.stderr, /btfhub compat: failed \(--fail-on unresolved\): \d+ relocations fail on 3 of 3 kernels/);
  t.match(table.stdout, /^tools_like\.bpf\.o \(145 relocations\) on 3 kernels of fs:/);
  t.match(table.stdout, /ubuntu\s+20\.04\s+x86_64\s+2\s+2\s+0\s+2\s+0/);
  t.match(table.stdout, /byte_off\s+task_struct\.__state\s+field_missing 3/);
  t.notMatch(table.stdout, /24\.04/);

  const json = await run(['compat', '--archive', archive.dir, '--arch', 'aarch64', '--json', '--fail-on', 'never', toolsLike.path]);
  t.equal(json.status, 0, json.stderr);
  // The report has the API's shape (openapi.yaml CompatReport), as `--server` prints it.
  const parsed = JSON.parse(json.stdout) as CompatReportBody;
  t.same(parsed.kernels.map((k) => k.arch), ['arm64', 'arm64', 'arm64']);
  t.same(parsed.filter, { arch: 'arm64' });
  t.equal(parsed.kernels[0]!.results.length, 145);
  t.equal(basename(parsed.objects[0]!.name), 'tools_like.bpf.o');

  const all = await run(['compat', '--archive', archive.dir, toolsLike.path]);
  t.match(all.stdout, /kernels where libbpf would refuse an object:\n {2}fedora\/40\/x86_64\/6\.8\.5-301\.fc40\.x86_64: .*ambiguity/);
  t.match(all.stdout, /kernels that could not be read:\n {2}amzn\/2\/x86_64\/5\.10\.0-1\.amzn2\.x86_64\.btf\.tar\.xz: xz: /);

  t.match(await run(['compat', '--archive', archive.dir, '--distro-version', '20.04', toolsLike.path]), { status: 2, stderr: /--distro-version needs --distro/ });
  t.match(await run(['compat', '--archive', archive.dir, '--distro', 'plan9', toolsLike.path]), { status: 2, stderr: /distro: "plan9" is not supported/ });
  t.match(await run(['compat', '--archive', archive.dir, '--kernel', '9.9', toolsLike.path]), { status: 2, stderr: /no kernel in fs:.* matches/ });
});

t.test('a store that cannot be read fails the report; a bad file does not', async (t) => {
  const broken = { ref: kernels[0]!.ref, source: 'x', load: () => Promise.reject(new TypeError('store unreachable')) };
  await t.rejects(compatReport([kernels[1]!, broken], objects), /store unreachable/);
});
