/**
 * A mutation fuzzer for the codec, shared by the test suite (a fixed number of iterations
 * from a fixed seed) and `npm run fuzz` (longer runs). Every input must end in a valid
 * result or in our typed CodecError: any other exception, or an iteration that takes too
 * long, is a finding, returned with the input that caused it.
 */
import {
  Btf,
  CodecError,
  dumpRaw,
  encodeBtf,
  parseBpfObject,
  parseBtfExt,
  parseElf,
  resolveRelocations,
  trimBtf,
  verifyTrim,
} from '../../src/btf/index.js';
import { TARGET } from '../helpers/crafted.js';
import { toBtf2026 } from '../helpers/btf-2026.js';
import { everyKind } from '../helpers/sample-types.js';
import {
  btfWithSharedNames,
  deepTypedefChains,
  elfWithSharedSectionNames,
  longMemberLists,
  manyExtSections,
  manyTypes,
  objectOnManyTypes,
  sharedLongAccessString,
  withRepeatedRelocations,
} from '../helpers/hostile-inputs.js';

/** xorshift32: a small deterministic PRNG, so a finding can be replayed from its seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING_U32 = [
  0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 32, 0x7f, 0xff, 0xffff, 0x10000, 0xfffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];

export type Mutation = 'truncate' | 'bitflip' | 'u32' | 'splice' | 'zero-run';

/** One random mutation of `input` (a new array). */
export function mutate(input: Uint8Array, rng: Rng): { bytes: Uint8Array; mutation: Mutation } {
  const choice = rng.below(5);
  if (choice === 0 || input.length < 8) {
    return { bytes: input.slice(0, rng.below(input.length + 1)), mutation: 'truncate' };
  }
  const bytes = input.slice();
  const view = new DataView(bytes.buffer);
  if (choice === 1) {
    const flips = 1 + rng.below(8);
    for (let i = 0; i < flips; i++) bytes[rng.below(bytes.length)]! ^= 1 << rng.below(8);
    return { bytes, mutation: 'bitflip' };
  }
  if (choice === 2) {
    // Aligned words are where counts, offsets and type ids live.
    const at = rng.below(Math.floor(bytes.length / 4)) * 4;
    const value = rng.below(3) === 0 ? rng.next() : INTERESTING_U32[rng.below(INTERESTING_U32.length)]!;
    view.setUint32(at, value >>> 0, rng.below(2) === 0);
    return { bytes, mutation: 'u32' };
  }
  if (choice === 3) {
    const from = rng.below(bytes.length);
    const to = rng.below(bytes.length);
    const len = Math.min(1 + rng.below(64), bytes.length - from, bytes.length - to);
    bytes.copyWithin(to, from, from + len);
    return { bytes, mutation: 'splice' };
  }
  const at = rng.below(bytes.length);
  bytes.fill(0, at, Math.min(bytes.length, at + 1 + rng.below(32)));
  return { bytes, mutation: 'zero-run' };
}

export interface FuzzTarget {
  name: string;
  seeds: Uint8Array[];
  /** Runs the codec on one input; returns normally or throws. */
  run(input: Uint8Array): void;
}

export interface FuzzFinding {
  target: string;
  iteration: number;
  mutation: Mutation;
  error: string;
  input: Uint8Array;
}

export interface FuzzReport {
  iterations: number;
  /** Inputs that ended in a CodecError, by error code. */
  rejected: Record<string, number>;
  accepted: number;
  /** Distinct error messages with numbers stripped: a rough count of distinct failure paths. */
  distinctErrors: number;
  findings: FuzzFinding[];
  slowestMs: number;
}

export interface FuzzOptions {
  seed?: number;
  iterations?: number;
  /** Stop after this many milliseconds even if iterations remain. */
  timeLimitMs?: number;
  /** An iteration slower than this is a finding (a hang in the making). */
  slowMs?: number;
  /** Called about every `progressEveryMs` (default 10 s) with the report so far: a long run says how far it is. */
  onProgress?: (report: Readonly<FuzzReport>) => void;
  progressEveryMs?: number;
}

export function runFuzz(targets: FuzzTarget[], options: FuzzOptions = {}): FuzzReport {
  const rng = new Rng(options.seed ?? 1);
  const iterations = options.iterations ?? 1000;
  const slowMs = options.slowMs ?? 2000;
  const deadline = options.timeLimitMs === undefined ? Infinity : Date.now() + options.timeLimitMs;
  const report: FuzzReport = { iterations: 0, rejected: {}, accepted: 0, distinctErrors: 0, findings: [], slowestMs: 0 };
  const messages = new Set<string>();
  const progressEveryMs = options.progressEveryMs ?? 10_000;
  let nextProgress = Date.now() + progressEveryMs;
  for (let i = 0; i < iterations && Date.now() < deadline; i++) {
    if (options.onProgress !== undefined && Date.now() >= nextProgress) {
      nextProgress = Date.now() + progressEveryMs;
      options.onProgress(report);
    }
    const target = targets[i % targets.length]!;
    const seed = target.seeds[rng.below(target.seeds.length)]!;
    const first = mutate(seed, rng);
    const mutation = first.mutation;
    let bytes = first.bytes;
    // Stack a few mutations now and then: single flips rarely get past the first check.
    for (let k = rng.below(4); k > 0 && rng.below(2) === 0; k--) bytes = mutate(bytes, rng).bytes;
    const started = performance.now();
    try {
      target.run(bytes);
      report.accepted++;
    } catch (err) {
      if (err instanceof CodecError) {
        report.rejected[err.code] = (report.rejected[err.code] ?? 0) + 1;
        messages.add(`${err.code}: ${err.message.replace(/\d+/g, 'N').replace(/'[^']*'/g, "'S'")}`);
      } else {
        report.findings.push({
          target: target.name,
          iteration: i,
          mutation,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          input: bytes,
        });
      }
    }
    const took = performance.now() - started;
    report.slowestMs = Math.max(report.slowestMs, took);
    if (took > slowMs)
      report.findings.push({ target: target.name, iteration: i, mutation, error: `took ${took.toFixed(0)} ms`, input: bytes });
    report.iterations++;
  }
  report.distinctErrors = messages.size;
  return report;
}

