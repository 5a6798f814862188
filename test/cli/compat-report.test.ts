/**
 * The gate and the formats of src/cli/compat-report.ts on a hand-made report: two objects
 * (relocations attributed by position), names that need escaping in XML and in workflow
 * commands, existence checks, an unreadable kernel, each --fail-on.
 */
import t from 'tap';
import {
  evaluateGate,
  failsGate,
  renderCompat,
  renderGithub,
  renderJunit,
  xmlEscape,
  type CompatReportBody,
} from '../../src/cli/compat-report.js';
import { findAll, parseXml } from './fixtures/xml.js';

const counts = (c: Partial<Record<string, number>> = {}) => ({
  resolved: 0,
  field_missing: 0,
  type_missing: 0,
  enum_missing: 0,
  ambiguous: 0,
  error: 0,
  ...c,
});
const relocation = (object: string, index: number, kind: string, path: string) => ({
  object,
  section: 'kprobe/x',
  index,
  insn_off: index * 8,
  kind,
  root: path.split('.')[0]!,
  access: '0:1',
  path,
  outcomes: counts(),
});
const kernel = (version: string, results: { class: string; value: number | null; reason?: string }[], loadError?: string) => ({
  distro: 'ubuntu',
  distro_version: '22.04',
  arch: 'x86_64',
  kernel_version: version,
  ...(loadError !== undefined && { load_error: loadError }),
  counts: counts(),
  failed_objects: [],
  results,
});
const ok = { class: 'resolved', value: 8 };

// a.bpf.o has relocations 0-1, "b&<c>.o" has 2-3 (the same names would be told apart by position too).
const report: CompatReportBody = {
  job_id: 'local',
  objects: [
    { name: 'a.bpf.o', relocations: 2 },
    { name: 'b&<c>.o', relocations: 2 },
  ],
  filter: {},
  totals: { kernels: 3, unreadable: 1, loadable: 1, all_resolved: 1 },
  summary: [],
  relocations: [
    relocation('a.bpf.o', 0, 'byte_off', 'task_struct.pid'),
    relocation('a.bpf.o', 1, 'field_exists', 'task_struct.__state'),
    relocation('b&<c>.o', 0, 'byte_off', 'sk_buff.cb[4]'),
    relocation('b&<c>.o', 1, 'enumval_value', 'pid_type::PIDTYPE_TGID'),
  ],
  kernels: [
    kernel('6.8.0-1', [ok, ok, ok, ok]),
    kernel('5.4.0-1', [
      ok,
      { class: 'field_missing', value: 0, reason: 'no field task_struct.__state' },
      { class: 'ambiguous', value: null, reason: 'field offset ambiguity: 8 != 16 "quoted" \u0001' },
      { class: 'enum_missing', value: null, reason: 'no enumerator PIDTYPE_TGID, 100% sure: really' },
    ]),
    kernel('4.19.0-1', [], 'ubuntu/22.04/x86_64/4.19.0-1.btf.tar.xz: xz: truncated'),
  ],
  duration_ms: 1234,
};

t.test('the gate: existence checks answer, they do not fail; unreadable kernels never count', async (t) => {
  t.equal(failsGate('field_missing', 'byte_off', 'unresolved'), true);
  t.equal(failsGate('field_missing', 'field_exists', 'unresolved'), false);
  t.equal(failsGate('type_missing', 'type_matches', 'unresolved'), false);
  t.equal(failsGate('ambiguous', 'field_exists', 'unresolved'), true, 'an ambiguous existence check still makes libbpf refuse the object');
  t.equal(failsGate('field_missing', 'byte_off', 'unloadable'), false);
  t.equal(failsGate('error', 'byte_off', 'unloadable'), true);
  t.equal(failsGate('error', 'byte_off', 'never'), false);
  t.same(evaluateGate(report, 'unresolved'), { failed: true, kernels: 1, relocations: 2, unreadable: 1 });
  t.same(evaluateGate(report, 'unloadable'), { failed: true, kernels: 1, relocations: 1, unreadable: 1 });
  t.same(evaluateGate(report, 'never'), { failed: false, kernels: 0, relocations: 0, unreadable: 1 });
});

