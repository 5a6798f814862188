/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges and
 * histograms with labels, plus gauges read at scrape time. Enough for the service's own
 * metrics without a client library.
 *
 * `ServiceMetrics` holds the metrics the API exposes on /metrics (and /monitoring/metrics):
 *   btfhub_http_requests_total{method,route,status}   requests answered
 *   btfhub_http_request_duration_seconds{route}       request latency
 *   btfhub_trim_job_duration_seconds                  trim time of finished jobs
 *   btfhub_trim_requests_total{outcome}               trim requests: hit, completed, pending, failed
 *   btfhub_cache_hits_total                           trims answered from the catalog/store
 *   btfhub_queue_depth                                jobs waiting or active (read at scrape time)
 *   btfhub_kernels_decoded                            kernel BTFs decoded in this process's memory
 *   btfhub_kernels_decoded_bytes                      their memory
 */

type Labels = Readonly<Record<string, string>>;

/** Label values escaped as the exposition format requires. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelKey(names: readonly string[], labels: Labels): string {
  return names.map((name) => labels[name] ?? '').join('\u0000');
}

function renderLabels(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`);
  if (extra !== '') parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

interface Metric {
  readonly name: string;
  /** The metric's lines (HELP, TYPE, samples); async for gauges read at scrape time. */
  render(): Promise<string>;
}

