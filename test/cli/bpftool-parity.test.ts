/**
 * The CLI against bpftool 7.1.0 on real inputs: this machine's kernel BTF and CO-RE
 * objects compiled from fixtures/*.bpf.c. Skipped, with the reason, where bpftool, clang
 * or the kernel BTF is missing.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import {
  bpftoolLoggedRelocations,
  bpftoolMinCoreBtf,
  bpftoolRawDump,
  buildSample,
  firstDifference,
  hasTool,
  lineCount,
  sampleSkipReason,
  type SampleBuild,
} from './fixtures/oracle.js';
import { run } from './fixtures/io.js';

const skip = sampleSkipReason() || (hasTool('xz') && hasTool('tar') ? false : 'xz or GNU tar is not installed');

t.test('bpftool parity', { skip }, async (t) => {
  const sample: SampleBuild = await buildSample();
  t.teardown(sample.cleanup);
  const { dir, vmlinux, object, second } = sample;
  // BTFHub's layout, made by GNU tar as BTFHub does.
  const archive = join(dir, `${release()}.btf.tar.xz`);
  // XZ_OPT=-1 only makes xz faster; the format is the same.
  execFileSync('tar', ['-cJf', archive, '-C', dir, `--transform=s/vmlinux.btf/${release()}.btf/`, 'vmlinux.btf'], {
    env: { ...process.env, XZ_OPT: '-1' },
  });

  t.test('trim equals bpftool gen min_core_btf byte for byte', async (t) => {
    const cases: Array<[string, string, string[]]> = [
      ['one object', vmlinux, [object]],
      ['two objects', vmlinux, [object, second]],
      ['two objects, reversed', vmlinux, [second, object]],
      ['kernel BTF from a .btf.tar.xz', archive, [object, second]],
    ];
    for (const [label, target, objects] of cases) {
      const reference = await bpftoolMinCoreBtf(dir, vmlinux, objects);
      const r = await run(['trim', '--btf', target, ...objects]);
      t.equal(r.code, 0, `${label}: exit 0`);
      t.equal(r.stderr, '');
      t.ok(r.stdoutBytes.equals(reference), `${label}: ${reference.length} bytes, identical`);
    }

    const out = join(dir, 'trimmed.btf');
    const r = await run(['trim', '--btf', vmlinux, '--out', out, object, second]);
    t.equal(r.code, 0);
    t.equal(r.stdout, '', '--out: nothing on stdout');
    t.ok((await readFile(out)).equals(await bpftoolMinCoreBtf(dir, vmlinux, [object, second])), '--out file identical');
    t.equal(firstDifference((await run(['dump', out])).stdout, bpftoolRawDump(out)), undefined, 'and it dumps as bpftool dumps it');
  });

  t.test('relocs lists every relocation libbpf resolves, as it resolves it', async (t) => {
    for (const objects of [[object], [object, second]]) {
      const r = await run(['relocs', '--btf', vmlinux, ...objects]);
      t.equal(r.code, 0);
      t.equal(r.stderr, '');
      const lines = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const logged = bpftoolLoggedRelocations(dir, vmlinux, objects);
      t.ok(logged.length >= 5 * objects.length, `bpftool logged ${logged.length} relocations`);
      t.equal(lines.length, logged.length, `one JSON line per relocation (${lines.length})`);
      logged.forEach((want, i) => {
        const got = lines[i] ?? {};
        const label = `${want.section} relo #${want.index} <${want.kind}>`;
        t.match(got, { section: want.section, index: want.index, kind: want.kind, local_type_id: want.localTypeId }, label);
        t.equal(got.target_type_id, want.targetTypeId, `${label}: target type`);
        if (want.access !== undefined) t.equal(got.access, want.access, `${label}: access`);
        if (want.kind === 'byte_off' && want.targetOffset && !want.targetOffset.includes('.')) {
          t.equal(got.value, Number(want.targetOffset), `${label}: byte offset`);
        }
        t.ok(got.value !== null || typeof got.reason === 'string', `${label}: a value, or null with a reason`);
      });
      t.same([...new Set(lines.map((l) => l.object))], objects, 'objects in argument order');
    }
  });

  t.test('dump equals bpftool btf dump ... format raw', async (t) => {
    for (const [label, file, reference] of [
      ['a BPF object', object, object],
      // Plain kernel BTF is test/btf/dump.test.ts's; here it comes through the archive path.
      ['the kernel BTF inside a .btf.tar.xz', archive, vmlinux],
    ] as const) {
      const r = await run(['dump', file]);
      const want = bpftoolRawDump(reference);
      t.equal(r.code, 0, label);
      t.equal(firstDifference(r.stdout, want), undefined, `${label}: no line differs`);
      t.equal(lineCount(r.stdout), lineCount(want), `${label}: ${lineCount(want)} lines`);
    }
  });

  t.test('a relocation libbpf rejects fails relocs and trim, as it fails bpftool', async (t) => {
    // libbpf refuses relocations rooted at an anonymous type: point a TYPE_EXISTS at one.
    const bytes = new Uint8Array(await readFile(object));
    const broken = join(dir, 'broken.bpf.o');
    const anon = findAnonymousStruct(await run(['dump', object]));
    const patched = patchTypeExistsRoot(bytes, anon);
    await writeFile(broken, patched);
    let bpftoolFailed = false;
    try {
      await bpftoolMinCoreBtf(dir, vmlinux, [broken]);
    } catch {
      bpftoolFailed = true;
    }
    t.ok(bpftoolFailed, 'bpftool refuses it');
    const trim = await run(['trim', '--btf', vmlinux, broken]);
    t.equal(trim.code, 1);
    t.match(trim.stderr, new RegExp(`^btfhub trim: ${broken}: `));
    t.equal(trim.stdout, '');
    const relocs = await run(['relocs', '--btf', vmlinux, broken, object]);
    t.equal(relocs.code, 1);
    t.match(relocs.stderr, /^btfhub relocs: .*broken\.bpf\.o.*anonymous/);
    t.ok(relocs.stdout.includes(`"object":"${object}"`), 'the other object is still listed');
  });
});

/** Id of an anonymous STRUCT in a raw dump (every kernel-derived object has some). */
function findAnonymousStruct(dump: { stdout: string }): number {
  const m = /^\[(\d+)\] STRUCT '\(anon\)'/m.exec(dump.stdout);
  if (!m) throw new Error('no anonymous struct in the object');
  return Number(m[1]);
}

