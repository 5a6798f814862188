/**
 * Bytes attached to a job's result in this process: taken once by whoever holds the very object
 * the processor returned; a result that went through JSON (Redis) carries none; only the last
 * 64 attachments keep their bytes.
 */
import t from 'tap';
import { attachResultBytes, takeResultBytes } from '../../src/queue/result-bytes.js';

t.test('taken once, by the object itself', async (t) => {
  const result = { resultKey: 'trimmed/x.btf', resultSha256: 'x' };
  const bytes = new Uint8Array([1, 2, 3]);
  attachResultBytes(result, bytes);
  t.equal(takeResultBytes(JSON.parse(JSON.stringify(result))), undefined, 'a copy through JSON carries nothing');
  t.equal(takeResultBytes(result), bytes, 'the object itself: the bytes');
  t.equal(takeResultBytes(result), undefined, 'once');
  t.equal(takeResultBytes(undefined), undefined);
  t.equal(takeResultBytes('trimmed/x.btf'), undefined);
});

t.test('past 64 attachments the oldest lose their bytes', async (t) => {
  const results = Array.from({ length: 65 }, (_, i) => ({ i }));
  for (const result of results) attachResultBytes(result, new Uint8Array([result.i]));
  t.equal(takeResultBytes(results[0]), undefined, 'the oldest: pushed out');
  t.same(takeResultBytes(results[1]), new Uint8Array([1]), 'the next: kept');
  t.same(takeResultBytes(results[64]), new Uint8Array([64]), 'the newest: kept');
});
