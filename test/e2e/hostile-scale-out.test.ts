/**
 * Issue 9's adversarial families POSTed to a scale-out deployment (test/e2e/deployment.ts:
 * `btfhub serve` as the API and a `btfhub worker` process on real Redis with a BullMQ prefix
 * of this run, PostgreSQL, S3 on s3rver): each is answered within its bounds (200, or a
 * 413/422 naming what is wrong, never a 500); an object that blows a codec thread's heap is
 * refused and the second request for it answered 422 at once with the reason; `/healthz`
 * answers while each request runs (before the heavy ones: an ordering, not a timing
 * threshold); and the API and worker processes stay up (the same pids, each started once).
 *
 * Each answer's status, time and input size are printed as `# family ...` comments.
 */
import t from 'tap';
import { ErrorBody } from '../../src/api/schemas.js';
import { loadFixtures } from '../helpers/fixtures.js';
import { HOSTILE_API_ENV, HOSTILE_CASES, HOSTILE_ENV } from '../helpers/hostile-families.js';
import { startDeployment } from './deployment.js';

const fixtures = await loadFixtures();
const real = fixtures.objects.get('tools_like')!.bytes;
const KERNEL = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-91-generic' };
const FIELDS = { distro: 'ubuntu', distro_version: '22.04', arch: 'x86_64', kernel_version: '5.15.0-91-generic' };

const deployment = await startDeployment({
  mode: 'scale-out',
  kernel: { ref: KERNEL, btf: fixtures.vmlinux },
  workers: 1,
  env: HOSTILE_ENV,
  apiEnv: HOSTILE_API_ENV,
});
t.teardown(() => deployment.close());
const { base, api, workers } = deployment;
const processes = [api, ...workers];

function post(bytes: Uint8Array): Promise<{ status: number; body: Record<string, unknown> | null; text: string }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(FIELDS)) form.append(k, v);
  form.append('object', new Blob([bytes]), 'hostile.bpf.o');
  return fetch(`${base}/api/v1/btf`, { method: 'POST', body: form }).then(async (res) => {
    const text = res.status === 200 ? '' : await res.text();
    if (res.status === 200) await res.arrayBuffer();
    let body: Record<string, unknown> | null;
    try {
      body = text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      body = null;
    }
    return { status: res.status, body, text };
  });
}

t.test('every family is answered within its bounds; /healthz answers meanwhile; the processes stay up', async (t) => {
  const rows: string[] = [];
  for (const c of HOSTILE_CASES) {
    const bytes = c.make(real);
    const what = `${c.family}, ${bytes.length} bytes`;
    const order: string[] = [];
    const started = performance.now();
    const answer = post(bytes).then((res) => {
      order.push('hostile');
      return res;
    });
    if (c.heavy) await new Promise((resolve) => setTimeout(resolve, 300));
    const health = await fetch(`${base}/healthz`);
    order.push('healthz');
    const res = await answer;
    const ms = Math.round(performance.now() - started);
    rows.push(
      `${c.family.padEnd(32)} ${String(bytes.length).padStart(10)} B  ${res.status}  ${String(ms).padStart(6)} ms  ${typeof res.body?.error === 'string' ? res.body.error : ''}`,
    );

    t.equal(health.status, 200, `${what}: /healthz answers while it runs`);
    if (c.heavy) t.same(order, ['healthz', 'hostile'], `${what}: /healthz was answered first`);
    if (c.status !== undefined) t.equal(res.status, c.status, `${what}: ${res.text.slice(0, 300)}`);
    else t.ok([200, 413, 422].includes(res.status), `${what}: ${res.status} ${res.text.slice(0, 300)}`);
    if (res.status !== 200) t.ok(ErrorBody.safeParse(res.body).success, `${what}: the error shape`);
    if (c.limit !== undefined) t.match(res.body, { error: 'limit_exceeded', limit: c.limit, value: Number }, `${what}: names the bound`);
    if (c.heapBlow) {
      const again = await post(bytes);
      t.equal(again.status, 422, `${what}, again: refused`);
      t.match(again.body, { error: 'invalid_object', message: /refused for a while: .*codecThreadHeapMb/ }, `${what}, again: the reason`);
    }
    for (const p of processes) t.ok(p.alive(), `${what}: ${p.name} (pid ${p.pid}) is up`);
  }
  t.comment(`family                           input         status  time\n${rows.join('\n')}`);
});

t.test('no process was restarted: each still runs under its first pid, started once', async (t) => {
  for (const p of processes) {
    t.ok(p.alive(), `${p.name} still runs as pid ${p.pid}`);
    const started = p.lines.filter((l) => l.msg === (p.name === 'api' ? 'btfhub serve listening' : 'btfhub worker ready')).length;
    t.equal(started, 1, `${p.name} started once`);
  }
  t.equal((await fetch(`${base}/healthz`)).status, 200);
});
