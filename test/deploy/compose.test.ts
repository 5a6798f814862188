/**
 * docker-compose.yml and the Dockerfile cannot run here (no Docker), so their contract is
 * checked statically: every variable they give btfhub is one the config schema knows and
 * the values (with deploy/compose.env.example's settings interpolated) pass its validation;
 * the compose file has the scale-out layout, the import that fills it on first start, and
 * its pieces agree (credentials, bucket, database); the image is multi-stage, non-root,
 * health-checked, on the current Node LTS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { CONFIG_ENV_VARS, loadConfig } from '../../src/config/schema.js';
import { PROCESS_SETTINGS, dockerfileEnv, imageNodeArgs, imageProcessSettings } from '../../scripts/image-env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<
    string,
    {
      environment?: Record<string, string> | string[];
      command?: string[];
      deploy?: { replicas?: number };
      image?: string;
      build?: unknown;
      entrypoint?: string[] | string;
      depends_on?: Record<string, { condition: string }>;
      ports?: string[];
      volumes?: string[];
      restart?: string;
    }
  >;
};

/** deploy/compose.env.example as KEY=VALUE pairs (what `cp ... .env` gives compose). */
const exampleEnv: Record<string, string> = Object.fromEntries(
  readFileSync(join(ROOT, 'deploy', 'compose.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

/** Compose's interpolation: ${NAME}, ${NAME:-default}, from `vars` (unset: the default, else ''). */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g,
    (_m, name: string, fallback: string | undefined) => vars[name] || (fallback ?? ''),
  );
}
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const known = new Set<string>(CONFIG_ENV_VARS);

/** A service's environment, interpolated from `vars` (none: as on a first `docker compose up`). */
function environment(service: string, vars: Record<string, string> = {}): Record<string, string> {
  const env = compose.services[service]?.environment ?? {};
  const pairs: [string, unknown][] = Array.isArray(env)
    ? env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)])
    : Object.entries(env);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(String(v), vars)]));
}

t.test('every variable compose gives btfhub is a config variable, with a valid value', async (t) => {
  for (const service of ['api', 'worker', 'import']) {
    for (const [when, vars] of [
      ['first start', {}],
      ['with the example .env', exampleEnv],
    ] as const) {
      const env = environment(service, vars);
      t.ok(Object.keys(env).length > 0, `${service} has an environment`);
      for (const name of Object.keys(env)) t.ok(known.has(name), `${service}: ${name} is in CONFIG_ENV_VARS`);
      const config = loadConfig({ ...dockerfileEnv(), ...env });
      t.equal(config.queue.kind, 'redis', `${service} (${when}): BullMQ queue`);
      t.equal(config.database.kind, 'postgres', `${service} (${when}): PostgreSQL catalog`);
      t.equal(config.storage.kind, 's3', `${service} (${when}): S3 store`);
    }
  }
  t.equal(environment('api').BTFHUB_HOST, '0.0.0.0', 'the API listens on all interfaces');
  t.equal(loadConfig({ ...dockerfileEnv(), ...environment('api') }).adminToken, undefined, 'first start: no token, admin endpoints off');
  t.equal(
    loadConfig({ ...dockerfileEnv(), ...environment('api', exampleEnv) }).adminToken,
    exampleEnv.BTFHUB_ADMIN_TOKEN,
    'the .env token reaches the API',
  );
});

t.test('deploy/compose.env.example: each setting is one docker-compose.yml uses', async (t) => {
  t.ok(Object.keys(exampleEnv).length >= 4);
  for (const name of Object.keys(exampleEnv)) t.match(composeText, `\${${name}`, `${name} is interpolated somewhere`);
  // Compose-only settings must not look like btfhub's own variables (BTFHUB_*), which btfhub warns about.
  for (const name of Object.keys(exampleEnv)) if (name.startsWith('BTFHUB_')) t.ok(known.has(name), `${name} is a config variable`);
  const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  t.ok(ignored.includes('.env'), '.env (the copy with real secrets) is git-ignored');
});

