/**
 * deploy/kubernetes/ cannot be applied here (no cluster), so its contract is checked by
 * parsing it: kustomization.yaml lists every manifest; every variable the pods get (env and
 * the ConfigMap/Secret keys they load) is one the config schema knows, and together they make
 * a valid scale-out configuration; the API is ready on /readyz at the port it listens on, the
 * Service reaches it, the selectors match, the pods run as non-root and stop within their
 * grace periods.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CONFIG_ENV_FALLBACKS, CONFIG_ENV_VARS, loadConfig } from '../../src/config/schema.js';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'kubernetes');
const known = new Set<string>([...CONFIG_ENV_VARS, ...Object.values(CONFIG_ENV_FALLBACKS)]);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
  resources?: string[];
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string }[];
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const manifests = new Map<string, Manifest[]>();
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  for (const doc of docs) if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  manifests.set(
    file,
    docs.map((d) => d.toJS() as Manifest),
  );
}
const all = [...manifests.values()].flat();
const one = (kind: string, name: string): Manifest => {
  const found = all.filter((m) => m.kind === kind && m.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
};
const podOf = (m: Manifest): PodSpec => {
  const spec = m.spec as { template: { spec: PodSpec; metadata?: { labels?: Record<string, string> } } };
  return spec.template.spec;
};

/** The environment a container gets: its ConfigMaps' and Secrets' keys, then its own env. */
function containerEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, one('ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, one('Secret', from.secretRef.name).stringData);
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? '';
  return env;
}

const workloads = all.filter((m) => m.kind === 'Deployment' || m.kind === 'Job');

t.test('every manifest is listed by kustomization.yaml', async (t) => {
  const kustomization = manifests.get('kustomization.yaml')![0]!;
  t.equal(kustomization.kind, 'Kustomization');
  t.same(
    [...(kustomization.resources ?? [])].sort(),
    files.filter((f) => f !== 'kustomization.yaml'),
  );
  for (const m of all) {
    t.ok(m.apiVersion && m.kind, `${m.kind} has apiVersion and kind`);
    if (m.kind !== 'Kustomization') t.ok(m.metadata?.name, `${m.kind} ${m.metadata?.name} is named`);
  }
  t.same(workloads.map((m) => `${m.kind}/${m.metadata.name}`).sort(), [
    'Deployment/btfhub-api',
    'Deployment/btfhub-worker',
    'Job/btfhub-import',
  ]);
});

