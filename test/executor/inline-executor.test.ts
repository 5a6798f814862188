/** The in-thread codec executor: uploads checked, trims equal to bpftool's and verified, failures by stage. */
import { createHash } from 'node:crypto';
import t from 'tap';
import { workCounters } from '../../src/btf/work-counters.js';
import { CodecTaskError } from '../../src/executor/codec-executor.js';
import { InlineCodecExecutor } from '../../src/executor/inline-executor.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { parsesToPushOut, storedObjects } from '../helpers/stored-objects.js';

const fx = await loadFixtures();
const object = (name: string) => ({ name: `${name}.bpf.o`, bytes: fx.objects.get(name)!.bytes });
const kernel = (raw: Uint8Array, sha256 = createHash('sha256').update(raw).digest('hex')) => ({
  cacheKey: { storageKey: 'ubuntu/22.04/x86_64/test.btf', sha256 },
  loadRaw: async () => raw,
});

t.test('checkObjects: CO-RE objects pass, anything else is a CodecTaskError of the object stage naming it', async (t) => {
  const codec = new InlineCodecExecutor({ kernelCacheBytes: 0 });
  await codec.checkObjects([object('tools_like'), object('enum_relos')]);
  const error = await codec
    .checkObjects([object('tools_like'), { name: 'notes.txt', bytes: new TextEncoder().encode('hello') }])
    .catch((e: unknown) => e);
  t.ok(error instanceof CodecTaskError);
  t.match(error, { stage: 'object', message: /not an ELF file/ });
});

t.test('trim: the bytes bpftool writes, verified; the kernel decoded once', async (t) => {
  const codec = new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 });
  t.teardown(() => codec.close());
  let loads = 0;
  const input = { ...kernel(fx.vmlinux), loadRaw: async () => (loads++, fx.vmlinux) };
  const first = await codec.trim(input, [object('tools_like')]);
  t.same(Buffer.from(first.bytes), Buffer.from(fx.oracle.single.get('tools_like')!), 'byte-identical to bpftool gen min_core_btf');
  t.equal(first.sha256, createHash('sha256').update(first.bytes).digest('hex'));
  t.ok(first.relocationsVerified > 0);
  t.equal(first.kernelCached, false);
  const second = await codec.trim(input, [object('tools_like')]);
  t.equal(second.kernelCached, true);
  t.equal(loads, 1, 'loaded and decoded once');
  t.equal(codec.decodedKernels().count, 1);
  t.ok(codec.decodedKernels().bytes > 0);
  await codec.close();
  t.equal(codec.decodedKernels().count, 0, 'close drops the decoded kernels');
});

t.test('an object checked with its sha256 is parsed once: the trim after the check uses that parse', async (t) => {
  const codec = new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 });
  t.teardown(() => codec.close());
  const tools = fx.objects.get('tools_like')!.bytes;
  const sha256 = createHash('sha256').update(tools).digest('hex');
  await codec.trim(kernel(fx.vmlinux), [object('enum_relos')]); // the kernel decoded, out of the counts below
  /** Records the codec reads for a check then a trim of tools_like (named as the trim job names it). */
  const recordsFor = async (withHash: boolean) => {
    const before = workCounters.recordsRead;
    await codec.checkObjects([{ name: 'prog.bpf.o', bytes: tools, ...(withHash && { sha256 }) }]);
    const trimmed = await codec.trim(kernel(fx.vmlinux), [{ name: `${sha256}.o`, bytes: tools, ...(withHash && { sha256 }) }]);
    t.same(Buffer.from(trimmed.bytes), Buffer.from(fx.oracle.single.get('tools_like')!), "bpftool's bytes either way");
    return workCounters.recordsRead - before;
  };
  const twice = await recordsFor(false);
  const once = await recordsFor(true);
  const parseRecords = twice - once;
  t.ok(
    parseRecords > 0 && once < twice,
    `without the hash ${twice} records read, with it ${once}: one parse (${parseRecords} records) fewer`,
  );

  // The kept parse is found under the hash whatever the name, and messages use this call's name.
  const objectWithMissingType = fx.objects.get('missing_type')!.bytes;
  const missingSha = createHash('sha256').update(objectWithMissingType).digest('hex');
  await codec.checkObjects([{ name: 'first-name.bpf.o', bytes: objectWithMissingType, sha256: missingSha }]);
  const described = await codec.describeRelocations([{ name: 'second-name.bpf.o', bytes: objectWithMissingType, sha256: missingSha }]);
  t.same(
    described.objects.map((o) => o.name),
    ['second-name.bpf.o'],
    'named as asked this time',
  );
});

t.test('failures say their stage', async (t) => {
  const codec = new InlineCodecExecutor({ kernelCacheBytes: 0 });
  const notBtf = await codec.trim(kernel(new Uint8Array(64)), [object('tools_like')]).catch((e: unknown) => e);
  t.match(notBtf, { name: 'CodecTaskError', stage: 'kernel' });
  const notObject = await codec.trim(kernel(fx.vmlinux), [{ name: 'x.o', bytes: new Uint8Array(16) }]).catch((e: unknown) => e);
  t.match(notObject, { name: 'CodecTaskError', stage: 'object' });
  const loadFailure = new Error('store down');
  const failed = await codec
    .trim({ ...kernel(fx.vmlinux), loadRaw: async () => Promise.reject(loadFailure) }, [object('tools_like')])
    .catch((e: unknown) => e);
  t.equal(failed, loadFailure, "the kernel source's own failure passes through unchanged");
});

t.test('objects given by hash are read only when their parse is not kept', async (t) => {
  const codec = new InlineCodecExecutor({ kernelCacheBytes: 1 << 30 });
  t.teardown(() => codec.close());
  const { sha, loads, stored } = storedObjects(fx);
  const oracle = (name: string) => Buffer.from(fx.oracle.single.get(name)!);

  const first = await codec.trim(kernel(fx.vmlinux), [stored('tools_like')]);
  t.same(Buffer.from(first.bytes), oracle('tools_like'), 'read when not parsed: the bytes bpftool writes');
  t.same(loads, ['tools_like']);
  const second = await codec.trim(kernel(fx.vmlinux), [stored('tools_like')]);
  t.same(Buffer.from(second.bytes), oracle('tools_like'), 'the kept parse');
  t.same(loads, ['tools_like'], 'not read again');

  const failure = new Error('object gone from the store');
  t.equal(
    await codec.trim(kernel(fx.vmlinux), [stored('enum_relos', () => Promise.reject(failure))]).catch((e: unknown) => e),
    failure,
    "a read's failure is the trim's, unchanged",
  );

  // A parse counted on is pushed out while another object of the same trim is read: read after all.
  loads.length = 0;
  let release!: () => void;
  let reads = 0;
  const slow = stored('field_offset', () =>
    reads++ > 0
      ? Promise.resolve(fx.objects.get('field_offset')!.bytes)
      : new Promise((resolve) => (release = () => resolve(fx.objects.get('field_offset')!.bytes))),
  );
  const both = codec.trim(kernel(fx.vmlinux), [stored('tools_like'), slow]);
  await new Promise((r) => setImmediate(r));
  for (const name of parsesToPushOut(['tools_like', 'field_offset'])) await codec.checkObjects([{ ...object(name), sha256: sha(name) }]);
  release();
  const trimmed = await both;
  t.same(loads, ['field_offset', 'tools_like', 'field_offset'], 'the pushed-out object was read, with the rest');
  t.ok(trimmed.relocationsVerified > 0, 'and the trim answered');
});
