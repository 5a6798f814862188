/**
 * The OpenAPI document is generated from the route table (src/api/route-table.ts) and the zod
 * schemas the routes validate with, and openapi.yaml is that document as committed:
 *   - the committed openapi.yaml is exactly what `npm run openapi` writes now;
 *   - every Fastify route is in the document and every documented operation is served;
 *   - each route validates with the schemas its operation declares;
 *   - the document's parameters, multipart fields and components say what zod's own JSON
 *     schemas say (zod-to-openapi's writing checked against zod's);
 *   - every error answer is the Error shape, 503s carry Retry-After;
 *   - the trim route documents its statuses and headers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RouteOptions } from 'fastify';
import t from 'tap';
import { parse } from 'yaml';
import { z } from 'zod';
import { buildApp } from '../../src/api/app.js';
import { COVERAGE_COMPONENT_SCHEMAS } from '../../src/api/coverage-schemas.js';
import { GENERATE_COMPONENT_SCHEMAS } from '../../src/api/generate-schemas.js';
import { IdentityAnswer, IdentityRequest } from '../../src/api/identity-schema.js';
import { generateOpenapiDocument, openapiYaml } from '../../src/api/openapi/document.js';
import { fastifyPath, type Operation } from '../../src/api/openapi/operation.js';
import { DOCS_PREFIX } from '../../src/api/plugins/external/swagger.js';
import { OPERATIONS as ROUTE_OPERATIONS } from '../../src/api/route-table.js';
import { COMPONENT_SCHEMAS as CORE_COMPONENT_SCHEMAS } from '../../src/api/schemas.js';
import { constraints, resolveRefs } from './openapi-shape.js';

const OPERATIONS: readonly Operation[] = ROUTE_OPERATIONS;
const COMPONENT_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  ...CORE_COMPONENT_SCHEMAS,
  ...COVERAGE_COMPONENT_SCHEMAS,
  ...GENERATE_COMPONENT_SCHEMAS,
  IdentityRequest,
  IdentityAnswer,
};

type Json = Record<string, unknown>;

const doc = generateOpenapiDocument() as unknown as Json;
const components = doc.components as Json;
const resolve = (value: unknown) => resolveRefs(doc, value);

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');
const keyOf = (operation: Operation) => `${operation.method.toUpperCase()} ${operation.path}`;
const operationsByKey = new Map(OPERATIONS.map((operation) => [keyOf(operation), operation]));

async function servedRoutes(): Promise<Map<string, RouteOptions>> {
  const routes = new Map<string, RouteOptions>();
  const app = await buildApp({
    config: { requestWaitMs: 0, maxFileBytes: 1, maxFiles: 1 },
    store: {} as never,
    catalog: {} as never,
    queue: { depth: async () => 0 } as never,
    onRoute: (route) => {
      if (route.url.startsWith(DOCS_PREFIX)) return; // Swagger UI itself
      for (const method of [route.method].flat()) routes.set(`${method} ${toOpenApiPath(route.url)}`, route);
    },
  });
  await app.close();
  return routes;
}

function documentedOperations(): Map<string, Json> {
  const operations = new Map<string, Json>();
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, operation] of Object.entries(item as Json))
      operations.set(`${method.toUpperCase()} ${path}`, resolve(operation) as Json);
  }
  return operations;
}

t.test('openapi.yaml is what `npm run openapi` generates now', async (t) => {
  const committed = readFileSync(fileURLToPath(new URL('../../openapi.yaml', import.meta.url)), 'utf8');
  const generated = openapiYaml(generateOpenapiDocument());
  t.ok(committed === generated, 'openapi.yaml differs from the document the routes generate: run `npm run openapi` and commit the result');
  t.same(parse(committed), parse(generated), 'where they differ');
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
    scripts: Record<string, string>;
  };
  t.match(pkg.scripts.openapi, /scripts\/openapi\.ts/, 'npm run openapi writes it');
});

t.test('every route is documented and every documented path is served', async (t) => {
  const served = await servedRoutes();
  const documented = documentedOperations();
  t.same([...served.keys()].sort(), [...documented.keys()].sort());
  t.equal(served.size, 28, 'the API has 28 operations');
  t.equal(doc.openapi, '3.1.0');
  t.same(doc.servers, [{ url: '/', description: 'This service: the origin this document was loaded from.' }], 'one relative server');
  for (const operation of OPERATIONS)
    t.equal(fastifyPath(operation.path), served.get(keyOf(operation))?.url, `${keyOf(operation)}: served at its path`);
});

t.test('routes validate with the schemas of their operations', async (t) => {
  const served = await servedRoutes();
  for (const [key, route] of served) {
    const operation = operationsByKey.get(key);
    t.ok(operation, `${key} is made from an operation`);
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    t.equal(schema.params, operation?.request?.params, `${key}: params schema`);
    t.equal(schema.querystring, operation?.request?.query, `${key}: querystring schema`);
    const json = operation?.request?.body?.content['application/json'];
    t.equal(schema.body, json !== undefined && 'schema' in json ? json.schema : undefined, `${key}: JSON body schema`);
    t.equal(schema.headers, undefined, `${key}: headers are documented, never validated (the parsed object would replace them)`);
  }
});

/** A zod object's properties and required names as JSON schema (input side: what clients send). */
function zodFields(schema: z.ZodType): { properties: Json; required: string[] } {
  const json = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Json; required?: string[] };
  return { properties: json.properties ?? {}, required: json.required ?? [] };
}

