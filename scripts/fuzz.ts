/**
 * `npm run fuzz`: the codec fuzzers of the test suite for longer (hostile families among
 * them), then a mutation fuzzer against `POST /api/v1/btf` and `POST /api/v1/customize`
 * through `app.inject()` (the real app: embedded backends, the codec on worker threads, the
 * fixture kernel, real trim jobs) seeded with fixture objects and issue 9's hostile families.
 * Not part of `npm test`.
 *
 *   npm run fuzz -- [--seconds 60] [--iterations N] [--api-iterations M] [--seed S] [--out DIR]
 *
 * With --iterations the codec runs N iterations and the API M (default N / 20); otherwise
 * the run takes --seconds (default 60), two thirds codec, one third API.
 *
 * A crash is, for the codec, any exception other than CodecError or an iteration over 2 s;
 * for the API, an answer of 500 or more, a 4xx whose body is not the JSON error shape, an
 * exception out of inject(), an answer slower than 15 s, or none within 30 s. Each crash input is saved under
 * --out (default ./fuzz-findings): `codec-<target>-<iteration>.bin`, or
 * `api-<iteration>.json` (method, url, headers, base64 payload, status, body); the slowest
 * request, when it took more than a second, as `api-slowest.json` (not a crash). Prints
 * iterations, distinct error types and the saved files; exits 1 when anything crashed. Every
 * 10 s a progress line (iterations so far, crashes) goes to standard error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { InjectOptions } from 'fastify';
import { ErrorBody } from '../src/api/schemas.js';
import { Btf, encodeBtf, parseBpfObject, trimBtf, CoreReloKind as K } from '../src/btf/index.js';
import { setupApi, multipart, RAW_FIELDS, type Part } from '../test/api/helpers.js';
import { btf2026Seeds, codecTargets, hostileTargets, mutate, Rng, runFuzz } from '../test/fuzz/codec-fuzz.js';
import { TARGET, object, r, lSkFlat, lBf, lArr, lOps, lE64, lPr, lSkT } from '../test/helpers/crafted.js';
import { loadFixtures } from '../test/helpers/fixtures.js';
import { everyKind } from '../test/helpers/sample-types.js';
import {
  deepTypedefChains,
  elfWithSharedSectionNames,
  longMemberLists,
  manyExtSections,
  objectOnManyTypes,
  withRepeatedRelocations,
} from '../test/helpers/hostile-inputs.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    iterations: { type: 'string' },
    'api-iterations': { type: 'string' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    out: { type: 'string', default: 'fuzz-findings' },
  },
});
const seed = Number(values.seed);
const outDir = resolve(values.out);
const iterations = values.iterations === undefined ? undefined : Number(values.iterations);
const seconds = Number(values.seconds ?? 60);
const apiIterations =
  values['api-iterations'] !== undefined
    ? Number(values['api-iterations'])
    : iterations === undefined
      ? undefined
      : Math.max(200, Math.floor(iterations / 20));
const saved: string[] = [];
/** How often a long run says how far it is (on standard error, so the summary stays alone on standard output). */
const PROGRESS_EVERY_MS = 10_000;

