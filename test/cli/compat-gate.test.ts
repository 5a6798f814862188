/**
 * `btfhub compat` as a CI gate: against a real service listening on 127.0.0.1 (the test
 * archive's kernels, compat jobs in-process, answered as 202 + job so the job is followed),
 * and against the same archive read locally: the same report, the same gate, the four
 * formats (JUnit checked by a strict XML reader), exit 0/1/2, a dead port, usage errors.
 */
import { createServer } from 'node:net';
import t from 'tap';
import { parseBpfObject } from '../../src/btf/index.js';
import { createCompatCommand } from '../../src/cli/commands/compat.js';
import { EXISTENCE_CHECKS, renderJunit, type CompatReportBody } from '../../src/cli/compat-report.js';
import { runCli } from '../../src/cli/run.js';
import { listRelocations } from '../../src/coverage/compat.js';
import { fixtureObject } from '../api/helpers.js';
import { labelOf, setupCoverageApi } from '../api/coverage-setup.js';
import { findAll, parseXml, type XmlElement } from './fixtures/xml.js';

// requestWaitMs 0: every POST /api/v1/compat answers 202 and the CLI follows the job.
const api = await setupCoverageApi(t, { requestWaitMs: 0 });
const { app, archive, fixtures } = api;
const address = await app.listen({ host: '127.0.0.1', port: 0 });
const toolsLike = fixtures.objects.get('tools_like')!;
const relocations = listRelocations([parseBpfObject(fixtureObject(fixtures, 'tools_like').bytes, toolsLike.path)]);

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

async function compat(argv: string[], options: { tty?: boolean } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const stderrStream = { write: (s: string | Uint8Array) => (stderr += String(s)), isTTY: options.tty === true, columns: 120 };
  const command = createCompatCommand({ client: { backoffBaseMs: 5, backoffMaxMs: 20 } });
  const status = await runCli(['compat', ...argv], { stdout: { write: (s) => (stdout += String(s)) }, stderr: stderrStream }, [command]);
  return { status, stdout, stderr };
}

const json = await compat(['--server', address, '--format', 'json', '--fail-on', 'never', toolsLike.path]);
const report = JSON.parse(json.stdout) as CompatReportBody;

t.test('--server: the service’s report, its job followed to the end', async (t) => {
  t.equal(archive.kernels.length, 10, 'the test archive registers 10 kernels (the counts below)');
  t.equal(json.status, 0, json.stderr);
  t.match(report.job_id, /^compat-[0-9a-f]{64}$/, 'a job, not an immediate answer');
  t.same(report.objects, [{ name: 'tools_like.bpf.o', relocations: 145 }], 'the file name the object was sent as');
  t.same(
    report.relocations.map((r) => `${r.section}#${r.index} ${r.path}`),
    relocations.map((r) => `${r.section}#${r.index} ${r.path}`),
  );
  t.same(report.kernels.map(labelOf).sort(), archive.kernels.map((k) => k.path).sort(), 'every kernel the service registered');
  t.match(json.stderr, /^btfhub compat: gate off \(--fail-on never\): 10 kernels checked\n$/);
  t.notMatch(json.stderr, /\r/, 'no progress line when stderr is not a terminal');
});

