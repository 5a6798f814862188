import t from 'tap';
import { CONFIRMED_KEYS, CONFIRMED_MS, confirmContent, forgetContent, isConfirmed } from '../../src/storage/confirmed-content.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
/** Store objects are only identities here: nothing is read or written. */
const storeAt = (root: string) => new FsObjectStore(root);

t.test('a confirmation counts for its store, key and bytes, within CONFIRMED_MS', async (t) => {
  const store = storeAt('/nonexistent/confirmed-1');
  const other = storeAt('/nonexistent/confirmed-1');
  confirmContent(store, 'trimmed/x.btf', SHA_A, 1000);
  t.ok(isConfirmed(store, 'trimmed/x.btf', SHA_A, 1001), 'confirmed');
  t.notOk(isConfirmed(store, 'trimmed/x.btf', SHA_B, 1001), 'not for other bytes');
  t.notOk(isConfirmed(store, 'trimmed/y.btf', SHA_A, 1001), 'not for another key');
  t.notOk(isConfirmed(other, 'trimmed/x.btf', SHA_A, 1001), 'not for another store object');
  t.ok(isConfirmed(store, 'trimmed/x.btf', SHA_A, 1000 + CONFIRMED_MS), 'still at the bound');
  t.notOk(isConfirmed(store, 'trimmed/x.btf', SHA_A, 1001 + CONFIRMED_MS), 'too old past it');
  t.notOk(isConfirmed(store, 'trimmed/x.btf', SHA_A, 1002), 'and gone once found too old');
  confirmContent(store, 'trimmed/x.btf', SHA_B, 2000);
  t.ok(isConfirmed(store, 'trimmed/x.btf', SHA_B, 2001), 'a new confirmation replaces the old one');
});

t.test('a forget of the key holds for every store object, until the key is confirmed again', async (t) => {
  const writer = storeAt('/nonexistent/confirmed-2');
  confirmContent(writer, 'trimmed/f.btf', SHA_A, 5000);
  confirmContent(writer, 'trimmed/g.btf', SHA_A, 5000);
  forgetContent('trimmed/f.btf', 5001);
  t.notOk(isConfirmed(writer, 'trimmed/f.btf', SHA_A, 5002), 'forgotten (a forget names no store: the read may hold another wrapper)');
  t.ok(isConfirmed(writer, 'trimmed/g.btf', SHA_A, 5002), 'other keys kept');
  confirmContent(writer, 'trimmed/f.btf', SHA_A, 5003);
  t.ok(isConfirmed(writer, 'trimmed/f.btf', SHA_A, 5004), 'a write after the forget counts');
});

t.test('bounded: the oldest confirmations go first; a storm of forgets drops every confirmation', async (t) => {
  const store = storeAt('/nonexistent/confirmed-3');
  for (let i = 0; i <= CONFIRMED_KEYS; i++) confirmContent(store, `trimmed/${i}.btf`, SHA_A, 10_000);
  t.notOk(isConfirmed(store, 'trimmed/0.btf', SHA_A, 10_001), 'the oldest gone past the bound');
  t.ok(isConfirmed(store, `trimmed/${CONFIRMED_KEYS}.btf`, SHA_A, 10_001), 'the newest kept');

  const kept = storeAt('/nonexistent/confirmed-4');
  confirmContent(kept, 'trimmed/kept.btf', SHA_A, 20_000);
  // More forgets than are remembered, all within CONFIRMED_MS: the oldest forget cannot simply
  // be dropped, so every confirmation made before is.
  for (let i = 0; i <= CONFIRMED_KEYS; i++) forgetContent(`trimmed/storm-${i}.btf`, 20_001);
  t.notOk(isConfirmed(kept, 'trimmed/kept.btf', SHA_A, 20_002), 'dropped by the storm');
  confirmContent(kept, 'trimmed/kept.btf', SHA_A, 20_003);
  t.ok(isConfirmed(kept, 'trimmed/kept.btf', SHA_A, 20_004), 'confirmed again after it');
});
