import t from 'tap';
import { Btf, parseBpfObject, resolveRelocations, CoreReloKind as K } from '../../src/btf/index.js';
import { parseAccessString } from '../../src/btf/core.js';
import { essentialName, essentialNameHash, essentialHashAt } from '../../src/btf/names.js';
import { TARGET, object, r, lSkFlat, lMissing, lSkMissingField, lE, lAnon, lE64 } from '../helpers/crafted.js';

t.test('access strings are parsed like libbpf sscanf("%d") loops', async (t) => {
  t.same(parseAccessString('0'), [0]);
  t.same(parseAccessString('0:1:2:3'), [0, 1, 2, 3]);
  t.same(parseAccessString('10:1'), [10, 1]);
  t.same(parseAccessString('0: 7'), [0, 7], 'sscanf skips leading white space');
  t.same(parseAccessString('0:+7'), [0, 7], 'and accepts a plus sign');
  t.same(parseAccessString(Array(64).fill('1').join(':')).length, 64, '64 elements are allowed');
  for (const bad of ['', ':0', '0:', '0::1', 'a', '0:x', '0:-1', '0:99999999999', Array(65).fill('1').join(':')]) {
    t.throws(() => parseAccessString(bad), Error, `"${bad.length > 20 ? `${bad.slice(0, 20)}...` : bad}" is refused`);
  }
});

t.test('essential names and their hash agree, read from a string table or from a string', async (t) => {
  for (const name of ['task_struct', 'task_struct___old', 'a___b___c', 'foo____bar', '___x', 'abc___', 'a_b', 'x___y_z', 'ab']) {
    const bytes = new Uint8Array([...name].map((c) => c.charCodeAt(0)).concat([0]));
    t.equal(essentialHashAt(bytes, 0), essentialNameHash(name), `${name} -> ${essentialName(name)}`);
  }
  t.equal(essentialName('task_struct___old'), 'task_struct');
  t.equal(essentialName('a___b___c'), 'a___b');
  t.equal(essentialName('foo____bar'), 'foo____bar');
  t.equal(essentialName('___x'), '___x');
  t.equal(essentialName('abc___'), 'abc___');
});

t.test('relocation outcomes say what resolved and why others did not', async (t) => {
  const target = Btf.parse(TARGET);
  const obj = parseBpfObject(object([
    r(lSkFlat, '0:1', K.FieldByteOffset),
    r(lMissing, '0:0', K.FieldExists, 1),
    r(lMissing, '0', K.TypeExists, 2),
    r(lSkMissingField, '0:0', K.FieldByteOffset, 3),
    r(lE, '1', K.EnumvalValue, 4),
    r(lE64, '0', K.EnumvalValue, 5),
    r(lSkFlat, '0', K.TypeIdLocal, 6),
  ]), 'x.bpf.o');
  const outcomes = resolveRelocations(target, [obj]);
  t.equal(outcomes.length, 7);
  t.match(outcomes[0], { object: 'x.bpf.o', section: 'kprobe/test', insnOff: 0, kindName: 'byte_off', localTypeName: 'sk', access: '0:1', value: 0 });
  t.notOk(outcomes[0]!.reason);
  t.match(outcomes[1], { kindName: 'field_exists', value: 0, reason: 'no matching target type' });
  t.match(outcomes[2], { kindName: 'type_exists', value: 0, reason: 'no matching target type' });
  t.match(outcomes[3], { kindName: 'byte_off', value: null, reason: 'field not found in target' });
  t.match(outcomes[4], { kindName: 'enumval_value', value: null, reason: 'enumerator not found in target' });
  t.match(outcomes[5], { kindName: 'enumval_value', value: 2 ** 40 });
  t.match(outcomes[6], { kindName: 'local_type_id', value: lSkFlat });
});

t.test('a relocation libbpf rejects ends the object with an error outcome', async (t) => {
  const outcomes = resolveRelocations(Btf.parse(TARGET), [parseBpfObject(object([r(lSkFlat, '0:0', K.FieldByteOffset), r(lAnon, '0:0', K.FieldExists, 1), r(lSkFlat, '0:0', K.FieldByteOffset, 2)]), 'y.bpf.o')]);
  t.equal(outcomes.length, 2, 'the one before, then the error; nothing after');
  t.match(outcomes[1], { kindName: 'error', value: null, reason: /anonymous types/ });
});