abstract class LabelledMetric<T> implements Metric {
  protected readonly series = new Map<string, { values: string[]; state: T }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly type: string,
  ) {}

  protected stateFor(labels: Labels, init: () => T): T {
    const key = labelKey(this.labelNames, labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values: this.labelNames.map((name) => labels[name] ?? ''), state: init() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected header(): string {
    return `# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract render(): Promise<string>;
}

export class Counter extends LabelledMetric<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'counter');
  }

  inc(labels: Labels = {}, by = 1): void {
    this.stateFor(labels, () => ({ value: 0 })).value += by;
  }

  /** The current value of one series (0 when never incremented). */
  get(labels: Labels = {}): number {
    return this.series.get(labelKey(this.labelNames, labels))?.state.value ?? 0;
  }

  async render(): Promise<string> {
    let out = this.header();
    if (this.series.size === 0 && this.labelNames.length === 0) out += `${this.name} 0\n`;
    for (const { values, state } of this.series.values()) {
      out += `${this.name}${renderLabels(this.labelNames, values)} ${formatNumber(state.value)}\n`;
    }
    return out;
  }
}

/** A gauge whose value is read when scraped (queue depth, cache sizes). */
export class CallbackGauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | undefined | Promise<number | undefined>,
  ) {}

  async render(): Promise<string> {
    let value: number | undefined;
    try {
      value = await this.read();
    } catch {
      value = undefined; // a dependency that cannot answer: the sample is left out
    }
    const header = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    return value === undefined ? header : `${header}${this.name} ${formatNumber(value)}\n`;
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends LabelledMetric<HistogramState> {
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
    labelNames: readonly string[] = [],
  ) {
    super(name, help, labelNames, 'histogram');
  }

  observe(value: number, labels: Labels = {}): void {
    const state = this.stateFor(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) state.counts[i]! += 1;
    }
    state.sum += value;
    state.count += 1;
  }

  /** Observations so far in one series. */
  count(labels: Labels = {}): number {
    return this.series.get(labelKey(this.labelNames, labels))?.state.count ?? 0;
  }

  async render(): Promise<string> {
    let out = this.header();
    for (const { values, state } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        out += `${this.name}_bucket${renderLabels(this.labelNames, values, `le="${formatNumber(bound)}"`)} ${state.counts[i]}\n`;
      });
      out += `${this.name}_bucket${renderLabels(this.labelNames, values, 'le="+Inf"')} ${state.count}\n`;
      out += `${this.name}_sum${renderLabels(this.labelNames, values)} ${formatNumber(state.sum)}\n`;
      out += `${this.name}_count${renderLabels(this.labelNames, values)} ${state.count}\n`;
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }

  /** The exposition text, metrics in registration order. */
  async render(): Promise<string> {
    const parts = await Promise.all(this.metrics.map((m) => m.render()));
    return parts.join('');
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What this process knows about kernels decoded in memory (the in-process worker's cache). */
export interface DecodedKernelsProbe {
  count(): number;
  bytes(): number;
}

export interface ServiceMetricsOptions {
  /** Jobs waiting or active; read at scrape time. */
  queueDepth?: () => Promise<number>;
  /** Set when trims run in this process (embedded mode). */
  decodedKernels?: DecodedKernelsProbe;
}

export type TrimOutcome = 'hit' | 'completed' | 'pending' | 'failed';

/** How many trim jobs' durations are remembered to count each job once. */
const OBSERVED_JOBS_MEMORY = 4096;

/** The service's metrics, as served on /metrics. */
export class ServiceMetrics {
  readonly registry = new MetricsRegistry();
  readonly httpRequests = this.registry.register(
    new Counter('btfhub_http_requests_total', 'HTTP requests answered, by method, route template and status.', ['method', 'route', 'status']),
  );
  readonly httpDuration = this.registry.register(
    new Histogram(
      'btfhub_http_request_duration_seconds',
      'HTTP request latency, by route template.',
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ['route'],
    ),
  );
  readonly trimDuration = this.registry.register(
    new Histogram(
      'btfhub_trim_job_duration_seconds',
      'Time the trimmer spent on finished jobs (as reported by the job).',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    ),
  );
  readonly trimRequests = this.registry.register(
    new Counter('btfhub_trim_requests_total', 'Trim requests by outcome: hit (cache), completed, pending (202), failed.', ['outcome']),
  );
  readonly cacheHits = this.registry.register(
    new Counter('btfhub_cache_hits_total', 'Trimmed BTFs served from the catalog and store without running a job.'),
  );
  private readonly observedJobs = new Set<string>();
  private queueDepth: (() => Promise<number>) | undefined;
  private decodedKernels: DecodedKernelsProbe | undefined;

  constructor(options: ServiceMetricsOptions = {}) {
    this.queueDepth = options.queueDepth;
    this.decodedKernels = options.decodedKernels;
    this.registry.register(new CallbackGauge('btfhub_queue_depth', 'Trim jobs waiting or active.', () => this.queueDepth?.()));
    this.registry.register(
      new CallbackGauge('btfhub_kernels_decoded', 'Kernel BTFs decoded in this process (in-process worker only).', () =>
        this.decodedKernels?.count(),
      ),
    );
    this.registry.register(
      new CallbackGauge('btfhub_kernels_decoded_bytes', 'Memory of the kernel BTFs decoded in this process.', () =>
        this.decodedKernels?.bytes(),
      ),
    );
  }

  /** Where btfhub_queue_depth is read from, unless set at construction. */
  setQueueDepth(read: () => Promise<number>, replace = false): void {
    if (replace || this.queueDepth === undefined) this.queueDepth = read;
  }

  setDecodedKernels(probe: DecodedKernelsProbe): void {
    this.decodedKernels = probe;
  }

  recordTrim(outcome: TrimOutcome): void {
    this.trimRequests.inc({ outcome });
    if (outcome === 'hit') this.cacheHits.inc();
  }

  /** Records a finished job's duration once, however many requests waited on it. */
  observeJob(jobId: string, durationMs: number): void {
    if (this.observedJobs.has(jobId)) return;
    if (this.observedJobs.size >= OBSERVED_JOBS_MEMORY) {
      const oldest = this.observedJobs.values().next().value;
      if (oldest !== undefined) this.observedJobs.delete(oldest);
    }
    this.observedJobs.add(jobId);
    this.trimDuration.observe(durationMs / 1000);
  }

  render(): Promise<string> {
    return this.registry.render();
  }
}
