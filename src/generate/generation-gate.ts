/**
 * One generation per kernel at a time, and no retry storm for kernels that fail: a request
 * for a kernel whose generation is under way joins it (an in-flight map), and a kernel whose
 * last generation failed is answered with that failure until `retryAfterMs` has passed (a
 * negative cache). The cache is an interface: in-process memory here, and the service can
 * keep failures in its catalog (the `.failed` markers) behind the same three calls.
 */
import { GenerateError, type GenerateFailure } from './errors.js';

export interface FailureCache {
  get(release: string): Promise<GenerateFailure | undefined>;
  put(release: string, failure: GenerateFailure): Promise<void>;
  delete(release: string): Promise<void>;
}

/** Failures in process memory: lost at restart, which only means one more try. */
export class MemoryFailureCache implements FailureCache {
  private readonly failures = new Map<string, GenerateFailure>();

  async get(release: string): Promise<GenerateFailure | undefined> {
    return this.failures.get(release);
  }

  async put(release: string, failure: GenerateFailure): Promise<void> {
    this.failures.set(release, failure);
  }

  async delete(release: string): Promise<void> {
    this.failures.delete(release);
  }
}

export interface GenerationGateOptions {
  failures?: FailureCache;
  /** How long a failure is answered from the cache; 0 retries at once. */
  retryAfterMs: number;
  now?: () => Date;
}

export class GenerationGate {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly failures: FailureCache;
  private readonly now: () => Date;

  constructor(private readonly options: GenerationGateOptions) {
    this.failures = options.failures ?? new MemoryFailureCache();
    this.now = options.now ?? (() => new Date());
  }

  /** Kernels being generated now. */
  get running(): string[] {
    return [...this.inFlight.keys()];
  }

  /**
   * Runs `work` for `release` unless it is running already (then its outcome is shared) or
   * failed less than `retryAfterMs` ago (then GenerateError('RECENTLY_FAILED') with the
   * recorded reason). A GenerateError from `work` is recorded; a success clears the record.
   */
  run<T>(release: string, work: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(release);
    if (running) return running as Promise<T>;
    const attempt = this.attempt(release, work).finally(() => this.inFlight.delete(release));
    this.inFlight.set(release, attempt);
    return attempt;
  }

  private async attempt<T>(release: string, work: () => Promise<T>): Promise<T> {
    const previous = await this.failures.get(release);
    if (previous) {
      const retryAt = Date.parse(previous.at) + this.options.retryAfterMs;
      if (this.now().getTime() < retryAt) {
        throw new GenerateError(
          'RECENTLY_FAILED',
          `kernel ${release} failed at ${previous.at} (${previous.code}: ${previous.reason}); not retried before ${new Date(retryAt).toISOString()}`,
        );
      }
    }
    try {
      const result = await work();
      if (previous) await this.failures.delete(release);
      return result;
    } catch (err) {
      // Only failures of the kernel itself are remembered; a bug is not a property of the kernel.
      if (err instanceof GenerateError) await this.failures.put(release, err.toFailure(this.now()));
      throw err;
    }
  }
}
