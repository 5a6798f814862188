/** Stopping a service process: the first signal asks, a second one exits; steps closed within the grace period. */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import t from 'tap';
import { runUntilStopped, settlesWithin, stopWithinGrace } from '../../src/service/lifecycle.js';

const logger = pino({ level: 'silent' });

t.test('the first signal resolves the stop, a second exits with 1, listeners go with the run', async (t) => {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const status = await runUntilStopped({ logger, signals, exit: (code) => exits.push(code), stopping: 'stopping' }, async (stop) => {
    t.notOk(stop.isRequested);
    t.equal(signals.listenerCount('SIGTERM'), 1);
    signals.emit('SIGTERM', 'SIGTERM');
    await stop.requested;
    t.ok(stop.isRequested);
    t.same(exits, [], 'the first signal does not exit');
    signals.emit('SIGINT', 'SIGINT');
    t.same(exits, [1], 'a second one exits at once with 1');
    return 7;
  });
  t.equal(status, 7, "the run's status");
  t.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0, 'no listener left');
});

t.test('steps close in order within the grace period; one past it is cut short and the stop says so', async (t) => {
  const order: string[] = [];
  const exits: number[] = [];
  const fine = await stopWithinGrace(
    [
      { close: async () => order.push('app'), overdue: 'app' },
      { close: async () => order.push('queue'), overdue: 'queue' },
    ],
    { graceMs: 1000, logger, exit: (code) => exits.push(code) },
  );
  fine.cancelWatchdog();
  t.same(order, ['app', 'queue']);
  t.equal(fine.cutShort, false);

  let forced = false;
  let release!: () => void;
  const hanging = new Promise<void>((resolve) => (release = resolve));
  const late = await stopWithinGrace(
    [
      { close: () => hanging, overdue: 'connections closed', cutShort: () => ((forced = true), release()) },
      { close: async () => order.push('after'), overdue: 'after' },
    ],
    { graceMs: 50, logger, exit: (code) => exits.push(code), watchdogSlackMs: 50 },
  );
  t.equal(late.cutShort, true);
  t.ok(forced, 'the overdue step was forced');
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.same(exits, [1], 'left running, the watchdog ends the process with 1');
  t.equal(await settlesWithin(new Promise(() => {}), 10), false);
  t.equal(await settlesWithin(Promise.reject(new Error('x')), 10), true, 'a rejection is settling too');
});
