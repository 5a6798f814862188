/**
 * What `btfhub compat` does with a compatibility report, whether the service made it
 * (`--server`) or this process did (`--archive`): the same report shape (the API's
 * CompatReport, openapi.yaml), the same gate (`--fail-on`) and the same four formats.
 *
 *   text    a table per distro / release / arch, then the relocations that do not resolve
 *           everywhere, the kernels where libbpf would refuse an object, the unreadable ones
 *   json    the report as the API serves it
 *   junit   one <testsuite> per object, one <testcase> per kernel; a <failure> naming every
 *           relocation of that object that fails the gate there (outcome and path, e.g.
 *           `field_missing task_struct.quantum_ledger`), the ones that do not resolve but
 *           pass the gate in <system-out>, an unreadable kernel as <skipped>
 *   github  workflow commands: `::error` for each relocation that fails the gate somewhere,
 *           `::warning` for one that does not resolve everywhere but passes it, and for each
 *           unreadable kernel; a `::notice` summary
 *
 * The gate: `unresolved` (the default) fails on any relocation that does not resolve on some
 * readable kernel, except the existence checks (field_exists, type_exists, enumval_exists,
 * type_matches): libbpf answers those 0 where the thing is missing, which is what they ask,
 * never a poisoned instruction. `unloadable` fails only on what makes libbpf refuse the
 * object (ambiguous, error), existence checks included; `never` never fails. A kernel whose
 * BTF could not be read is reported, never counted against the objects.
 */
import { basename } from 'node:path';
import type { CompatReportBody } from '../coverage/compat-report.js';

export type { CompatReportBody };

