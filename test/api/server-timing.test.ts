/**
 * The Server-Timing header of the trim routes: present on POST /api/v1/btf and
 * /api/v1/customize, well formed, its stages adding up to no more than its total, and naming
 * only what the request did (a cached answer never names a trim).
 */
import t, { type Test } from 'tap';
import { StageTimings } from '../../src/api/stage-timings.js';
import { btfForm, fixtureObject, multipart, setupApi, why } from './helpers.js';

const RAW_QUERY = 'distribution=ubuntu&distribution_version=22.04&kernel_version=5.15.0-91-generic&arch=x86_64';

/** `name;dur=<ms>` entries, comma-separated, the last one `total`: the header parsed, or a failed assertion. */
function parseServerTiming(t: Test, header: unknown): { stages: Map<string, number>; total: number } {
  t.type(header, 'string', 'Server-Timing is present');
  const stages = new Map<string, number>();
  let total = Number.NaN;
  for (const entry of String(header).split(', ')) {
    const match = /^([a-z]+);dur=(\d+\.\d{2})$/.exec(entry);
    t.ok(match, `entry ${JSON.stringify(entry)} is name;dur=<ms>`);
    if (match === null) continue;
    t.notOk(stages.has(match[1]!) || (match[1] === 'total' && !Number.isNaN(total)), `${match[1]} named once`);
    if (match[1] === 'total') total = Number(match[2]);
    else stages.set(match[1]!, Number(match[2]));
  }
  t.ok(Number.isFinite(total), 'the total is named');
  t.ok(String(header).endsWith(`total;dur=${total.toFixed(2)}`), 'the total comes last');
  let sum = 0;
  for (const ms of stages.values()) sum += ms;
  // Each printed stage is rounded down and the total up, so the printed figures add up too.
  t.ok(sum <= total, `stages add up to ${sum.toFixed(2)} ms, at most the total ${total.toFixed(2)} ms`);
  return { stages, total };
}

/** What a new trim does, in the order the request does it (in process: no read-back of its result). */
const NEW_TRIM = [
  'multipart',
  'hash',
  'lookup',
  'parse',
  'store',
  'fsync',
  'catalog',
  'queue',
  'load',
  'codec',
  'decode',
  'trim',
  'verify',
];

t.test('POST /api/v1/btf: a new trim names every stage, a cached one only what it did', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const object = fixtureObject(fixtures, 'tools_like');

  const first = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(first.statusCode, 200, why(first));
  t.equal(first.headers['x-btfhub-cache'], 'miss');
  const miss = parseServerTiming(t, first.headers['server-timing']);
  t.same([...miss.stages.keys()].sort(), [...NEW_TRIM].sort(), 'a new trim names every stage it went through');
  t.notOk(miss.stages.has('readback'), 'the job ran in this process: its bytes were taken in memory, not read back from the store');
  t.same(first.rawPayload, Buffer.from(fixtures.oracle.single.get('tools_like')!), 'the bytes bpftool writes');
  t.ok(miss.stages.get('trim')! > 0, 'the trim took time');
  t.ok(miss.stages.get('multipart')! > 0, 'so did receiving the body');

  // A new trim's result is not kept in memory: the first repeat reads it from the store and keeps it.
  const second = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(second.headers['x-btfhub-cache'], 'hit');
  const firstRepeat = parseServerTiming(t, second.headers['server-timing']);
  t.same([...firstRepeat.stages.keys()], ['multipart', 'hash', 'lookup', 'readback'], 'the first repeat reads the stored result');
  t.same(second.rawPayload, first.rawPayload);

  const third = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(third.headers['x-btfhub-cache'], 'hit');
  const hit = parseServerTiming(t, third.headers['server-timing']);
  t.same([...hit.stages.keys()], ['multipart', 'hash', 'lookup'], 'answered from memory: received, hashed, looked up');
  t.same(third.rawPayload, first.rawPayload);
});