/** The standard targets: raw BTF decoding, ELF parsing, .BTF.ext decoding, objects through CO-RE and the trimmer. */
export function codecTargets(input: {
  btfSeeds: Uint8Array[];
  objectSeeds: Uint8Array[];
  target: Btf;
  elfSeeds?: Uint8Array[];
}): FuzzTarget[] {
  const fullDecode = (btf: Btf) => {
    for (const _ of btf.types()) void _;
    dumpRaw(btf);
  };
  const extSeeds = input.objectSeeds.map((o) => {
    const obj = parseBpfObject(o, 'seed');
    return { btf: obj.btf, ext: extractSection(o, '.BTF.ext') };
  });
  return [
    { name: 'btf', seeds: input.btfSeeds, run: (b) => fullDecode(Btf.parse(b)) },
    { name: 'elf', seeds: [...input.objectSeeds, ...(input.elfSeeds ?? [])], run: (b) => void parseElf(b) },
    {
      name: 'btf.ext',
      seeds: extSeeds.map((s) => s.ext),
      run: (b) => void parseBtfExt(b, extSeeds[0]!.btf),
    },
    {
      name: 'object+trim',
      seeds: input.objectSeeds,
      run: (b) => {
        const obj = parseBpfObject(b, 'fuzz.bpf.o');
        resolveRelocations(input.target, [obj]);
        trimBtf(input.target, [obj]);
      },
    },
    {
      name: 'target+trim',
      seeds: input.btfSeeds,
      run: (b) => {
        const target = Btf.parse(b);
        trimBtf(target, [parseBpfObject(input.objectSeeds[0]!, 'seed.bpf.o')]);
      },
    },
  ];
}

/**
 * The hostile families of test/helpers/hostile-inputs.ts as fuzz targets, at sizes that keep
 * an iteration well under a second: mutations of inputs built to make a parser work hard.
 * Objects are trimmed and the trim verified (against their own target where they need one);
 * the BTF with shared long names is decoded and its types inflated, not dumped (a dump
 * prints each type's name, so its output grows with names x types by design).
 * `realObject`, when given, is repeated into an object of a few thousand relocations.
 */
export function hostileTargets(realObject?: Uint8Array, kernel?: Btf): FuzzTarget[] {
  const crafted = Btf.parse(TARGET);
  const members = longMemberLists(300);
  const chains = deepTypedefChains(200);
  const trimAndVerify = (target: Btf, b: Uint8Array) => {
    const objects = [parseBpfObject(b, 'hostile.bpf.o')];
    const out = trimBtf(target, objects);
    verifyTrim(target, Btf.parse(out), objects);
  };
  const targets: FuzzTarget[] = [
    {
      name: 'hostile btf',
      seeds: [btfWithSharedNames(400, 20_000, false), btfWithSharedNames(400, 20_000, true), encodeBtf(manyTypes(300))],
      run: (b) => {
        const btf = Btf.parse(b);
        for (const _ of btf.types()) void _;
        if (btf.typeCount > 1) btf.idsByEssentialName(btf.name(btf.typeCount - 1));
      },
    },
    {
      name: 'hostile elf',
      seeds: [elfWithSharedSectionNames(300, 10_000, false), elfWithSharedSectionNames(300, 10_000, true)],
      run: (b) => void parseElf(b),
    },
    {
      name: 'hostile object+trim',
      seeds: [manyExtSections(200), manyExtSections(100, 4000), sharedLongAccessString(100, 2000), objectOnManyTypes(300)],
      run: (b) => trimAndVerify(crafted, b),
    },
    { name: 'long member lists', seeds: [members.object], run: (b) => trimAndVerify(Btf.parse(members.target), b) },
    { name: 'deep typedef chains', seeds: [chains.object], run: (b) => trimAndVerify(Btf.parse(chains.target), b) },
    { name: 'hostile target', seeds: [members.target, chains.target], run: (b) => trimAndVerify(Btf.parse(b), members.object) },
  ];
  if (realObject && kernel)
    targets.push({
      name: 'repeated relocations (kernel)',
      seeds: [withRepeatedRelocations(realObject, 20)],
      run: (b) => trimAndVerify(kernel, b),
    });
  return targets;
}

/**
 * 2026-format seeds (docs/CODEC.md §4) in both byte orders: a 32-byte header and layout
 * section, a type of a kind the codec does not know, a DATASEC whose vlen needs 24 bits.
 * Mutations then reach the layout fields, the layout entries and the wider info word.
 */
export function btf2026Seeds(): Uint8Array[] {
  return [true, false].flatMap((littleEndian) => {
    const classic = encodeBtf(everyKind(), { littleEndian });
    return [
      toBtf2026(classic, { layout: true, unknownKind: { kind: 20, infoSize: 4, elemSize: 8, vlen: 2 } }).bytes,
      toBtf2026(classic, { layout: true, datasecVars: 300, unknownKind: { kind: 42, infoSize: 0, elemSize: 12, vlen: 1 } }).bytes,
    ];
  });
}

function extractSection(elfBytes: Uint8Array, name: string): Uint8Array {
  const elf = parseElf(elfBytes);
  const s = elf.sections.find((x) => x.name === name);
  if (!s) throw new Error(`seed has no ${name}`);
  return elfBytes.slice(s.offset, s.offset + s.size);
}
