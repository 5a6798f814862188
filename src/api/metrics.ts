/**
 * The service's metrics, through prom-client (the client Prometheus users expect), in the
 * text exposition format 0.0.4.
 *
 * `/metrics` serves ours, plus prom-client's process and Node.js metrics (CPU, memory, open
 * files, event loop lag, heap spaces, GC pauses as `nodejs_gc_duration_seconds`):
 *   btfhub_http_requests_total{method,route,status}   requests answered
 *   btfhub_http_request_duration_seconds{route}       request latency
 *   btfhub_trim_job_duration_seconds                  trim time of finished jobs
 *   btfhub_trim_requests_total{outcome}               trim requests: hit, completed, pending, failed
 *   btfhub_cache_hits_total                           trims answered from the catalog/store
 *   btfhub_queue_depth                                trim jobs waiting or active (read at scrape time)
 *   btfhub_kernels_decoded                            kernel BTFs decoded in this process's memory
 *   btfhub_kernels_decoded_bytes                      their memory
 *   btfhub_codec_threads_heap_bytes{kind}             the codec threads' V8 heaps, summed, as of each
 *                                                     thread's last task: used, total (committed),
 *                                                     external (ArrayBuffers their objects hold)
 *   btfhub_integrity_failures_total{kind,action}      stored copies whose bytes did not match their
 *                                                     sha256: trim_result, object, kernel, derived;
 *                                                     rebuilt, replaced, refused (an error answered), removed
 *
 * `/monitoring/metrics` serves all of those and the HTTP metrics of the original BTFHub
 * Online (slok/go-http-metrics on gin), so its dashboards carry over:
 *   http_request_duration_seconds{handler,method,code}   request latency, the route template as handler
 *   http_requests_inflight{handler}                      requests being answered now
 *
 * A gauge read at scrape time whose source cannot answer (the queue while Redis is down)
 * leaves its sample out rather than reporting a made-up value.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What this process knows about kernels decoded in memory (the in-process worker's cache). */
export interface DecodedKernelsProbe {
  count(): number;
  bytes(): number;
}

/** The codec threads' heaps (the executor's threadHeap). */
export type ThreadHeapProbe = () => { used: number; total: number; external: number } | undefined;

export interface ServiceMetricsOptions {
  /** Jobs waiting or active; read at scrape time. */
  queueDepth?: () => Promise<number>;
  /** Set when trims run in this process (embedded mode). */
  decodedKernels?: DecodedKernelsProbe;
}

export type TrimOutcome = 'hit' | 'completed' | 'pending' | 'failed';

/** How many trim jobs' durations are remembered to count each job once. */
const OBSERVED_JOBS_MEMORY = 4096;

/** prom-client's default buckets, which go-http-metrics (Prometheus' DefBuckets) shares. */
const ORIGINAL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processRegistry: Registry | undefined;

/**
 * The process and Node.js metrics, collected once per process however many apps it builds
 * (tests build many): each collection watches GC with an observer of its own.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** A gauge whose value is read when scraped; no sample when the read fails or says undefined. */
class ScrapeGauge extends Gauge {
  constructor(
    name: string,
    help: string,
    private readonly read: () => number | undefined | Promise<number | undefined>,
  ) {
    super({ name, help, registers: [] });
  }

  override async get(): Promise<Awaited<ReturnType<Gauge['get']>>> {
    const metric = await super.get();
    let value: number | undefined;
    try {
      value = await this.read();
    } catch {
      value = undefined; // a dependency that cannot answer: the sample is left out
    }
    return { ...metric, values: value === undefined ? [] : [{ value, labels: {} }] };
  }
}

/** A gauge of `kind`-labelled values read when scraped; no samples when the read says undefined. */
class ScrapeKindsGauge extends Gauge<'kind'> {
  constructor(
    name: string,
    help: string,
    private readonly read: () => Record<string, number> | undefined,
  ) {
    super({ name, help, labelNames: ['kind'], registers: [] });
  }

  override async get(): Promise<Awaited<ReturnType<Gauge<'kind'>['get']>>> {
    const metric = await super.get();
    const values = this.read();
    return { ...metric, values: values === undefined ? [] : Object.entries(values).map(([kind, value]) => ({ value, labels: { kind } })) };
  }
}

/** The service's metrics, as served on /metrics and /monitoring/metrics. */
export class ServiceMetrics {
  private readonly own = new Registry();
  private readonly original = new Registry();
  /** What /metrics serves: ours with the process metrics. */
  readonly registry: Registry;
  /** What /monitoring/metrics serves: the same plus the original BTFHub Online's HTTP metrics. */
  readonly monitoringRegistry: Registry;

