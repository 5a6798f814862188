/**
 * Starting and stopping a service process, one way for `btfhub serve` and `btfhub worker`:
 * SIGTERM or SIGINT asks the process to stop (it finishes what is in flight, within a grace
 * period); a second signal ends it at once with status 1. Signals come from an emitter the
 * caller may replace, and ending the process goes through `exit`, so tests drive both.
 */
import type { Logger } from 'pino';

export interface StopSignalOptions {
  logger: Logger;
  /** Where SIGTERM/SIGINT come from; default `process`. */
  signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Ends the process after a second signal; default `process.exit`. */
  exit?: (code: number) => void;
  /** Logged at the first signal: what stopping means for this process. */
  stopping: string;
}

/** The first SIGTERM/SIGINT, as a promise; listening ends with `dispose`. */
export class StopSignal {
  /** Resolves at the first signal. */
  readonly requested: Promise<void>;
  private received = false;
  private readonly signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  private readonly onSignal: (signal: NodeJS.Signals) => void;

  constructor(options: StopSignalOptions) {
    const { logger } = options;
    const exit = options.exit ?? ((code: number) => process.exit(code));
    this.signals = options.signals ?? process;
    let resolve!: () => void;
    this.requested = new Promise<void>((r) => (resolve = r));
    this.onSignal = (signal) => {
      if (this.received) {
        logger.warn({ signal }, 'second signal: exiting without waiting');
        exit(1);
        return;
      }
      this.received = true;
      logger.info({ signal }, options.stopping);
      resolve();
    };
    this.signals.on('SIGTERM', this.onSignal);
    this.signals.on('SIGINT', this.onSignal);
  }

  /** Whether a signal came. */
  get isRequested(): boolean {
    return this.received;
  }

  dispose(): void {
    this.signals.off('SIGTERM', this.onSignal);
    this.signals.off('SIGINT', this.onSignal);
  }
}

/**
 * Runs `body` with a StopSignal listening, and stops listening when it returns (normally or
 * not). The body decides what stopping means and resolves with the exit status.
 */
export async function runUntilStopped(options: StopSignalOptions, body: (stop: StopSignal) => Promise<number>): Promise<number> {
  const stop = new StopSignal(options);
  try {
    return await body(stop);
  } finally {
    stop.dispose();
  }
}

/** Whether `promise` settles within `ms` (its outcome is ignored: callers log their own). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `expire` after `ms` unless cancelled: the last resort that ends a process still held
 * by something past its grace period. The timer does not itself keep the process alive.
 */
export function startWatchdog(ms: number, expire: () => void): { cancel(): void } {
  const timer = setTimeout(expire, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

/** One thing to close when stopping, in order, within the grace period. */
export interface StopStep {
  /** Closes it: in-flight work finishes first. */
  close(): Promise<unknown>;
  /** Past the grace period: logged, then `cutShort` (force it) and a short last wait. */
  overdue: string;
  cutShort?: () => void;
}

/**
 * Closes `steps` one after the other within `graceMs` altogether. A step still closing when
 * the time is up is logged and cut short; the process then exits with status 1 rather than
 * 0. A watchdog ends the process shortly after the grace period if something still holds it;
 * the caller cancels it once everything is closed (`cancelWatchdog`), unless cut short.
 */
export async function stopWithinGrace(
  steps: readonly StopStep[],
  options: { graceMs: number; logger: Logger; exit: (code: number) => void; watchdogSlackMs?: number },
): Promise<{ cutShort: boolean; cancelWatchdog(): void }> {
  const { graceMs, logger } = options;
  const deadline = performance.now() + graceMs;
  const left = () => Math.max(0, deadline - performance.now());
  const watchdog = startWatchdog(graceMs + (options.watchdogSlackMs ?? 2000), () => {
    logger.error({ graceMs }, 'still running after the grace period: exiting');
    options.exit(1);
  });
  let cutShort = false;
  for (const step of steps) {
    const closed = step.close();
    if (await settlesWithin(closed, left())) continue;
    cutShort = true;
    logger.warn({ graceMs }, `grace period over: ${step.overdue}`);
    if (step.cutShort) {
      step.cutShort();
      await settlesWithin(closed, 1000);
    }
  }
  return { cutShort, cancelWatchdog: () => watchdog.cancel() };
}
