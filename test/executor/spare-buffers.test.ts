/**
 * The kernel buffers the codec threads give back (spare-buffers.ts): the smallest that fits is
 * reused, fresh ones are rounded up so they fit a slightly larger kernel later, and none are
 * held past their count or their idle time.
 */
import { mock } from 'node:test';
import t from 'tap';
import { SpareBuffers } from '../../src/executor/spare-buffers.js';

const MiB = 1024 * 1024;

t.test('fresh buffers are rounded up to a MiB; the view is the size asked for, from offset 0', async (t) => {
  const spares = new SpareBuffers({ max: 4, idleMs: 60_000 });
  const small = spares.allocate(10);
  t.equal(small.byteLength, 10);
  t.equal(small.byteOffset, 0);
  t.equal(small.buffer.byteLength, MiB);
  const kernel = spares.allocate(5_481_434);
  t.equal(kernel.buffer.byteLength, 6 * MiB);
  t.ok(spares.owns(kernel.buffer), 'issued here');
  t.notOk(spares.owns(new ArrayBuffer(8)), 'another buffer is not');
  t.same(spares.stats(), { count: 0, bytes: 0, reused: 0, fresh: 2 });
});

t.test('the smallest spare that fits is reused; one too small is left; a detached buffer is not kept', async (t) => {
  const spares = new SpareBuffers({ max: 4, idleMs: 60_000 });
  t.teardown(() => spares.clear());
  const four = new ArrayBuffer(4 * MiB);
  const six = new ArrayBuffer(6 * MiB);
  const two = new ArrayBuffer(2 * MiB);
  spares.give(six);
  spares.give(four);
  spares.give(two);
  const detached = new ArrayBuffer(MiB);
  structuredClone(detached, { transfer: [detached] });
  spares.give(detached);
  t.equal(spares.stats().count, 3, 'the detached one was not kept');
  const third = spares.allocate(3 * MiB);
  t.equal(third.buffer, four, '3 MiB: the 4 MiB spare, not the 6');
  t.ok(spares.owns(four), 'a reused spare is owned again');
  const five = spares.allocate(5 * MiB);
  t.equal(five.buffer, six);
  const seven = spares.allocate(7 * MiB);
  t.not(seven.buffer, two, 'no spare fits 7 MiB: a fresh buffer');
  t.equal(seven.buffer.byteLength, 7 * MiB);
  t.same(spares.stats(), { count: 1, bytes: 2 * MiB, reused: 2, fresh: 1 });
});

t.test('at most `max` spares are kept; all are dropped once idle', async (t) => {
  // A mocked clock: the idle timer is the property under test, and a loaded machine (CI runs
  // two suites at once) can oversleep any real interval the test would pick.
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  const spares = new SpareBuffers({ max: 2, idleMs: 30 });
  spares.give(new ArrayBuffer(MiB));
  spares.give(new ArrayBuffer(MiB));
  spares.give(new ArrayBuffer(MiB));
  t.equal(spares.stats().count, 2, 'the third is left to the collector');
  mock.timers.tick(15);
  spares.allocate(10); // a use: the idle clock starts again
  t.equal(spares.stats().count, 1);
  mock.timers.tick(29);
  t.equal(spares.stats().count, 1, 'still held: used 29 ms ago');
  mock.timers.tick(1);
  t.equal(spares.stats().count, 0, 'dropped 30 ms after the last use');
  spares.give(new ArrayBuffer(MiB));
  spares.clear();
  t.equal(spares.stats().bytes, 0, 'clear drops them now');
  mock.timers.tick(30);
  t.equal(spares.stats().count, 0, 'and no timer is left to fire');
});
