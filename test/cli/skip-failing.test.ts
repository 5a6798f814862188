import t from 'tap';
import { Btf } from '../../src/btf/index.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { run } from './fixtures/io.js';

const fixtures = await loadFixtures();
const failing = fixtures.objects.get('fail_anon_root')!;
const good = fixtures.objects.get('shared_a')!;

t.test('trim fails on a relocation bpftool aborts on, like bpftool', async (t) => {
  const r = await run(['trim', '--btf', fixtures.vmlinuxPath, good.path, failing.path]);
  t.equal(r.code, 1);
  t.match(r.stderr, /fail_anon_root\.bpf\.o: section \S+, insn #\d+ .*anonymous types/);
  t.equal(r.stdoutBytes.length, 0, 'nothing written');
});

t.test('trim --skip-failing reports it on stderr and trims the rest', async (t) => {
  const r = await run(['trim', '--skip-failing', '--btf', fixtures.vmlinuxPath, good.path, failing.path]);
  t.equal(r.code, 0);
  t.match(r.stderr, /^btfhub trim: skipped: .*fail_anon_root\.bpf\.o.*anonymous types/);
  const alone = await run(['trim', '--btf', fixtures.vmlinuxPath, good.path]);
  t.same(r.stdoutBytes, alone.stdoutBytes, 'the failing relocation marked nothing, so the output is the good object alone');
  t.ok(Btf.parse(new Uint8Array(r.stdoutBytes)).typeCount > 1);
});
