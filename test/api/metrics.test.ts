/** ServiceMetrics on its own: gauges read at scrape time, and what each endpoint's registry holds. */
import t from 'tap';
import { ServiceMetrics } from '../../src/api/metrics.js';

t.test('a gauge whose source cannot answer leaves its sample out', async (t) => {
  let depth: () => Promise<number> = async () => 3;
  const metrics = new ServiceMetrics({ queueDepth: () => depth() });
  t.match(await metrics.render(), /^btfhub_queue_depth 3$/m);
  depth = async () => Promise.reject(new Error('redis down'));
  const text = await metrics.render();
  t.match(text, '# TYPE btfhub_queue_depth gauge', 'the metric is still described');
  t.notMatch(text, /^btfhub_queue_depth /m, 'but has no sample');
  t.notMatch(text, /^btfhub_kernels_decoded /m, 'no decoded kernels probe: no sample either');
  metrics.setDecodedKernels({ count: () => 2, bytes: () => 4096 });
  t.match(await metrics.render(), /^btfhub_kernels_decoded 2$/m);
  t.match(await metrics.render(), /^btfhub_kernels_decoded_bytes 4096$/m);
  t.notMatch(await metrics.render(), /^btfhub_codec_threads_heap_bytes/m, 'no thread heap probe: no samples');
  metrics.setThreadHeap(() => undefined);
  t.notMatch(await metrics.render(), /^btfhub_codec_threads_heap_bytes/m, 'no threads: no samples');
  metrics.setThreadHeap(() => ({ used: 3, total: 5, external: 7 }));
  const heap = await metrics.render();
  t.match(heap, /^btfhub_codec_threads_heap_bytes\{kind="used"\} 3$/m);
  t.match(heap, /^btfhub_codec_threads_heap_bytes\{kind="total"\} 5$/m);
  t.match(heap, /^btfhub_codec_threads_heap_bytes\{kind="external"\} 7$/m);
  metrics.setQueueDepth(async () => 9);
  t.notMatch(await metrics.render(), /^btfhub_queue_depth 9$/m, 'a depth set at construction is kept');
  metrics.setQueueDepth(async () => 9, true);
  t.match(await metrics.render(), /^btfhub_queue_depth 9$/m, 'unless replaced');
});

t.test('requests in flight and answered, under both names', async (t) => {
  const metrics = new ServiceMetrics();
  metrics.requestStarted('/api/v1/btf');
  metrics.requestStarted('/api/v1/btf');
  let text = await metrics.renderMonitoring();
  t.match(text, /^http_requests_inflight\{handler="\/api\/v1\/btf"\} 2$/m);
  metrics.requestFinished({ method: 'POST', route: '/api/v1/btf', status: 200, seconds: 0.02 });
  metrics.requestAbandoned('/api/v1/btf');
  text = await metrics.renderMonitoring();
  t.match(text, /^http_requests_inflight\{handler="\/api\/v1\/btf"\} 0$/m);
  t.match(text, /^http_request_duration_seconds_count\{handler="\/api\/v1\/btf",method="POST",code="200"\} 1$/m);
  t.match(text, /^http_request_duration_seconds_bucket\{le="0\.025",handler="\/api\/v1\/btf",method="POST",code="200"\} 1$/m);
  t.match(text, /^btfhub_http_requests_total\{method="POST",route="\/api\/v1\/btf",status="200"\} 1$/m, 'ours are there too');
  const ours = await metrics.render();
  t.match(ours, /^btfhub_http_request_duration_seconds_count\{route="\/api\/v1\/btf"\} 1$/m);
  t.notMatch(ours, /^http_request/m, "the original's names only on /monitoring/metrics");
  t.match(ours, /^process_cpu_seconds_total /m, 'process metrics on both');
});

t.test('many instances share one set of process metrics', async (t) => {
  const texts = await Promise.all(Array.from({ length: 20 }, () => new ServiceMetrics().render()));
  for (const text of texts) t.equal(text.match(/^# TYPE process_cpu_seconds_total counter$/gm)?.length, 1);
});
