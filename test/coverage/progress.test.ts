/** Progress for long CLI runs: a bar redrawn in place on a terminal, a line every few seconds otherwise. */
import t from 'tap';
import { progressView } from '../../src/coverage/progress.js';

t.test('not a terminal: a line per interval, none for a short run', async (t) => {
  let now = 0;
  let out = '';
  const view = progressView({ write: (s) => (out += s) }, 'import', { intervalMs: 5000, now: () => now });
  view.update(1, 10, 'a');
  t.equal(out, '', 'nothing before the first interval');
  now = 5000;
  view.update(2, 10, 'ubuntu/20.04/x86_64/k');
  now = 6000;
  view.update(3, 10);
  now = 10_500;
  view.update(4, undefined);
  view.finish();
  t.equal(out, 'import: 2/10 20% after 5s (last: ubuntu/20.04/x86_64/k)\nimport: 4 after 11s\n');
});

t.test('a terminal: a bar, throttled, cut to the width, cleared at the end', async (t) => {
  let now = 0;
  let out = '';
  const view = progressView({ write: (s) => (out += s), isTTY: true, columns: 60 }, 'bundle', { now: () => now });
  view.update(1, 4, 'first');
  now = 50;
  view.update(2, 4, 'skipped: too soon');
  now = 60;
  view.update(4, 4, `last ${'x'.repeat(100)}`);
  view.finish();
  const frames = out.split('\r\x1b[2K').filter((f) => f !== '');
  t.same(frames.slice(0, 1), ['bundle [######------------------] 1/4 25% first']);
  t.match(frames[1], /^bundle \[#{24}\] 4\/4 100% last x+$/);
  t.equal(frames[1]!.length, 59);
  t.ok(out.endsWith('\r\x1b[2K'), 'the bar is cleared');
});