t.test('a trim answered from the catalog and the store names its read-back', async (t) => {
  // No trim cache: every hit reads the catalog's row and the stored result.
  const { app, fixtures } = await setupApi(t, { config: { trimCacheBytes: 0 } });
  const object = fixtureObject(fixtures, 'enum64');
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) })).statusCode, 200);
  const res = await app.inject({ method: 'POST', url: '/api/v1/btf', ...btfForm([object]) });
  t.equal(res.headers['x-btfhub-cache'], 'hit', why(res));
  const { stages } = parseServerTiming(t, res.headers['server-timing']);
  t.same([...stages.keys()], ['multipart', 'hash', 'lookup', 'readback']);
});

t.test('POST /api/v1/customize names the .tar.xz it builds', async (t) => {
  const { app, fixtures } = await setupApi(t);
  const object = fixtureObject(fixtures, 'enum64');
  const form = multipart([{ name: 'bpf', filename: 'prog.bpf.o', data: object.bytes }]);
  const res = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.equal(res.statusCode, 200, why(res));
  const { stages } = parseServerTiming(t, res.headers['server-timing']);
  t.ok(stages.has('trim') && stages.has('archive'), 'the trim and the archive around it');
  const again = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.same(
    [...parseServerTiming(t, again.headers['server-timing']).stages.keys()],
    ['multipart', 'hash', 'lookup', 'readback', 'archive'],
    'the first repeat reads the stored trim',
  );
  const third = await app.inject({ method: 'POST', url: `/api/v1/customize?${RAW_QUERY}`, ...form });
  t.same(
    [...parseServerTiming(t, third.headers['server-timing']).stages.keys()],
    ['multipart', 'hash', 'lookup', 'archive'],
    'then it is in memory',
  );
});

t.test("a job longer than the request's wait was another request's: the wait is all queue", async (t) => {
  const stages = { load: 1, codec: 1, decode: 1, trim: 5, verify: 1, store: 1, fsync: 2, catalog: 1 };
  const joined = new StageTimings();
  joined.addJob(4, stages);
  t.same([...joined.stages()], [['queue', 4]], 'the job ran mostly before this request waited on it');
  const own = new StageTimings();
  own.addJob(20, stages);
  t.same(Object.fromEntries(own.stages()), { ...stages, queue: 7 }, "its own job: the job's stages, the rest of the wait queue");

  // The issued job's catalog row (3 ms) was written while the job ran: the job's 13 ms and the
  // 3 ms fill a 14 ms window. Before, the 3 ms were taken off the window first, the job no
  // longer fitted, and its stages were dropped as another request's (seen in CI).
  const overlapped = new StageTimings();
  overlapped.add('catalog', 3);
  overlapped.addJob(14, stages, { stage: 'catalog', ms: 3 });
  t.same(
    Object.fromEntries(overlapped.stages()),
    { ...stages, catalog: 1 + 1, queue: 0 },
    'the job named; the overlap (2 ms) taken back from the catalog stage',
  );
  let named = 0;
  for (const ms of overlapped.stages().values()) named += ms;
  t.equal(named, 14, 'the window is named once, no more');
  const apart = new StageTimings();
  apart.add('catalog', 3);
  apart.addJob(20, stages, { stage: 'catalog', ms: 3 });
  t.same(Object.fromEntries(apart.stages()), { ...stages, catalog: 3 + 1, queue: 4 }, 'no overlap: nothing taken back');
});

t.test('stages timed apart, run beside the job: only the wait they add is named, split in proportion', async (t) => {
  const writes = new StageTimings();
  writes.add('store', 3);
  writes.add('fsync', 1);
  const request = new StageTimings();
  request.add('trim', 5);
  request.addOverlapped(writes, 2);
  t.same(Object.fromEntries(request.stages()), { trim: 5, store: 1.5, fsync: 0.5 }, 'a 2 ms wait for 4 ms of writes: half of each');
  const hidden = new StageTimings();
  hidden.addOverlapped(writes, 0);
  t.same([...hidden.stages()], [], 'writes done before the job: nothing named');
  const longer = new StageTimings();
  longer.addOverlapped(writes, 10);
  t.same(Object.fromEntries(longer.stages()), { store: 3, fsync: 1 }, 'never more than the writes took (the rest was the wait itself)');
});
