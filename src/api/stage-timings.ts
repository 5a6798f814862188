/**
 * Where a trim request's time went, stage by stage, answered in a `Server-Timing` header
 * (W3C Server Timing: `name;dur=<ms>`, comma-separated, the last one `total`). Browsers'
 * developer tools and most HTTP tooling show it; the API benchmark sums it per stage.
 *
 * Stages are disjoint stretches of the request's own time (the job's stages run while the
 * request waits on it), so they add up to at most `total`; what no stage names is the
 * framework's own work (routing, writing the answer). A stage appears only when the request
 * did it: a cached answer names `multipart`, `hash`, `lookup` (and `readback` when the
 * result came from the store), never `trim`.
 *
 * Cost: a few `performance.now()` calls per request and one small map.
 */
import type { TrimJobStages } from '../queue/kinds.js';

/** Every stage a trim request may name (docs/API.md describes each). */
export type TrimStage =
  | 'multipart' // receiving and parsing the multipart body, hashing excluded
  | 'inflate' // inflating gzip-compressed uploads (with their hashing)
  | 'hash' // sha256 of the uploads as they stream in, and the objects hash
  | 'lookup' // the kernel's catalog record, and the trim looked up in memory and the catalog
  | 'readback' // a stored trimmed BTF read back and checked against its sha256
  | 'parse' // every upload checked to be a BPF CO-RE object (on a codec thread)
  | 'store' // object-store writes (uploads, the trimmed result), their fsyncs excluded
  | 'fsync' // the fsyncs that make those writes durable (data and directory)
  | 'catalog' // catalog writes (objects, the issued job, the trim's row)
  | 'queue' // waiting for the job beyond its own run: enqueue, waiting for a runner, the status
  | 'load' // the job reading the kernel's record
  | 'codec' // the codec thread's task beyond its own work: waiting for the thread, reading back objects it does not hold parsed, copying bytes to it and back
  | 'decode' // on the thread: the kernel's decode (when not cached) and the objects' parse
  | 'trim' // the trim itself
  | 'verify' // the result decoded, every relocation checked against it, its sha256
  | 'archive'; // /customize only: the .tar.xz around the result

export class StageTimings {
  private readonly started = performance.now();
  private readonly durations = new Map<TrimStage, number>();

  /** Adds the milliseconds since `since` (a `performance.now()`) to `stage`. */
  since(stage: TrimStage, since: number): void {
    this.add(stage, performance.now() - since);
  }

  add(stage: TrimStage, ms: number): void {
    this.durations.set(stage, (this.durations.get(stage) ?? 0) + ms);
  }

  /**
   * A job's stages, when they fit in the `windowMs` between its enqueue and the end of the
   * wait on it; the rest of the window is `queue`. `counted` is time inside the window already
   * named as another stage (the issued job's catalog row, written while the job ran: SQLite
   * holds the event loop while the codec thread works), so the two are not named twice: what
   * they overlap is taken back from that stage. A job that ran longer than the whole window was
   * started by another request (concurrent identical requests share one): the window's time
   * not yet named is then all `queue`.
   */
  addJob(windowMs: number, stages: TrimJobStages | undefined, counted: { stage: TrimStage; ms: number } = { stage: 'queue', ms: 0 }): void {
    let run = 0;
    for (const ms of Object.values(stages ?? {})) run += ms;
    if (stages === undefined || run > windowMs) {
      this.add('queue', Math.max(0, windowMs - counted.ms));
      return;
    }
    for (const [stage, ms] of Object.entries(stages) as [keyof TrimJobStages, number][]) this.add(stage, ms);
    const overlap = Math.min(counted.ms, Math.max(0, run + counted.ms - windowMs));
    if (overlap > 0) this.add(counted.stage, -overlap);
    this.add('queue', windowMs - run - (counted.ms - overlap));
  }

  /**
   * Stages timed apart (`other`) that ran beside the ones already named here, of which only
   * the last `waitedMs` held the request up: that wait is named, split between `other`'s
   * stages in proportion to their own durations, so stages stay disjoint stretches of the
   * request's time.
   */
  addOverlapped(other: StageTimings, waitedMs: number): void {
    let sum = 0;
    for (const ms of other.durations.values()) sum += ms;
    if (sum <= 0 || waitedMs <= 0) return;
    const share = Math.min(1, waitedMs / sum);
    for (const [stage, ms] of other.durations) this.add(stage, ms * share);
  }

  /** Milliseconds per stage so far (for tests and logs). */
  stages(): ReadonlyMap<TrimStage, number> {
    return this.durations;
  }

  /**
   * The `Server-Timing` value: each stage in the order first timed, then `total` (since this
   * was made). Stages are rounded down and the total up, so the printed stages never add up
   * to more than the printed total.
   */
  header(): string {
    const total = performance.now() - this.started;
    let value = '';
    for (const [stage, ms] of this.durations) value += `${stage};dur=${(Math.floor(ms * 100) / 100).toFixed(2)}, `;
    return `${value}total;dur=${(Math.ceil(total * 100) / 100).toFixed(2)}`;
  }
}