t.test('parameters and multipart fields say what the zod schemas say', async (t) => {
  const documented = documentedOperations();
  for (const operation of OPERATIONS) {
    const key = keyOf(operation);
    const documentedOperation = documented.get(key)!;
    const parameters = (documentedOperation.parameters ?? []) as Json[];
    const pathNames = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [location, zodSchema] of [
      ['path', operation.request?.params],
      ['query', operation.request?.query],
      ['header', operation.request?.headers],
    ] as const) {
      const documentedParams = parameters.filter((p) => p.in === location);
      if (zodSchema === undefined || Array.isArray(zodSchema)) {
        t.same(
          documentedParams.map((p) => p.name),
          [],
          `${key}: no ${location} parameters without a schema`,
        );
        continue;
      }
      const { properties, required } = zodFields(zodSchema as z.ZodType);
      t.same(documentedParams.map((p) => p.name).sort(), Object.keys(properties).sort(), `${key}: ${location} parameter names`);
      if (location === 'path') t.same([...pathNames].sort(), Object.keys(properties).sort(), `${key}: path template names`);
      for (const param of documentedParams) {
        const name = String(param.name);
        t.equal(param.required === true, required.includes(name), `${key}: ${name} required flag`);
        t.same(constraints(param.schema), constraints(properties[name]), `${key}: ${name} constraints`);
      }
    }

    const multipart = operation.request?.body?.content['multipart/form-data'];
    if (multipart !== undefined && 'schema' in multipart) {
      const body = ((documentedOperation.requestBody as Json).content as Json)['multipart/form-data'] as Json;
      t.same(
        constraints(resolve(body.schema)),
        constraints(z.toJSONSchema(multipart.schema as z.ZodType, { io: 'input' })),
        `${key}: multipart fields`,
      );
    }
  }
});

t.test('components say what the zod response schemas say', async (t) => {
  const schemas = components.schemas as Json;
  t.same(Object.keys(schemas).sort(), [...Object.keys(COMPONENT_SCHEMAS), 'CoverageUpload'].sort(), 'every named schema, and no other');
  for (const [name, schema] of Object.entries(COMPONENT_SCHEMAS)) {
    const io = name === 'IdentityRequest' ? 'input' : 'output';
    t.same(constraints(resolve(schemas[name])), constraints(z.toJSONSchema(schema, { io })), `components.schemas.${name}`);
  }
});

t.test('every error response is JSON {error, message, field?}; 503s carry Retry-After', async (t) => {
  const errorSchema = resolve((components.schemas as Json).Error);
  const notReady = resolve((components.schemas as Json).NotReady);
  for (const [key, operation] of documentedOperations()) {
    const responses = operation.responses as Json;
    // Generation is always a job: its one success is the 202 that names it.
    t.ok(
      key === 'POST /api/v1/kernels/generate' ? responses['202'] : responses['200'],
      `${key}: documents ${key.endsWith('/generate') ? 202 : 200}`,
    );
    for (const [status, response] of Object.entries(responses)) {
      if (Number(status) < 400) continue;
      const content = (response as Json).content as Json | undefined;
      const schema = (content?.['application/json'] as Json | undefined)?.schema;
      t.same(schema, key === 'GET /readyz' ? notReady : errorSchema, `${key} ${status}: JSON error body`);
      if (status === '503') t.ok(((response as Json).headers as Json | undefined)?.['Retry-After'], `${key} 503: Retry-After`);
    }
  }
});

t.test('the documented statuses of the trim route', async (t) => {
  const post = documentedOperations().get('POST /api/v1/btf') as Json;
  t.same(Object.keys(post.responses as Json).sort(), ['200', '202', '400', '404', '413', '415', '422', '429', '500', '503']);
  const ok = (post.responses as Json)['200'] as Json;
  t.same(Object.keys(ok.headers as Json).sort(), ['ETag', 'Server-Timing', 'X-BTFHub-Cache', 'X-BTFHub-Kernel', 'X-BTFHub-Objects-Hash']);
  const accepted = (post.responses as Json)['202'] as Json;
  t.ok((accepted.headers as Json).Location, '202 has Location');
});