async function save(name: string, data: Uint8Array | string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}/${name}`;
  await writeFile(path, data);
  saved.push(path);
}

const started = performance.now();
const fixtures = await loadFixtures();
console.log(
  `fuzz: seed ${seed}, fixtures ${fixtures.source}, ${iterations === undefined ? `${seconds} s` : `${iterations} codec + ${apiIterations} API iterations`}`,
);

// ---- the codec ---------------------------------------------------------------------------
const kernel = Btf.parse(fixtures.vmlinux);
const realObjects = ['shared_a', 'tools_like', 'type_matches']
  .map((n) => fixtures.objects.get(n)?.bytes)
  .filter((b): b is Uint8Array => b !== undefined);
const craftedObjects = [
  object([r(lSkFlat, '0:0', K.FieldByteOffset), r(lBf, '0:1', K.FieldLshiftU64, 1), r(lArr, '0:0:1:2', K.FieldByteOffset, 2)]),
  object([r(lOps, '0', K.TypeMatches), r(lE64, '0', K.EnumvalValue, 1), r(lPr, '0:0', K.FieldExists, 2), r(lSkT, '0', K.TypeSize, 3)]),
];
const crafted = codecTargets({
  btfSeeds: [encodeBtf(everyKind()), encodeBtf(everyKind(), { littleEndian: false }), TARGET, ...btf2026Seeds()],
  objectSeeds: craftedObjects,
  target: Btf.parse(TARGET),
});
const real = codecTargets({
  btfSeeds: [
    trimBtf(
      kernel,
      realObjects.map((o, i) => parseBpfObject(o, `o${i}`)),
    ),
  ],
  objectSeeds: realObjects,
  target: kernel,
})
  .filter((target) => target.name === 'object+trim' || target.name === 'btf.ext')
  .map((target) => ({ ...target, name: `${target.name} (kernel)` }));
const codecStarted = performance.now();
const hostile = hostileTargets(realObjects[1] ?? realObjects[0], kernel);
const codec = runFuzz([...crafted, ...real, ...hostile], {
  seed,
  iterations: iterations ?? Number.MAX_SAFE_INTEGER,
  ...(iterations === undefined && { timeLimitMs: (seconds * 1000 * 2) / 3 }),
  slowMs: 2000,
  progressEveryMs: PROGRESS_EVERY_MS,
  onProgress: (so) =>
    console.error(
      `codec: ${so.iterations}${iterations === undefined ? '' : ` of ${iterations}`} iterations, ${so.findings.length} crashes (${((performance.now() - codecStarted) / 1000).toFixed(0)} s)`,
    ),
});
for (const finding of codec.findings) await save(`codec-${finding.target.replace(/\W+/g, '_')}-${finding.iteration}.bin`, finding.input);
console.log(
  `codec: ${codec.iterations} iterations in ${((performance.now() - codecStarted) / 1000).toFixed(1)} s, ${codec.findings.length} crashes, ` +
    `${codec.accepted} accepted, ${codec.distinctErrors} distinct errors, rejected by code ${JSON.stringify(codec.rejected)}, slowest ${codec.slowestMs.toFixed(0)} ms`,
);

// ---- the API -----------------------------------------------------------------------------
const teardowns: (() => unknown)[] = [];
const api = await setupApi({ teardown: (fn: () => unknown) => void teardowns.push(fn) } as never, {
  maxFileBytes: 2 * 1024 * 1024,
  maxFiles: 4,
  requestWaitMs: 20_000,
  config: { maxRequestBytes: 4 * 1024 * 1024, maxUploadBytesInFlight: 64 * 1024 * 1024 },
});
const rng = new Rng(seed ^ 0x5eed);
const pick = <T>(items: readonly T[]): T => items[rng.below(items.length)]!;
const fixtureSeeds = ['enum64', 'fail_anon_root', 'type_matches', 'tools_like', 'shared_a', 'shared_b']
  .map((name) => fixtures.objects.get(name)?.bytes)
  .filter((b): b is Uint8Array => b !== undefined);
// Issue 9's hostile families, small enough to mutate quickly, as the API sees them (uploads):
// shared section names, many sections, shared type names, many types, repeated relocations,
// long member lists, deep chains, many .BTF.ext sections (named apart and sharing a long name).
const seedObjects = [
  ...fixtureSeeds,
  elfWithSharedSectionNames(200, 20_000, false),
  elfWithSharedSectionNames(2000, 64, true),
  objectOnManyTypes(2000),
  ...(fixtures.objects.get('tools_like') ? [withRepeatedRelocations(fixtures.objects.get('tools_like')!.bytes, 20)] : []),
  longMemberLists(2000).object,
  deepTypedefChains(500).object,
  manyExtSections(2000),
  manyExtSections(500, 10_000),
];
const CUSTOMIZE = '/api/v1/customize?distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';
const NASTY = [
  '',
  '..',
  '../etc',
  'a/b',
  '%00',
  'x'.repeat(130),
  'ü',
  '__proto__',
  'constructor',
  '-x',
  '.x',
  'ubuntu',
  '22.04',
  'amd64',
  'focal',
  '5.15.0-91-generic',
];
const randomText = () =>
  rng.below(3) === 0 ? Buffer.from(Array.from({ length: rng.below(40) }, () => rng.below(256))).toString('latin1') : pick(NASTY);

/** A mutated object: codec mutations, sometimes stacked, sometimes gzip-wrapped (valid or damaged). */
function fuzzObject(): Uint8Array {
  let bytes = pick(seedObjects);
  const rounds = rng.below(3);
  for (let k = 0; k < rounds; k++) bytes = mutate(bytes, rng).bytes;
  if (rng.below(6) === 0) {
    const gz = gzipSync(bytes);
    return rng.below(2) === 0 ? gz : mutate(gz, rng).bytes;
  }
  return bytes;
}

function fuzzRequest(): InjectOptions {
  const strategy = rng.below(6);
  const customize = rng.below(4) === 0;
  const fields: Part[] = Object.entries(RAW_FIELDS).map(([name, data]) => ({ name, data }));
  if (strategy === 0) {
    // Fields mutated: values, names, duplicates, missing ones.
    for (const field of fields) if (rng.below(3) === 0) field.data = randomText();
    if (rng.below(4) === 0) fields.push({ name: pick(['distro', 'object', 'bpf', 'x', '']), data: randomText() });
    if (rng.below(4) === 0) fields.splice(rng.below(fields.length), 1);
  }
  const objects = Array.from({ length: 1 + (rng.below(4) === 0 ? rng.below(3) : 0) }, () =>
    strategy === 1 ? pick(seedObjects) : fuzzObject(),
  );
  const parts: Part[] = [
    ...(customize ? [] : fields),
    ...objects.map((data) => ({ name: customize ? 'bpf' : 'object', filename: pick(['p.bpf.o', 'p.o.gz', '', '../../x', 'ü.o']), data })),
  ];
  if (rng.below(2) === 0) parts.reverse();
  const body = multipart(parts);
  let payload: Buffer = body.payload;
  let headers: Record<string, string> = body.headers;
  if (strategy === 2) payload = Buffer.from(mutate(payload, rng).bytes); // the multipart framing itself
  if (strategy === 3)
    headers = {
      'content-type': pick([
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'multipart/form-data; boundary=x',
        'text/plain',
        'application/json',
        body.headers['content-type'] + '; charset=utf-7',
      ]),
    };
  return { method: 'POST', url: customize ? CUSTOMIZE : '/api/v1/btf', payload, headers };
}

/** An inject still unanswered after this is a crash (the slowest legitimate one here takes a few seconds). */
const NO_ANSWER_MS = 30_000;
const statuses: Record<string, number> = {};
const errorKinds = new Set<string>();
let apiCrashes = 0;
let apiDone = 0;
/** The slowest request and its answer, for the summary: a slow answer short of a crash still deserves a look. */
let slowest: { i: number; took: number; request: InjectOptions; why: string | null; status: number; body: string } | undefined;
const apiStarted = performance.now();
const SLOW_KEPT_MS = 1000;
let nextApiProgress = apiStarted + PROGRESS_EVERY_MS;
const apiDeadline = apiIterations === undefined ? apiStarted + (seconds * 1000) / 3 : Number.POSITIVE_INFINITY;
for (let i = 0; (apiIterations === undefined || i < apiIterations) && performance.now() < apiDeadline; i++) {
  const request = fuzzRequest();
  const t0 = performance.now();
  let why: string | null = null;
  let status = 0;
  let body = '';
  try {
    const res = await answerWithin(api.app.inject(request), NO_ANSWER_MS);
    status = res.statusCode;
    body = res.body;
    if (status >= 500) why = `status ${status}`;
    else if (status >= 400 && !ErrorBody.safeParse(safeJson(body)).success) why = `status ${status} without the JSON error shape`;
    if (status >= 400) {
      const parsed = safeJson(body) as { error?: string; message?: string } | undefined;
      errorKinds.add(
        `${status} ${parsed?.error ?? '?'}: ${String(parsed?.message ?? '')
          .replace(/[0-9a-f]{16,}/g, 'H')
          .replace(/\d+/g, 'N')
          .replace(/"[^"]*"/g, 'S')
          .slice(0, 80)}`,
      );
    }
  } catch (err) {
    why = `inject threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }
  const took = performance.now() - t0;
  if (why === null && took > 15_000) why = `took ${took.toFixed(0)} ms`;
  statuses[status] = (statuses[status] ?? 0) + 1;
  if (took > (slowest?.took ?? -1)) slowest = { i, took, request, why, status, body };
  if (why !== null) {
    apiCrashes++;
    await save(`api-${i}.json`, requestRecord(request, why, status, body));
    console.log(`api: crash at iteration ${i}: ${why}`);
  }
  apiDone++;
  if (performance.now() >= nextApiProgress) {
    nextApiProgress = performance.now() + PROGRESS_EVERY_MS;
    console.error(
      `api: ${apiDone}${apiIterations === undefined ? '' : ` of ${apiIterations}`} requests, ${apiCrashes} crashes (${((performance.now() - apiStarted) / 1000).toFixed(0)} s)`,
    );
  }
}
console.log(
  `api: ${apiDone} requests in ${((performance.now() - apiStarted) / 1000).toFixed(1)} s, ${apiCrashes} crashes, statuses ${JSON.stringify(statuses)}, ` +
    `${errorKinds.size} distinct error types, slowest ${describeSlowest()}, trims recorded ${await api.catalog.countTrims()}`,
);
for (const kind of [...errorKinds].sort().slice(0, 40)) console.log(`  ${kind}`);
// The slowest request is kept (as a crash's is) when it took more than a second, to replay it.
if (slowest !== undefined && slowest.took > SLOW_KEPT_MS) {
  const { took, request, why, status, body } = slowest;
  await save('api-slowest.json', requestRecord(request, why ?? `took ${took.toFixed(0)} ms`, status, body));
}
for (const teardown of teardowns.reverse()) await teardown();