t.test('every variable the pods get is a config variable, and they make a valid scale-out configuration', async (t) => {
  for (const w of workloads) {
    for (const c of podOf(w).containers) {
      const env = containerEnv(c);
      t.ok(Object.keys(env).length > 5, `${w.metadata.name}: an environment`);
      for (const name of Object.keys(env)) t.ok(known.has(name), `${w.metadata.name}: ${name} is a config variable`);
      const config = loadConfig(env);
      t.equal(config.queue.kind, 'redis', `${w.metadata.name}: BullMQ queue`);
      t.equal(config.database.kind, 'postgres', `${w.metadata.name}: PostgreSQL catalog`);
      t.equal(config.storage.kind, 's3', `${w.metadata.name}: S3 store`);
      t.equal(config.registerHostKernel, false, 'the node’s kernel is not registered');
    }
  }
  // Passwords and keys live in the Secret, not the ConfigMap.
  const configMap = one('ConfigMap', 'btfhub-config').data ?? {};
  for (const secret of ['DATABASE_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'BTFHUB_ADMIN_TOKEN']) {
    t.notOk(secret in configMap, `${secret} is not in the ConfigMap`);
    t.ok(secret in (one('Secret', 'btfhub-secrets').stringData ?? {}), `${secret} is in the Secret`);
  }
  for (const value of Object.values(one('Secret', 'btfhub-secrets').stringData ?? {}))
    t.match(value, /replace-me/, 'the Secret holds placeholders only');
});

t.test('the API: serve, ready on /readyz at the port it listens on, reached by the Service', async (t) => {
  const api = one('Deployment', 'btfhub-api');
  const pod = podOf(api);
  const c = pod.containers[0]!;
  t.same(c.args, ['serve']);
  const config = loadConfig(containerEnv(c));
  t.equal(config.host, '0.0.0.0', 'listens on the pod’s interfaces');
  const http = c.ports?.find((p) => p.name === 'http');
  t.equal(http?.containerPort, config.port, 'the container port is BTFHUB_PORT');
  t.same(c.readinessProbe?.httpGet, { path: '/readyz', port: 'http' }, 'readiness: /readyz (catalog, queue, store)');
  t.same(c.livenessProbe?.httpGet, { path: '/healthz', port: 'http' }, 'liveness: /healthz (the process answers)');
  t.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 > config.shutdownGraceMs, 'the shutdown grace fits in the pod’s');

  const service = one('Service', 'btfhub-api');
  const spec = service.spec as { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] };
  t.equal(spec.ports[0]!.targetPort, 'http');
  const labels = (api.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  for (const [k, v] of Object.entries(spec.selector)) t.equal(labels[k], v, `the Service selects the API pods (${k})`);
  const worker = (one('Deployment', 'btfhub-worker').spec as { template: { metadata: { labels: Record<string, string> } } }).template
    .metadata.labels;
  t.notOk(
    Object.entries(spec.selector).every(([k, v]) => worker[k] === v),
    'and not the workers',
  );
});

t.test('workers and the import: their commands, grace, no HTTP probes', async (t) => {
  const worker = podOf(one('Deployment', 'btfhub-worker'));
  t.same(worker.containers[0]!.args, ['worker']);
  t.equal(worker.containers[0]!.readinessProbe, undefined, 'a worker serves no HTTP');
  const config = loadConfig(containerEnv(worker.containers[0]!));
  t.ok((worker.terminationGracePeriodSeconds ?? 30) * 1000 > config.jobTimeoutMs, 'a job in flight may finish before SIGKILL');
  const importer = podOf(one('Job', 'btfhub-import'));
  t.equal(importer.containers[0]!.args?.[0], 'import');
  t.match(importer.containers[0]!.args?.[1], /^s3:\/\/[^/]+\//, 'a BTFHub-layout source');
});

t.test('every Deployment selects its own pods; every pod runs as non-root with its volumes', async (t) => {
  for (const w of workloads) {
    if (w.kind === 'Deployment') {
      const spec = w.spec as {
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> } };
      };
      for (const [k, v] of Object.entries(spec.selector.matchLabels))
        t.equal(spec.template.metadata.labels[k], v, `${w.metadata.name}: ${k}`);
    }
    const pod = podOf(w);
    t.equal(pod.securityContext?.runAsNonRoot, true, `${w.metadata.name}: non-root`);
    t.equal(pod.securityContext?.runAsUser, 1000, `${w.metadata.name}: the image's node user`);
    for (const c of pod.containers) {
      t.equal(c.image, 'btfhub-online', `${w.metadata.name}: the image kustomization.yaml names`);
      t.equal(c.securityContext?.allowPrivilegeEscalation, false);
      if (c.securityContext?.readOnlyRootFilesystem) {
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        t.ok(mounts.includes('/data') && mounts.includes('/tmp'), `${w.metadata.name}: writable /data and /tmp on a read-only root`);
      }
      for (const m of c.volumeMounts ?? [])
        t.ok(
          pod.volumes?.some((v) => v.name === m.name),
          `${w.metadata.name}: volume ${m.name} exists`,
        );
    }
  }
  const kustomization = manifests.get('kustomization.yaml')![0] as Manifest & { images?: { name: string }[] };
  t.same(
    kustomization.images?.map((i) => i.name),
    ['btfhub-online'],
  );
});