const TYPE_EXISTS = 8;

/**
 * Rewrites the root type id of the first TYPE_EXISTS record in `.BTF.ext` (little-endian
 * ELF64). core_relo data: rec_size u32, then per section sec_name_off u32, num_info u32
 * and num_info records of {insn_off, type_id, access_str_off, kind}.
 */
function patchTypeExistsRoot(elf: Uint8Array, typeId: number): Uint8Array {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(v.getBigUint64(40, true));
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  const section = (i: number) => ({
    name: v.getUint32(shoff + i * shentsize, true),
    offset: Number(v.getBigUint64(shoff + i * shentsize + 24, true)),
  });
  const strtab = section(shstrndx).offset;
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    let end = strtab + s.name;
    while (elf[end] !== 0) end++;
    if (Buffer.from(elf.subarray(strtab + s.name, end)).toString() !== '.BTF.ext') continue;
    const hdrLen = v.getUint32(s.offset + 4, true);
    const start = s.offset + hdrLen + v.getUint32(s.offset + 24, true);
    const stop = start + v.getUint32(s.offset + 28, true);
    const recSize = v.getUint32(start, true);
    for (let at = start + 4; at < stop;) {
      const count = v.getUint32(at + 4, true);
      for (let r = 0; r < count; r++) {
        const record = at + 8 + r * recSize;
        if (v.getUint32(record + 12, true) !== TYPE_EXISTS) continue;
        const out = elf.slice();
        new DataView(out.buffer).setUint32(record + 4, typeId, true);
        return out;
      }
      at += 8 + count * recSize;
    }
  }
  throw new Error('no TYPE_EXISTS relocation in .BTF.ext');
}