t.test('first start: the import fills bucket and catalog before the API and workers start', async (t) => {
  const services = compose.services;
  const importer = services.import!;
  t.same(importer.command, ['import', '/archive']);
  t.equal(importer.image, services.api?.image, 'the same image');
  t.same(importer.volumes, ['${ARCHIVE:-./archive}:/archive:ro'], 'the BTFHub-layout directory, ./archive by default, read only');
  t.equal(importer.restart, 'no', 'one shot');
  for (const backend of ['redis', 'postgres'])
    t.equal(importer.depends_on?.[backend]?.condition, 'service_healthy', `import waits for ${backend}`);
  t.equal(importer.depends_on?.['minio-init']?.condition, 'service_completed_successfully', 'and for the bucket');
  for (const name of ['api', 'worker'])
    t.equal(services[name]?.depends_on?.import?.condition, 'service_completed_successfully', `${name} starts after the import`);
  t.ok(
    services.minio?.ports?.some((p) => /:9000$/.test(p)),
    'MinIO’s S3 API is published',
  );
  t.ok(
    services.api?.ports?.some((p) => interpolate(p, {}) === '8080:8080'),
    'the API on 8080 by default',
  );
  t.ok(
    services.api?.ports?.some((p) => interpolate(p, { API_PORT: '9090' }) === '9090:8080'),
    'API_PORT moves it',
  );
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
  t.equal(api.AWS_ACCESS_KEY_ID, minio.MINIO_ROOT_USER, "S3 credentials are MinIO's");
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

t.test(
  'the Dockerfile: multi-stage, npm ci + tsc, Node 24 LTS with xz, non-root, HEALTHCHECK, ENTRYPOINT node running btfhub',
  async (t) => {
    const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));
    t.ok(stages.length >= 2, 'multi-stage');
    t.equal(stages.at(-1)?.image, 'node:24-bookworm-slim', 'runtime on the current LTS, Node 24');
    t.same(new Set(stages.map((s) => s.image)), new Set(['node:24-bookworm-slim']), 'built on the Node it runs on (native modules match)');
    t.match(dockerfile, /RUN npm ci/);
    t.match(dockerfile, /npm run build/);
    t.match(dockerfile, /COPY --from=build/);
    t.match(dockerfile, /apt-get install[^\n]*\bxz-utils\b/);
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    t.ok(user !== undefined && user !== 'root' && user !== '0', `runs as ${user}`);
    t.match(dockerfile, /^HEALTHCHECK .*\n?.*\/healthz/m);
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const processSettings = new Set<string>(PROCESS_SETTINGS);
    for (const name of Object.keys(dockerfileEnv(dockerfile)))
      t.ok(known.has(name) || processSettings.has(name), `Dockerfile ENV ${name} is in CONFIG_ENV_VARS or a process setting`);

    // What it copies exists, and .dockerignore does not hide it.
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const match of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
      for (const source of match[1]!.trim().split(/\s+/)) {
        t.ok(existsSync(join(ROOT, source)), `COPY source ${source} exists`);
        t.notOk(ignored.includes(source), `${source} is not in .dockerignore`);
      }
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    t.match(dockerfile, `/app/${pkg.bin.btfhub} /usr/local/bin/btfhub`, 'the btfhub link points at the package bin');
    t.same(
      [entrypoint[0], ...entrypoint.slice(1 + imageNodeArgs(dockerfile).length)],
      ['node', `/app/${pkg.bin.btfhub}`],
      'ENTRYPOINT: node, its options, the package bin',
    );
  },
);

t.test('the process settings: the image sets them, and npm start (the README) starts the service with the same', async (t) => {
  const settings = imageProcessSettings(dockerfile);
  t.same(Object.keys(settings).sort(), [...PROCESS_SETTINGS].sort(), 'the image sets every process setting');
  t.match(settings.MALLOC_MMAP_THRESHOLD_, /^\d+$/);
  t.equal(settings.MALLOC_TRIM_THRESHOLD_, settings.MALLOC_MMAP_THRESHOLD_, 'memory given back as readily as it is mapped');
  const start = packageJson.scripts.start!;
  t.match(settings.GLIBC_TUNABLES, /(^|:)glibc\.malloc\.hugetlb=1(:|$)/, "malloc's own mappings asked for as transparent huge pages");
  for (const name of ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES'])
    t.ok(start.includes(`${name}=\${${name}:-${settings[name]}}`), `npm start sets ${name} unless it is set`);
  // NODE_OPTIONS' flags go on npm start's node command line (NODE_OPTIONS itself would reach npm
  // too), and so do the ENTRYPOINT's node options.
  const startFlags = /\bnode((?: --\S+)*) dist\/src\/cli\/main\.js serve/.exec(start)?.[1]?.trim().split(/\s+/) ?? [];
  t.ok(imageNodeArgs(dockerfile).length > 0, 'the ENTRYPOINT gives node options');
  for (const flag of [...imageNodeArgs(dockerfile), ...settings.NODE_OPTIONS!.split(/\s+/)])
    t.ok(startFlags.includes(flag), `npm start runs node ${flag}`);
  for (const doc of ['docs/CONFIGURATION.md'])
    for (const name of PROCESS_SETTINGS) t.ok(readFileSync(join(ROOT, doc), 'utf8').includes(name), `${doc} documents ${name}`);
});
