/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker), so their contract is
 * checked statically: every variable they give btfhub is one the config schema knows and
 * the values pass its validation; the compose file has the scale-out layout and its pieces
 * agree (credentials, bucket, database); the image is multi-stage, non-root, health-checked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { CONFIG_ENV_VARS, loadConfig } from '../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, string> | string[]; command?: string[]; deploy?: { replicas?: number }; image?: string; build?: unknown; entrypoint?: string[] | string; depends_on?: Record<string, { condition: string }> }>;
};
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const known = new Set<string>(CONFIG_ENV_VARS);

function environment(service: string): Record<string, string> {
  const env = compose.services[service]?.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** `ENV A=1 B=2` instructions (with continuation lines) of the Dockerfile's final stage. */
function dockerfileEnv(): Record<string, string> {
  const joined = dockerfile.replace(/\\\n/g, ' ');
  const finalStage = joined.slice(joined.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n')) {
    const match = /^ENV\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    for (const pair of match[1]!.trim().split(/\s+/)) {
      const [name, ...value] = pair.split('=');
      env[name!] = value.join('=');
    }
  }
  return env;
}

t.test('every variable compose gives btfhub is a config variable, with a valid value', async (t) => {
  for (const service of ['api', 'worker']) {
    const env = environment(service);
    t.ok(Object.keys(env).length > 0, `${service} has an environment`);
    for (const name of Object.keys(env)) t.ok(known.has(name), `${service}: ${name} is in CONFIG_ENV_VARS`);
    const config = loadConfig({ ...dockerfileEnv(), ...env });
    t.equal(config.queue.kind, 'redis', `${service}: BullMQ queue`);
    t.equal(config.database.kind, 'postgres', `${service}: PostgreSQL catalog`);
    t.equal(config.storage.kind, 's3', `${service}: S3 store`);
  }
  t.equal(environment('api').BTFHUB_HOST, '0.0.0.0', 'the API listens on all interfaces');
});

t.test('the scale-out layout: api, two workers, redis, postgres, minio, bucket init', async (t) => {
  const services = compose.services;
  for (const name of ['api', 'worker', 'redis', 'postgres', 'minio', 'minio-init']) t.ok(services[name], `service ${name}`);
  t.same(services.api?.command, ['serve']);
  t.same(services.worker?.command, ['worker']);
  t.equal(services.worker?.deploy?.replicas, 2, 'two workers');
  t.equal(services.api?.image, services.worker?.image, 'one image for both');

  const api = environment('api');
  const minio = environment('minio');
  t.equal(api.AWS_ACCESS_KEY_ID, minio.MINIO_ROOT_USER, 'S3 credentials are MinIO\'s');
  t.equal(api.AWS_SECRET_ACCESS_KEY, minio.MINIO_ROOT_PASSWORD);
  const init = [services['minio-init']?.entrypoint, services['minio-init']?.command].flat().join(' ');
  t.match(init, `mc mb --ignore-existing local/${api.S3_BUCKET}`, 'the init step creates the bucket');
  t.match(init, `${minio.MINIO_ROOT_USER} ${minio.MINIO_ROOT_PASSWORD}`);

  const pg = environment('postgres');
  const db = new URL(api.DATABASE_URL ?? '');
  t.equal(db.username, pg.POSTGRES_USER);
  t.equal(db.password, pg.POSTGRES_PASSWORD);
  t.equal(db.pathname, `/${pg.POSTGRES_DB}`);
  t.equal(db.hostname, 'postgres');
  t.equal(new URL(api.REDIS_URL ?? '').hostname, 'redis');
  t.equal(new URL(api.S3_ENDPOINT ?? '').hostname, 'minio');
  t.same(environment('worker').DATABASE_URL, api.DATABASE_URL, 'workers share the catalog');
  for (const name of ['api', 'worker']) {
    t.equal(services[name]?.depends_on?.['minio-init']?.condition, 'service_completed_successfully', `${name} waits for the bucket`);
  }
});

t.test('the Dockerfile: multi-stage, npm ci + tsc, node:20-slim with xz, non-root, HEALTHCHECK, ENTRYPOINT btfhub', async (t) => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));
  t.ok(stages.length >= 2, 'multi-stage');
  t.equal(stages.at(-1)?.image, 'node:20-slim', 'runtime on node:20-slim');
  t.match(dockerfile, /RUN npm ci/);
  t.match(dockerfile, /npm run build/);
  t.match(dockerfile, /COPY --from=build/);
  t.match(dockerfile, /apt-get install[^\n]*\bxz-utils\b/);
  const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
  t.ok(user !== undefined && user !== 'root' && user !== '0', `runs as ${user}`);
  t.match(dockerfile, /^HEALTHCHECK .*\n?.*\/healthz/m);
  t.match(dockerfile, /^ENTRYPOINT \["btfhub"\]$/m);
  for (const name of Object.keys(dockerfileEnv())) t.ok(known.has(name), `Dockerfile ENV ${name} is in CONFIG_ENV_VARS`);

  // What it copies exists, and .dockerignore does not hide it.
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const match of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
    for (const source of match[1]!.trim().split(/\s+/)) {
      t.ok(existsSync(join(ROOT, source)), `COPY source ${source} exists`);
      t.notOk(ignored.includes(source), `${source} is not in .dockerignore`);
    }
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  t.match(dockerfile, `/app/${pkg.bin.btfhub} /usr/local/bin/btfhub`, 'the btfhub link points at the package bin');
});