const crashes = codec.findings.length + apiCrashes;
console.log(
  `fuzz: ${codec.iterations + apiDone} iterations, ${crashes} crashes${saved.length > 0 ? `; inputs saved: ${saved.join(', ')}` : ''} (${((performance.now() - started) / 1000).toFixed(0)} s, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB)`,
);
process.exitCode = crashes === 0 ? 0 : 1;

/** The slowest API request, as the summary names it. */
function describeSlowest(): string {
  if (slowest === undefined) return 'none';
  const { i, took, request, status } = slowest;
  const url = typeof request.url === 'string' ? request.url : JSON.stringify(request.url);
  return `${took.toFixed(0)} ms (iteration ${i}: ${request.method} ${url}, ${payloadBytes(request).length} bytes, answered ${status})`;
}

/** The body a fuzzed request sends (fuzzRequest gives a Buffer or a string). */
function payloadBytes(request: ReturnType<typeof fuzzRequest>): Buffer {
  return Buffer.isBuffer(request.payload) ? request.payload : Buffer.from(typeof request.payload === 'string' ? request.payload : '');
}

/** A request as saved under --out (a crash's, or the slowest one's): enough to replay it with inject(). */
function requestRecord(request: ReturnType<typeof fuzzRequest>, why: string, status: number, body: string): string {
  return JSON.stringify(
    {
      why,
      method: request.method,
      url: request.url,
      headers: request.headers,
      payload: payloadBytes(request).toString('base64'),
      status,
      body: body.slice(0, 2000),
    },
    null,
    1,
  );
}

/**
 * `promise`, or a rejection once `ms` pass: an inject that never answers (in process there is
 * no socket, so no request timeout ends it) is a finding with its input saved, not a run
 * that stalls with nothing to show (one did, after an hour, with a multipart part open).
 */
async function answerWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