t.test('the gate: exit 1 when something fails --fail-on, 0 when nothing does', async (t) => {
  const unresolved = await compat(['--server', address, toolsLike.path]);
  t.equal(unresolved.status, 1, 'default --fail-on unresolved: field_missing on the old kernels');
  t.match(unresolved.stderr, /failed \(--fail-on unresolved\): \d+ relocations fail on \d+ of 10 kernels/);
  t.match(unresolved.stdout, /^tools_like\.bpf\.o \(145 relocations\) on 10 kernels of http:\/\/127\.0\.0\.1:\d+\//, 'text by default');

  const unloadable = await compat(['--server', address, '--fail-on', 'unloadable', toolsLike.path]);
  t.equal(unloadable.status, 1, 'fedora/40 has an ambiguous relocation: libbpf refuses the object there');
  t.match(unloadable.stderr, /failed \(--fail-on unloadable\): 1 relocations fail on 1 of 10 kernels/);

  const ubuntu = await compat(['--server', address, '--distro', 'ubuntu', '--fail-on', 'unloadable', toolsLike.path]);
  t.equal(ubuntu.status, 0, 'no ubuntu kernel refuses the object');
  const ubuntuKernels = archive.kernels.filter((k) => k.ref.distro === 'ubuntu').length;
  t.match(ubuntu.stderr, new RegExp(`passed \\(--fail-on unloadable\\): nothing fails on ${ubuntuKernels} kernels`));

  // tools_like's fallbacks (task_struct___o.state...) do not resolve on new kernels: the default
  // gate names them even there; their bpf_core_field_exists guards are answers, not failures.
  const new24 = await compat(['--server', address, '--distro', 'ubuntu', '--distro-version', '24.04', '--arch', 'x86_64', toolsLike.path]);
  t.equal(new24.status, 1);
  t.match(new24.stderr, /failed \(--fail-on unresolved\): 4 relocations fail on 2 of 2 kernels/);

  const sharedA = fixtures.objects.get('shared_a')!.path;
  const plain = await compat(['--server', address, sharedA]);
  t.equal(plain.status, 0, 'an object without fallbacks passes the default gate everywhere');
  t.match(plain.stderr, /passed \(--fail-on unresolved\): nothing fails on 10 kernels/);
});

t.test('--format junit: a suite per object, a case per kernel, a failure naming each relocation', async (t) => {
  const run = await compat(['--server', address, '--format', 'junit', toolsLike.path]);
  t.equal(run.status, 1);
  const root = parseXml(run.stdout);
  t.equal(root.name, 'testsuites');
  const suites = findAll(root, 'testsuite');
  t.equal(suites.length, 1);
  t.equal(suites[0]!.attributes.name, 'tools_like.bpf.o');
  const cases = findAll(root, 'testcase');
  t.equal(cases.length, archive.kernels.length);
  t.equal(suites[0]!.attributes.tests, String(archive.kernels.length));
  const failed = cases.filter((c) => findAll(c, 'failure').length > 0);
  t.equal(root.attributes.failures, String(failed.length));
  t.equal(suites[0]!.attributes.failures, String(failed.length));

  const byName = (name: string): XmlElement => cases.find((c) => c.attributes.name === name)!;
  const old = findAll(byName('ubuntu/20.04/x86_64/5.4.0-42-generic'), 'failure');
  t.equal(old.length, 1, 'one failure element per failing kernel');
  t.match(
    old[0]!.attributes.message,
    /^not resolved on ubuntu\/20\.04\/x86_64\/5\.4\.0-42-generic \(\d+ of 145 relocations\): .*field_missing task_struct\.__state/,
  );
  t.match(old[0]!.text, /^field_missing task_struct\.__state \(byte_off, section [^,]+, relocation #\d+\): no field task_struct\.__state/m);
  t.equal(old[0]!.attributes.type, 'unresolved');
  const lines = old[0]!.text.split('\n');
  const oldReport = report.kernels.find((k) => labelOf(k) === 'ubuntu/20.04/x86_64/5.4.0-42-generic')!;
  const unresolved = oldReport.results.filter((r, i) => r.class !== 'resolved' && !EXISTENCE_CHECKS.has(report.relocations[i]!.kind));
  t.ok(unresolved.length > 1);
  t.equal(lines.length, unresolved.length, 'every relocation that does not resolve there is named (existence checks aside)');
  const current = byName('ubuntu/24.04/x86_64/6.11.0-8-generic');
  t.notMatch(findAll(current, 'failure')[0]!.text, /task_struct\.__state/, 'the current field resolves on the current kernel...');
  t.match(findAll(current, 'failure')[0]!.text, /^field_missing task_struct\.state \(byte_off/m, '...its fallback does not');
  t.match(
    findAll(current, 'system-out')[0]!.text,
    /^field_missing request\.rq_disk \(field_exists, /m,
    'an existence check answering 0 passes',
  );
  t.match(
    findAll(byName('fedora/40/x86_64/6.8.5-301.fc40.x86_64'), 'failure')[0]!.text,
    /^ambiguous cfs_rq\.nr_queued .*field offset ambiguity/m,
  );

  // Under --fail-on unloadable, the unresolved-but-loadable relocations move to <system-out>.
  const loose = parseXml((await compat(['--server', address, '--format', 'junit', '--fail-on', 'unloadable', toolsLike.path])).stdout);
  const looseCases = findAll(loose, 'testcase');
  t.equal(looseCases.filter((c) => findAll(c, 'failure').length > 0).length, 1, 'only the kernel where libbpf refuses the object');
  const looseOld = looseCases.find((c) => c.attributes.name === 'ubuntu/20.04/x86_64/5.4.0-42-generic')!;
  t.match(
    findAll(looseOld, 'system-out')[0]!.text,
    /^not resolved, but passing --fail-on unloadable:\nfield_missing task_struct\.__state/m,
  );
});

t.test('--format github: workflow commands, errors for what fails the gate', async (t) => {
  const run = await compat(['--server', address, '--format', 'github', '--fail-on', 'unloadable', toolsLike.path]);
  t.equal(run.status, 1);
  const lines = run.stdout.trimEnd().split('\n');
  for (const line of lines) t.match(line, /^::(error|warning|notice) title=[^:]*::\S/, line);
  const errors = lines.filter((l) => l.startsWith('::error'));
  t.equal(errors.length, 1, 'only the ambiguous relocation fails --fail-on unloadable');
  t.match(
    errors[0],
    /^::error title=btfhub compat%3A ambiguous cfs_rq\.nr_queued::tools_like\.bpf\.o: cfs_rq\.nr_queued \(byte_off, section /,
  );
  t.ok(
    lines.some((l) => /^::warning title=btfhub compat%3A field_missing task_struct\.__state::/.test(l)),
    'unresolved but loadable: a warning',
  );
  t.match(lines.at(-1), /^::notice title=btfhub compat::tools_like\.bpf\.o on 10 kernels: failed \(--fail-on unloadable\)/);
});

t.test('--archive gives the same report, gate and formats as --server', async (t) => {
  const local = await compat(['--archive', archive.dir, '--format', 'json', '--fail-on', 'never', toolsLike.path]);
  t.equal(local.status, 0, local.stderr);
  const localReport = JSON.parse(local.stdout) as CompatReportBody;
  t.equal(localReport.job_id, 'local');
  const outcomes = (r: CompatReportBody) =>
    Object.fromEntries(r.kernels.filter((k) => k.load_error === undefined).map((k) => [labelOf(k), k.results.map((x) => x.class).join()]));
  t.same(outcomes(localReport), outcomes(report), 'every readable kernel: the same outcomes as the service found');
  const withoutObject = (r: CompatReportBody) => r.relocations.map(({ object: _object, ...rest }) => rest);
  t.same(withoutObject(localReport), withoutObject(report), 'the same relocations (the service names the object by its file name)');

  const junit = await compat(['--archive', archive.dir, '--format', 'junit', toolsLike.path]);
  t.equal(junit.status, 1);
  const cases = findAll(parseXml(junit.stdout), 'testcase');
  t.equal(cases.length, archive.kernels.length + 1, 'the corrupt kernel too...');
  const skipped = cases.filter((c) => findAll(c, 'skipped').length > 0);
  t.equal(skipped.length, 1, '...as a skipped case: it is no fault of the object');
  t.match(findAll(skipped[0]!, 'skipped')[0]!.attributes.message, /^kernel BTF could not be read: amzn\/2\/x86_64\/.*xz/);
  const remoteFailures = findAll(parseXml(renderJunit(report, 'unresolved', 'x')), 'testcase')
    .filter((c) => findAll(c, 'failure').length > 0)
    .map((c) => c.attributes.name)
    .sort();
  t.same(
    cases
      .filter((c) => findAll(c, 'failure').length > 0)
      .map((c) => c.attributes.name)
      .sort(),
    remoteFailures,
  );
});

t.test('a progress line on stderr when it is a terminal', async (t) => {
  // A filter no other test uses: a new job (the same request twice is answered from the first job).
  const run = await compat(['--server', address, '--fail-on', 'never', '--format', 'json', '--distro', 'debian', toolsLike.path], {
    tty: true,
  });
  t.equal(run.status, 0);
  // eslint-disable-next-line no-control-regex -- the terminal escape the bar redraws with
  t.match(run.stderr, /\r\x1b\[2Kcompat \[[#-]{24}\] \d+\/2 /, 'a bar with the job’s progress');
  // eslint-disable-next-line no-control-regex
  t.match(run.stderr, /\r\x1b\[2Kbtfhub compat: gate off/, 'cleared before the summary');
});

t.test('a dead service: exit 2 with a message naming it', async (t) => {
  const port = await closedPort();
  const run = await compat(['--server', `http://127.0.0.1:${port}`, toolsLike.path]);
  t.equal(run.status, 2);
  t.match(run.stderr, new RegExp(`btfhub compat: POST http://127\\.0\\.0\\.1:${port}/api/v1/compat: .*ECONNREFUSED`));
  t.equal(run.stdout, '', 'no report');
});

t.test('service errors and bad objects exit 2, not 1', async (t) => {
  const none = await compat(['--server', address, '--distro', 'centos', '--distro-version', '7', toolsLike.path]);
  t.equal(none.status, 2, 'no kernel matches: the check did not run');
  t.match(none.stderr, /404 kernel_not_found: no registered kernel matches/);
  const bad = await compat(['--server', address, fixtures.vmlinuxPath]);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /^btfhub compat: .*vmlinux\.btf: is raw BTF, not a BPF object/);
});

t.test('usage errors exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [[toolsLike.path], /give either --server URL or --archive DIR/],
    [['--server', address, '--archive', archive.dir, toolsLike.path], /give either --server URL or --archive DIR/],
    [['--server', address, '--format', 'xml', toolsLike.path], /--format xml: expected one of text, json, junit, github/],
    [['--server', address, '--fail-on', 'warnings', toolsLike.path], /--fail-on warnings: expected one of unresolved, unloadable, never/],
    [['--server', address, '--json', '--format', 'junit', toolsLike.path], /--json and --format junit disagree/],
    [['--server', address, '--timeout', '0', toolsLike.path], /--timeout needs a positive number of seconds/],
    [['--server', address, '--cache', '/tmp', toolsLike.path], /--cache goes with --archive/],
    [['--server', 'ftp://example', toolsLike.path], /--server ftp:\/\/example: not a service URL/],
    [['--server', address], /missing OBJ/],
  ];
  for (const [argv, message] of cases) {
    const run = await compat(argv);
    t.equal(run.status, 2, argv.join(' '));
    t.match(run.stderr, message, argv.join(' '));
  }
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
