/**
 * The built-in object of `btfhub smoke` (src/cli/smoke-object.ts) is what its C source beside
 * it compiles to: the same bytes with the clang that made it, or, with another clang, a CO-RE
 * object with the same relocations. And it trims like bpftool trims it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { Btf, parseBpfObject, trimBtf } from '../../src/btf/index.js';
import { describeOutcome, resolveObjectRelocations } from '../../src/btf/relocate.js';
import { SMOKE_OBJECT_CLANG, SMOKE_OBJECT_NAME, SMOKE_OBJECT_SHA256, smokeObject } from '../../src/cli/smoke-object.js';
import { loadFixtures, runBpftoolMinCore } from '../helpers/fixtures.js';

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('../../src/cli/smoke-object.bpf.c', import.meta.url));
const fx = await loadFixtures();
const clangVersion = await run('clang', ['--version']).then(
  (r) => r.stdout.split('\n')[0]!,
  () => undefined,
);

/** `kind root access` of every relocation, resolved against the fixture kernel. */
function relocations(bytes: Uint8Array): string[] {
  const out: string[] = [];
  resolveObjectRelocations(Btf.parse(fx.vmlinux), parseBpfObject(bytes, SMOKE_OBJECT_NAME), {
    onResolved: (r) => {
      const o = describeOutcome(r);
      out.push(`${o.kindName} ${o.localTypeName} ${o.access} ${o.targetTypeId === undefined ? 'unresolved' : 'resolved'}`);
    },
  });
  return out;
}

t.test('the embedded bytes: a CO-RE object whose two relocations resolve', async (t) => {
  const bytes = smokeObject();
  t.equal(createHash('sha256').update(bytes).digest('hex'), SMOKE_OBJECT_SHA256);
  t.same(relocations(bytes), ['byte_off task_struct 0:0 resolved', 'byte_off task_struct 0:1 resolved']);
  bytes[0] = 0;
  t.equal(smokeObject()[0], 0x7f, 'each call gives fresh bytes');
});

t.test('the source compiles to the embedded object', { skip: clangVersion === undefined ? 'clang is not installed' : false }, async (t) => {
  const version = clangVersion!;
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-smoke-object-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(SOURCE, join(dir, 'smoke-object.bpf.c'));
  // The command the module documents, run where the source is (the prefix map makes paths relative).
  await run(
    'clang',
    ['-g', '-O2', '-target', 'bpf', `-fdebug-prefix-map=${dir}=.`, '-c', 'smoke-object.bpf.c', '-o', 'smoke-object.bpf.o'],
    { cwd: dir },
  );
  const rebuilt = new Uint8Array(await readFile(join(dir, 'smoke-object.bpf.o')));
  if (version === SMOKE_OBJECT_CLANG) {
    t.equal(createHash('sha256').update(rebuilt).digest('hex'), SMOKE_OBJECT_SHA256, `${version}: the same bytes`);
  } else {
    t.comment(`${version} is not ${SMOKE_OBJECT_CLANG}: comparing relocations, not bytes`);
    t.same(relocations(rebuilt), relocations(smokeObject()), 'the same relocations');
  }
});

t.test('trimmed by btfhub as by bpftool', { skip: fx.hasBpftool ? false : 'bpftool is not installed' }, async (t) => {
  const ours = trimBtf(Btf.parse(fx.vmlinux), [parseBpfObject(smokeObject(), SMOKE_OBJECT_NAME)]);
  t.equal(Btf.parse(ours).typeCount - 1, 4, 'int, two typedefs of pid_t, task_struct');
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-smoke-object-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, SMOKE_OBJECT_NAME), smokeObject());
  const theirs = await runBpftoolMinCore(fx.vmlinuxPath, [join(dir, SMOKE_OBJECT_NAME)]);
  if (!theirs.ok) throw new Error(`bpftool failed: ${theirs.stderr}`);
  t.same(Buffer.from(ours), Buffer.from(theirs.btf), 'byte for byte');
});