  readonly httpRequests = new Counter({
    name: 'btfhub_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.own],
  });
  readonly httpDuration = new Histogram({
    name: 'btfhub_http_request_duration_seconds',
    help: 'HTTP request latency, by route template.',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.own],
  });
  readonly trimDuration = new Histogram({
    name: 'btfhub_trim_job_duration_seconds',
    help: 'Time the trimmer spent on finished jobs (as reported by the job).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.own],
  });
  readonly trimRequests = new Counter({
    name: 'btfhub_trim_requests_total',
    help: 'Trim requests by outcome: hit (cache), completed, pending (202), failed.',
    labelNames: ['outcome'] as const,
    registers: [this.own],
  });
  readonly cacheHits = new Counter({
    name: 'btfhub_cache_hits_total',
    help: 'Trimmed BTFs served from the catalog and store without running a job.',
    registers: [this.own],
  });
  readonly integrityFailures = new Counter({
    name: 'btfhub_integrity_failures_total',
    help: 'Stored copies whose bytes did not hash to the recorded sha256, by kind and what was done (never sent).',
    labelNames: ['kind', 'action'] as const,
    registers: [this.own],
  });
  /** The original's request latency: go-http-metrics labels (handler = route template, code = status). */
  readonly originalHttpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'The latency of the HTTP requests.',
    labelNames: ['handler', 'method', 'code'] as const,
    buckets: ORIGINAL_BUCKETS,
    registers: [this.original],
  });
  readonly originalInflight = new Gauge({
    name: 'http_requests_inflight',
    help: 'The number of inflight requests being handled at the same time.',
    labelNames: ['handler'] as const,
    registers: [this.original],
  });
  private readonly observedJobs = new Set<string>();
  private queueDepth: (() => Promise<number>) | undefined;
  private decodedKernels: DecodedKernelsProbe | undefined;
  private threadHeap: ThreadHeapProbe | undefined;

  constructor(options: ServiceMetricsOptions = {}) {
    this.queueDepth = options.queueDepth;
    this.decodedKernels = options.decodedKernels;
    for (const gauge of [
      new ScrapeGauge('btfhub_queue_depth', 'Trim jobs waiting or active.', () => this.queueDepth?.()),
      new ScrapeGauge('btfhub_kernels_decoded', 'Kernel BTFs decoded in this process (in-process worker only).', () =>
        this.decodedKernels?.count(),
      ),
      new ScrapeGauge('btfhub_kernels_decoded_bytes', 'Memory of the kernel BTFs decoded in this process.', () =>
        this.decodedKernels?.bytes(),
      ),
      new ScrapeKindsGauge(
        'btfhub_codec_threads_heap_bytes',
        "The codec threads' V8 heaps, summed, as of each thread's last task: used, total (committed), external (ArrayBuffers).",
        () => this.threadHeap?.(),
      ),
    ]) {
      this.own.registerMetric(gauge);
    }
    this.registry = Registry.merge([this.own, processMetrics()]);
    this.monitoringRegistry = Registry.merge([this.own, processMetrics(), this.original]);
  }

  /** Where btfhub_queue_depth is read from, unless set at construction. */
  setQueueDepth(read: () => Promise<number>, replace = false): void {
    if (replace || this.queueDepth === undefined) this.queueDepth = read;
  }

  setDecodedKernels(probe: DecodedKernelsProbe): void {
    this.decodedKernels = probe;
  }

  /** Reports the codec threads' heaps (a process with codec threads: every `btfhub serve`). */
  setThreadHeap(probe: ThreadHeapProbe): void {
    this.threadHeap = probe;
  }

  /** A request starts being answered (the original's in-flight gauge). */
  requestStarted(route: string): void {
    this.originalInflight.inc({ handler: route });
  }

  /** A request was answered (or abandoned) after `seconds`. */
  requestFinished(request: { method: string; route: string; status: number; seconds: number }): void {
    const { method, route, seconds } = request;
    const status = String(request.status);
    this.httpRequests.inc({ method, route, status });
    this.httpDuration.observe({ route }, seconds);
    this.originalHttpDuration.observe({ handler: route, method, code: status }, seconds);
    this.originalInflight.dec({ handler: route });
  }

  /** A request whose client went away before its answer. */
  requestAbandoned(route: string): void {
    this.originalInflight.dec({ handler: route });
  }

  recordTrim(outcome: TrimOutcome): void {
    this.trimRequests.inc({ outcome });
    if (outcome === 'hit') this.cacheHits.inc();
  }

  /** A damaged stored copy found (and never sent): see src/storage/integrity.ts. */
  recordDamage(report: { kind: string; action: string }): void {
    this.integrityFailures.inc({ kind: report.kind, action: report.action });
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

  /** /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** /monitoring/metrics. */
  renderMonitoring(): Promise<string> {
    return this.monitoringRegistry.metrics();
  }
}
