/**
 * Progress of long runs over many kernels (import, compat, bundle) for the CLI: a bar
 * redrawn in place on a terminal, a plain line every few seconds otherwise (logs, CI),
 * always on stderr so stdout keeps the result.
 */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** Set by Node on a terminal stream. */
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressViewOptions {
  /** Redraw a bar (default: the stream's isTTY). */
  tty?: boolean;
  /** Between two log lines when not a terminal, ms (default 5000). */
  intervalMs?: number;
  /** Clock, ms (tests pin it). */
  now?: () => number;
}

export interface ProgressView {
  /** `done` of `total` items finished; `detail` is the item just finished. */
  update(done: number, total: number | undefined, detail?: string): void;
  /** Clears the bar (terminal) so the summary starts on a clean line. */
  finish(): void;
}

const BAR_WIDTH = 24;
const TTY_REDRAW_MS = 100;

export function progressView(stream: ProgressStream, label: string, options: ProgressViewOptions = {}): ProgressView {
  const tty = options.tty ?? stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  const interval = tty ? TTY_REDRAW_MS : (options.intervalMs ?? 5000);
  const started = now();
  let last = tty ? -Infinity : started;
  let drawn = false;
  return {
    update(done, total, detail) {
      const t = now();
      const complete = total !== undefined && done >= total;
      if (t - last < interval && !(tty && complete)) return;
      last = t;
      const count = total === undefined ? `${done}` : `${done}/${total}`;
      const percent = total ? ` ${Math.floor((done / total) * 100)}%` : '';
      if (tty) {
        const filled = total ? Math.round((done / total) * BAR_WIDTH) : 0;
        const bar = total ? `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ` : '';
        let line = `${label} ${bar}${count}${percent}${detail ? ` ${detail}` : ''}`;
        const width = (stream.columns ?? 80) - 1;
        if (line.length > width) line = line.slice(0, width);
        stream.write(`\r\x1b[2K${line}`);
        drawn = true;
      } else {
        const seconds = Math.round((t - started) / 1000);
        stream.write(`${label}: ${count}${percent} after ${seconds}s${detail ? ` (last: ${detail})` : ''}\n`);
      }
    },
    finish() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