t.test('junit: well-formed whatever the names, relocations attributed to their object', async (t) => {
  const root = parseXml(renderJunit(report, 'unresolved', 'fs:/archive "x"'));
  t.same(root.attributes, { name: 'btfhub compat', tests: '6', failures: '1', errors: '0', skipped: '2', time: '1.234' });
  const [a, b] = findAll(root, 'testsuite');
  t.equal(a!.attributes.name, 'a.bpf.o');
  t.equal(b!.attributes.name, 'b&<c>.o', 'escaped in the file, the name itself once parsed');
  t.same(findAll(a!, 'failure'), [], 'a.bpf.o: its only miss is an existence check');
  t.match(
    findAll(a!, 'system-out')[0]!.text,
    /^not resolved, but passing --fail-on unresolved:\nfield_missing task_struct\.__state \(field_exists, /,
  );
  const failure = findAll(b!, 'failure')[0]!;
  t.equal(
    failure.attributes.message,
    'not resolved on ubuntu/22.04/x86_64/5.4.0-1 (2 of 2 relocations): ambiguous sk_buff.cb[4], enum_missing pid_type::PIDTYPE_TGID',
  );
  t.equal(
    failure.text,
    'ambiguous sk_buff.cb[4] (byte_off, section kprobe/x, relocation #0): field offset ambiguity: 8 != 16 "quoted" \n' +
      'enum_missing pid_type::PIDTYPE_TGID (enumval_value, section kprobe/x, relocation #1): no enumerator PIDTYPE_TGID, 100% sure: really',
    'every failing relocation on its line; the control character XML cannot hold is dropped',
  );
  t.same(
    findAll(b!, 'skipped').map((s) => s.attributes.message),
    ['kernel BTF could not be read: ubuntu/22.04/x86_64/4.19.0-1.btf.tar.xz: xz: truncated'],
  );
  const props = Object.fromEntries(findAll(a!, 'property').map((p): [string, unknown] => [String(p.attributes.name), p.attributes.value]));
  t.same(props, { relocations: '2', 'fail-on': 'unresolved', source: 'fs:/archive "x"' });

  const never = parseXml(renderJunit(report, 'never', 's'));
  t.equal(never.attributes.failures, '0', '--fail-on never: nothing fails...');
  t.match(
    findAll(never, 'system-out')
      .map((s) => s.text)
      .join('\n'),
    /ambiguous sk_buff\.cb\[4\]/,
    '...and everything is still listed',
  );
  t.same(
    parseXml(renderJunit({ ...report, objects: [], relocations: [], kernels: [] }, 'unresolved', 's')).attributes.tests,
    '0',
    'an empty report is a valid one',
  );
});

t.test('xmlEscape: the five entities, and characters XML 1.0 cannot hold dropped', async (t) => {
  t.equal(xmlEscape(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  t.equal(xmlEscape('tab\tnl\ncr\r ok'), 'tab\tnl\ncr\r ok');
  t.equal(xmlEscape('\u0000\u0008\u000b\u001f\ufffe\ud800x\ud83d\ude00'), 'x\ud83d\ude00', 'lone surrogates too; a pair is kept');
});

t.test('github: one annotation line per relocation, workflow-command escaping', async (t) => {
  const lines = renderGithub(report, 'unloadable').trimEnd().split('\n');
  t.equal(lines.length, 5);
  t.equal(
    lines[0],
    '::warning title=btfhub compat%3A field_missing task_struct.__state::a.bpf.o: task_struct.__state (field_exists, section kprobe/x, relocation #1) does not resolve on 1 of 2 kernels: field_missing 1; ubuntu/22.04/x86_64/5.4.0-1 (no field task_struct.__state)',
  );
  // eslint-disable-next-line no-control-regex -- the reason's control character, passed through
  t.match(lines[1], /^::error title=btfhub compat%3A ambiguous sk_buff\.cb\[4\]::b&<c>\.o: sk_buff\.cb\[4\] .*"quoted" \u0001\)$/);
  t.match(
    lines[2],
    /^::warning title=btfhub compat%3A enum_missing pid_type%3A%3APIDTYPE_TGID::.*100%25 sure: really\)$/,
    '% escaped in data, : and , in properties',
  );
  t.equal(
    lines[3],
    '::warning title=btfhub compat%3A ubuntu/22.04/x86_64/4.19.0-1 not read::ubuntu/22.04/x86_64/4.19.0-1.btf.tar.xz: xz: truncated',
  );
  t.equal(
    lines[4],
    '::notice title=btfhub compat::a.bpf.o, b&<c>.o on 3 kernels: failed (--fail-on unloadable): 1 relocations fail on 1 of 2 kernels; 1 kernels could not be read',
  );
  const multiline = renderGithub(
    { ...report, kernels: [kernel('x', [ok, ok, { class: 'error', value: null, reason: 'line one\nline two\r' }, ok])] },
    'unresolved',
  );
  t.match(multiline, /line one%0Aline two%0D\)/, 'a reason over lines stays on one');
});

t.test('json and text come from the same report', async (t) => {
  t.same(JSON.parse(renderCompat(report, 'json', { source: 's', failOn: 'unresolved' })), report);
  const text = renderCompat(report, 'text', { source: 'fs:/archive', failOn: 'unresolved' });
  t.match(text, /^a\.bpf\.o \(2 relocations\), b&<c>\.o \(2 relocations\) on 3 kernels of fs:\/archive \(1 unreadable\)\n/);
  t.match(text, /kernels that could not be read:\n {2}ubuntu\/22\.04\/x86_64\/4\.19\.0-1\.btf\.tar\.xz: xz: truncated\n$/);
});
