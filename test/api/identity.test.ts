/**
 * POST /api/v1/identity: os-release text and uname in, the archive identity out, by the
 * rules `btfhub fetch` applies (src/identity/host.ts); errors name the request field. The
 * client's `identity()` against the real route; the OpenAPI document describes the same schemas.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { z } from 'zod';
import { buildApp } from '../../src/api/app.js';
import { IdentityAnswer, IdentityRequest, MAX_OS_RELEASE_LENGTH } from '../../src/api/identity-schema.js';
import { openapiDocument } from '../../src/api/openapi/document.js';
import { constraints, resolveRefs } from './openapi-shape.js';
import { BtfhubClient, BtfhubHttpError } from '../../src/client/index.js';
import {
  AMZN_2,
  AMZN_2018_03,
  CENTOS_7,
  DEBIAN_12,
  FEDORA_34,
  OL_8,
  RHEL_8,
  SLES_15_SP4,
  UBUNTU_22_04,
  type HostSample,
} from '../identity/os-release-samples.js';

async function app() {
  const instance = await buildApp({
    config: { requestWaitMs: 0, maxFileBytes: 1024, maxFiles: 1 },
    // The route is pure: none of these is touched.
    store: {} as never,
    catalog: {} as never,
    queue: { depth: async () => 0 } as never,
    docs: false,
  });
  t.teardown(() => instance.close());
  return instance;
}

const body = (sample: HostSample, extra: Record<string, unknown> = {}) => ({
  os_release: sample.osRelease,
  uname_release: sample.unameRelease,
  uname_machine: sample.unameMachine,
  ...extra,
});

t.test('each distribution’s os-release and uname give its archive key', async (t) => {
  const api = await app();
  const cases: [HostSample, string][] = [
    [UBUNTU_22_04, 'ubuntu/22.04/x86_64'],
    [DEBIAN_12, 'debian/12/arm64'],
    [CENTOS_7, 'centos/7/x86_64'],
    [AMZN_2, 'amzn/2/arm64'],
    [AMZN_2018_03, 'amzn/1/x86_64'],
    [OL_8, 'ol/8/x86_64'],
    [RHEL_8, 'rhel/8/x86_64'],
    [SLES_15_SP4, 'sles/15.4/x86_64'],
    [FEDORA_34, 'fedora/34/x86_64'],
  ];
  for (const [sample, prefix] of cases) {
    const res = await api.inject({ method: 'POST', url: '/api/v1/identity', payload: body(sample) });
    t.equal(res.statusCode, 200, prefix);
    const [distro, distroVersion, arch] = prefix.split('/');
    t.same(
      res.json(),
      {
        distro,
        distro_version: distroVersion,
        arch,
        kernel_version: sample.unameRelease,
        key: `${prefix}/${sample.unameRelease}`,
        source: 'os-release',
        notes: [],
        kernel_url: `/api/v1/kernels/${prefix}/${sample.unameRelease}`,
      },
      prefix,
    );
    t.ok(IdentityAnswer.safeParse(res.json()).success, `${prefix}: the answer fits its schema`);
  }
});

t.test('no os-release, or a container’s: the kernel release decides, and the notes say why', async (t) => {
  const api = await app();
  const missing = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    payload: { uname_release: '4.18.0-372.9.1.el8_6.x86_64', uname_machine: 'x86_64' },
  });
  t.equal(missing.statusCode, 200);
  t.match(missing.json(), {
    key: 'centos/8/x86_64/4.18.0-372.9.1.el8_6.x86_64',
    source: 'kernel-release',
    notes: ['no os-release file', /chose centos/, /centos 8 from/],
  });
  const nulled = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    payload: { os_release: null, uname_release: '4.14.268-205.500.amzn2.aarch64', uname_machine: 'aarch64' },
  });
  t.match(nulled.json(), { key: 'amzn/2/arm64/4.14.268-205.500.amzn2.aarch64', source: 'kernel-release' });

  const container = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    payload: body(DEBIAN_12, { uname_release: '5.10.184-175.731.amzn2.x86_64', uname_machine: 'x86_64' }),
  });
  t.match(container.json(), {
    key: 'amzn/2/x86_64/5.10.184-175.731.amzn2.x86_64',
    source: 'kernel-release',
    notes: [/os-release says debian 12, but .* is an Amazon Linux 2 kernel/, /amzn 2 from/],
  });
});

t.test('overrides: distro and distro_version, aliases applied', async (t) => {
  const api = await app();
  const both = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    payload: body(CENTOS_7, { distro: 'redhat', distro_version: '7.9' }),
  });
  t.match(both.json(), { key: `rhel/7/x86_64/${CENTOS_7.unameRelease}`, source: 'override' });
  const distroOnly = await api.inject({ method: 'POST', url: '/api/v1/identity', payload: body(CENTOS_7, { distro: 'ol' }) });
  t.match(distroOnly.json(), {
    key: `ol/7/x86_64/${CENTOS_7.unameRelease}`,
    source: 'override',
    notes: [/release 7 from the kernel release/, /distro ol given/],
  });
  const versionOnly = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    payload: { uname_release: '5.15.0-91-generic', uname_machine: 'x86_64', distro_version: 'jammy' },
  });
  t.match(versionOnly.json(), { key: 'ubuntu/22.04/x86_64/5.15.0-91-generic', source: 'override' });
});

t.test('errors are 400 {error, message, field} naming the request field', async (t) => {
  const api = await app();
  const post = (payload: unknown) => api.inject({ method: 'POST', url: '/api/v1/identity', payload: payload as Record<string, unknown> });
  const cases: [string, unknown, { error: string; field: string; message: RegExp }][] = [
    [
      'missing uname_release',
      { uname_machine: 'x86_64' },
      { error: 'missing_field', field: 'uname_release', message: /uname_release is required/ },
    ],
    [
      'missing uname_machine',
      { uname_release: '5.15.0-91-generic' },
      { error: 'missing_field', field: 'uname_machine', message: /uname_machine is required/ },
    ],
    [
      'a slash in the release',
      { uname_release: '5.15/../x', uname_machine: 'x86_64' },
      { error: 'invalid_field', field: 'uname_release', message: /^uname_release: / },
    ],
    [
      'an unknown machine',
      { uname_release: '5.15.0-91-generic', uname_machine: 'sparc64', os_release: UBUNTU_22_04.osRelease },
      { error: 'invalid_field', field: 'uname_machine', message: /^uname_machine: "sparc64" is not supported/ },
    ],
    [
      'a release the host cannot tell',
      { uname_release: '5.15.0-91-generic', uname_machine: 'x86_64' },
      {
        error: 'invalid_field',
        field: 'os_release',
        message: /^os_release: no os-release file; .*provide the host’s \/etc\/os-release or the distro version/,
      },
    ],
    [
      'an unknown kernel and no os-release',
      { uname_release: '6.6.1-arch1-1', uname_machine: 'x86_64', os_release: null },
      { error: 'invalid_field', field: 'os_release', message: /cannot determine the distribution/ },
    ],
    [
      'an unknown distro override',
      { ...body(UBUNTU_22_04), distro: 'gentoo', distro_version: '1' },
      { error: 'invalid_field', field: 'distro', message: /^distro: "gentoo" is not supported/ },
    ],
    [
      'a distro override whose release is unknown',
      { ...body(CENTOS_7), distro: 'ubuntu' },
      { error: 'invalid_field', field: 'distro_version', message: /give the release too/ },
    ],
    [
      'an os-release too long',
      { ...body(UBUNTU_22_04), os_release: 'x'.repeat(MAX_OS_RELEASE_LENGTH + 1) },
      { error: 'invalid_field', field: 'os_release', message: /at most 65536 characters/ },
    ],
    [
      'a number for a string',
      { uname_release: 5, uname_machine: 'x86_64' },
      { error: 'invalid_field', field: 'uname_release', message: /uname_release/ },
    ],
  ];
  for (const [label, payload, expected] of cases) {
    const res = await post(payload);
    t.equal(res.statusCode, 400, label);
    t.match(res.json(), expected, label);
  }
  const text = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    headers: { 'content-type': 'text/plain' },
    payload: 'ID=ubuntu',
  });
  t.equal(text.statusCode, 415, 'JSON only');
  t.match(text.json(), { error: 'unsupported_media_type' });
  const array = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    headers: { 'content-type': 'application/json' },
    payload: '[]',
  });
  t.equal(array.statusCode, 400);
  const broken = await api.inject({
    method: 'POST',
    url: '/api/v1/identity',
    headers: { 'content-type': 'application/json' },
    payload: '{"uname',
  });
  t.equal(broken.statusCode, 400);
  t.match(broken.json(), { error: 'bad_request' });
});

t.test('BtfhubClient.identity() against the route', async (t) => {
  const api = await app();
  await api.listen({ host: '127.0.0.1', port: 0 });
  const client = new BtfhubClient({ baseUrl: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}` });
  const answer = await client.identity({
    osRelease: SLES_15_SP4.osRelease,
    unameRelease: SLES_15_SP4.unameRelease,
    unameMachine: 'x86_64',
  });
  t.match(answer, { key: `sles/15.4/x86_64/${SLES_15_SP4.unameRelease}`, source: 'os-release' });
  const error = await client
    .identity({ osRelease: null, unameRelease: '5.15.0-91-generic', unameMachine: 'x86_64' })
    .catch((e: unknown) => e);
  t.ok(error instanceof BtfhubHttpError);
  t.match(error, { status: 400, code: 'invalid_field', field: 'os_release', attempts: 1 });
});

t.test('the OpenAPI document describes the route with the zod schemas’ fields and constraints', async (t) => {
  const doc = openapiDocument() as unknown as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, unknown> };
  };
  const operation = doc.paths['/api/v1/identity']?.post as
    | {
        requestBody: { content: Record<string, { schema: unknown }> };
        responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
      }
    | undefined;
  if (operation === undefined) {
    t.fail('the document has no POST /api/v1/identity');
    return;
  }
  const resolve = (value: unknown): unknown => resolveRefs(doc, value);
  const request = resolve(operation.requestBody.content['application/json']?.schema);
  t.same(constraints(request), constraints(z.toJSONSchema(IdentityRequest, { io: 'input' })), 'request body');
  const answer = resolve(operation.responses['200']?.content?.['application/json']?.schema);
  t.same(constraints(answer), constraints(z.toJSONSchema(IdentityAnswer, { io: 'output' })), '200 body');
  const errorSchema = resolve(doc.components.schemas.Error);
  for (const [status, response] of Object.entries(operation.responses)) {
    const content = (resolve(response) as { content?: Record<string, { schema: unknown }> }).content;
    if (Number(status) >= 400) t.same(content?.['application/json']?.schema, errorSchema, `${status}: the Error shape`);
  }
  t.same(Object.keys(operation.responses).sort(), ['200', '400', '413', '415']);
});