export const FAIL_ON = ['unresolved', 'unloadable', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export const COMPAT_FORMATS = ['text', 'json', 'junit', 'github'] as const;
export type CompatFormat = (typeof COMPAT_FORMATS)[number];

/** The relocation outcomes, in report order (src/coverage/compat.ts RELOCATION_CLASSES). */
const CLASSES = ['resolved', 'field_missing', 'type_missing', 'enum_missing', 'ambiguous', 'error'] as const;
const PROBLEMS = CLASSES.filter((c) => c !== 'resolved');

type Kernel = CompatReportBody['kernels'][number];
type Relocation = CompatReportBody['relocations'][number];

/** Relocation kinds that ask whether something exists: 0 where it does not is an answer, not a failure. */
export const EXISTENCE_CHECKS: ReadonlySet<string> = new Set(['field_exists', 'type_exists', 'enumval_exists', 'type_matches']);

/** Whether the outcome of a relocation of this kind (libbpf's name: byte_off, field_exists...) fails the gate. */
export function failsGate(outcome: string, kind: string, failOn: FailOn): boolean {
  switch (failOn) {
    case 'unresolved':
      return outcome === 'ambiguous' || outcome === 'error' || (outcome !== 'resolved' && !EXISTENCE_CHECKS.has(kind));
    case 'unloadable':
      return outcome === 'ambiguous' || outcome === 'error';
    case 'never':
      return false;
  }
}

export interface GateResult {
  failed: boolean;
  /** Readable kernels with at least one relocation failing the gate. */
  kernels: number;
  /** Relocations failing the gate on at least one kernel. */
  relocations: number;
  /** Kernels whose BTF could not be read (reported, never failing). */
  unreadable: number;
}

export function evaluateGate(report: CompatReportBody, failOn: FailOn): GateResult {
  const failing = new Set<number>();
  let kernels = 0;
  let unreadable = 0;
  for (const k of report.kernels) {
    if (k.load_error !== undefined) {
      unreadable++;
      continue;
    }
    let any = false;
    k.results.forEach((r, i) => {
      if (failsGate(r.class, report.relocations[i]?.kind ?? '', failOn)) {
        failing.add(i);
        any = true;
      }
    });
    if (any) kernels++;
  }
  return { failed: kernels > 0, kernels, relocations: failing.size, unreadable };
}

/** One line for stderr saying what the gate found. */
export function gateSummary(report: CompatReportBody, gate: GateResult, failOn: FailOn): string {
  const readable = report.kernels.length - gate.unreadable;
  const unread = gate.unreadable > 0 ? `; ${gate.unreadable} kernels could not be read` : '';
  if (failOn === 'never') return `gate off (--fail-on never): ${readable} kernels checked${unread}`;
  if (!gate.failed) return `passed (--fail-on ${failOn}): nothing fails on ${readable} kernels${unread}`;
  return `failed (--fail-on ${failOn}): ${gate.relocations} relocations fail on ${gate.kernels} of ${readable} kernels${unread}`;
}

export function renderCompat(report: CompatReportBody, format: CompatFormat, options: { source: string; failOn: FailOn }): string {
  switch (format) {
    case 'text':
      return renderText(report, options.source);
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'junit':
      return renderJunit(report, options.failOn, options.source);
    case 'github':
      return renderGithub(report, options.failOn);
  }
}

export function kernelName(k: Pick<Kernel, 'distro' | 'distro_version' | 'arch' | 'kernel_version'>): string {
  return `${k.distro}/${k.distro_version}/${k.arch}/${k.kernel_version}`;
}

/** A relocation as people name it: outcome, then the path (`field_missing task_struct.x`). */
function relocationName(outcome: string, relocation: Relocation): string {
  return `${outcome} ${relocation.path}`;
}

function relocationWhere(relocation: Relocation): string {
  return `${relocation.kind}, section ${relocation.section}, relocation #${relocation.index}`;
}

// ---------------------------------------------------------------------------------------
// text

export function renderText(report: CompatReportBody, source: string): string {
  const out: string[] = [];
  const relocs = report.objects.map((o) => `${basename(o.name)} (${o.relocations} relocations)`).join(', ');
  const unreadable = report.kernels.filter((k) => k.load_error !== undefined).length;
  out.push(`${relocs} on ${report.kernels.length} kernels of ${source}${unreadable ? ` (${unreadable} unreadable)` : ''}`, '');

  const header = ['distro', 'release', 'arch', 'kernels', 'loads', 'all_resolved', ...PROBLEMS, 'unreadable'];
  const rows = report.summary.map((g) => [
    g.distro,
    g.distro_version,
    g.arch,
    String(g.kernels),
    String(g.loadable),
    String(g.all_resolved),
    ...PROBLEMS.map((c) => String(g.kernels_with[c])),
    String(g.unreadable),
  ]);
  out.push(...table([header, ...rows]), '');

  const readable = report.kernels.length - unreadable;
  const problems = report.relocations.map((info, index) => ({ info, index })).filter(({ info }) => info.outcomes.resolved < readable);
  if (problems.length === 0) {
    out.push(`every relocation resolves on every readable kernel`);
  } else {
    out.push(`relocations that do not resolve everywhere (kernels out of ${readable}):`);
    out.push(
      ...table([
        ['object', 'section', 'relo', 'kind', 'path', 'outcomes', 'for example'],
        ...problems.map(({ info, index }) => {
          const example = report.kernels.find((k) => k.results[index] && k.results[index].class !== 'resolved');
          return [
            basename(info.object),
            info.section,
            `#${info.index}`,
            info.kind,
            info.path,
            describeCounts(info.outcomes),
            example ? kernelName(example) : '',
          ];
        }),
      ]),
    );
  }
  const refused = report.kernels.filter((k) => k.failed_objects.length > 0);
  if (refused.length > 0) {
    out.push('', 'kernels where libbpf would refuse an object:');
    for (const k of refused) {
      const first = k.results.find((r) => r.class === 'ambiguous' || r.class === 'error');
      out.push(`  ${kernelName(k)}: ${first?.reason ?? k.failed_objects.join(', ')}`);
    }
  }
  const failed = report.kernels.filter((k) => k.load_error !== undefined);
  if (failed.length > 0) {
    out.push('', 'kernels that could not be read:');
    for (const k of failed) out.push(`  ${k.load_error}`);
  }
  return `${out.join('\n')}\n`;
}

function describeCounts(counts: Record<string, number>): string {
  return CLASSES.filter((c) => (counts[c] ?? 0) > 0)
    .map((c) => `${c} ${counts[c]}`)
    .join(', ');
}

/** Rows as left-aligned columns separated by two spaces. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

// ---------------------------------------------------------------------------------------
// junit

/** Text and attribute values of XML 1.0: the five escapes, and the characters XML cannot hold dropped. */
export function xmlEscape(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const attrs = (values: Record<string, string | number>) =>
  Object.entries(values)
    .map(([name, value]) => ` ${name}="${xmlEscape(String(value))}"`)
    .join('');

/** At most this many relocations are named in a failure's message attribute; the text lists them all. */
const MESSAGE_NAMES = 5;

export function renderJunit(report: CompatReportBody, failOn: FailOn, source: string): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  report.objects.forEach((object, objectIndex) => {
    // The relocations of this object; several objects may share a name, so go by position.
    const first = report.objects.slice(0, objectIndex).reduce((n, o) => n + o.relocations, 0);
    const indexes = Array.from({ length: object.relocations }, (_, i) => first + i);
    const cases: string[] = [];
    let suiteFailures = 0;
    let suiteSkipped = 0;
    for (const k of report.kernels) {
      const name = kernelName(k);
      const open = `    <testcase${attrs({ classname: object.name, name })}`;
      if (k.load_error !== undefined) {
        suiteSkipped++;
        cases.push(`${open}>\n      <skipped${attrs({ message: `kernel BTF could not be read: ${k.load_error}` })}/>\n    </testcase>`);
        continue;
      }
      const failing: string[] = [];
      const passing: string[] = [];
      for (const i of indexes) {
        const result = k.results[i];
        const relocation = report.relocations[i];
        if (result === undefined || relocation === undefined || result.class === 'resolved') continue;
        const line = `${relocationName(result.class, relocation)} (${relocationWhere(relocation)})${result.reason ? `: ${result.reason}` : ''}`;
        (failsGate(result.class, relocation.kind, failOn) ? failing : passing).push(line);
      }
      const body: string[] = [];
      if (failing.length > 0) {
        suiteFailures++;
        const names = failing.map((l) => l.replace(/ \(.*$/s, ''));
        const message =
          `not resolved on ${name} (${failing.length} of ${object.relocations} relocations): ` +
          `${names.slice(0, MESSAGE_NAMES).join(', ')}${names.length > MESSAGE_NAMES ? `, and ${names.length - MESSAGE_NAMES} more` : ''}`;
        body.push(`      <failure${attrs({ message, type: failOn })}>${xmlEscape(failing.join('\n'))}</failure>`);
      }
      if (passing.length > 0) {
        body.push(`      <system-out>${xmlEscape(`not resolved, but passing --fail-on ${failOn}:\n${passing.join('\n')}`)}</system-out>`);
      }
      cases.push(body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`);
    }
    tests += report.kernels.length;
    failures += suiteFailures;
    skipped += suiteSkipped;
    suites.push(
      `  <testsuite${attrs({ name: object.name, tests: report.kernels.length, failures: suiteFailures, errors: 0, skipped: suiteSkipped })}>\n` +
        `    <properties>\n` +
        `      <property${attrs({ name: 'relocations', value: object.relocations })}/>\n` +
        `      <property${attrs({ name: 'fail-on', value: failOn })}/>\n` +
        `      <property${attrs({ name: 'source', value: source })}/>\n` +
        `    </properties>\n` +
        (cases.length > 0 ? `${cases.join('\n')}\n` : '') +
        `  </testsuite>`,
    );
  });
  const time = (report.duration_ms / 1000).toFixed(3);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites${attrs({ name: 'btfhub compat', tests, failures, errors: 0, skipped, time })}>\n` +
    (suites.length > 0 ? `${suites.join('\n')}\n` : '') +
    `</testsuites>\n`
  );
}

// ---------------------------------------------------------------------------------------
// github

/** A workflow command's message: %, CR and LF escaped (GitHub's toCommandValue rules). */
function commandData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value: also : and , escaped. */
function commandProperty(s: string): string {
  return commandData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** At most this many kernels named per annotation. */
const ANNOTATION_KERNELS = 3;

export function renderGithub(report: CompatReportBody, failOn: FailOn): string {
  const lines: string[] = [];
  const readable = report.kernels.filter((k) => k.load_error === undefined);
  report.relocations.forEach((relocation, i) => {
    const bad = readable.filter((k) => k.results[i] !== undefined && k.results[i].class !== 'resolved');
    if (bad.length === 0) return;
    const failing = bad.some((k) => failsGate(k.results[i]!.class, relocation.kind, failOn));
    const outcomes = new Map<string, number>();
    for (const k of bad) outcomes.set(k.results[i]!.class, (outcomes.get(k.results[i]!.class) ?? 0) + 1);
    const worst = [...outcomes.keys()].find((c) => failsGate(c, relocation.kind, failOn)) ?? [...outcomes.keys()][0]!;
    const examples = bad
      .slice(0, ANNOTATION_KERNELS)
      .map((k) => `${kernelName(k)}${k.results[i]!.reason ? ` (${k.results[i]!.reason})` : ''}`);
    const message =
      `${basename(relocation.object)}: ${relocation.path} (${relocationWhere(relocation)}) does not resolve on ${bad.length} of ${readable.length} kernels: ` +
      `${[...outcomes].map(([c, n]) => `${c} ${n}`).join(', ')}; ${examples.join('; ')}${bad.length > ANNOTATION_KERNELS ? `; and ${bad.length - ANNOTATION_KERNELS} more` : ''}`;
    const title = `btfhub compat: ${relocationName(worst, relocation)}`;
    lines.push(`::${failing ? 'error' : 'warning'} title=${commandProperty(title)}::${commandData(message)}`);
  });
  for (const k of report.kernels) {
    if (k.load_error === undefined) continue;
    lines.push(`::warning title=${commandProperty(`btfhub compat: ${kernelName(k)} not read`)}::${commandData(k.load_error)}`);
  }
  const gate = evaluateGate(report, failOn);
  const objects = report.objects.map((o) => basename(o.name)).join(', ');
  lines.push(
    `::notice title=btfhub compat::${commandData(`${objects} on ${report.kernels.length} kernels: ${gateSummary(report, gate, failOn)}`)}`,
  );
  return `${lines.join('\n')}\n`;
}
