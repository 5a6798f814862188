/**
 * openapi.yaml describes exactly what is served: every Fastify route is in it and every
 * path in it is a route; each operation's parameters and multipart fields have the names,
 * required flags and constraints of the zod schemas the route validates with; the
 * components match the zod response schemas; every error response is the Error shape.
 */
import type { RouteOptions } from 'fastify';
import t from 'tap';
import { z } from 'zod';
import { buildApp } from '../../src/api/app.js';
import { DOCS_PREFIX, openapiDocument } from '../../src/api/plugins/external/swagger.js';
import { COVERAGE_COMPONENT_SCHEMAS, COVERAGE_OPERATION_SCHEMAS } from '../../src/api/coverage-schemas.js';
import { COMPONENT_SCHEMAS as CORE_COMPONENT_SCHEMAS, OPERATION_SCHEMAS as CORE_OPERATION_SCHEMAS, type OperationSchemas } from '../../src/api/schemas.js';

/** The schemas of src/api/schemas.ts and of the coverage routes (src/api/coverage-schemas.ts). */
const COMPONENT_SCHEMAS = { ...CORE_COMPONENT_SCHEMAS, ...COVERAGE_COMPONENT_SCHEMAS };
const OPERATION_SCHEMAS: Readonly<Record<string, OperationSchemas>> = { ...CORE_OPERATION_SCHEMAS, ...COVERAGE_OPERATION_SCHEMAS };

type Json = Record<string, unknown>;

const doc = openapiDocument() as Json;
const components = doc.components as Json;

/** Follows local `$ref`s (`#/components/...`) everywhere in `value`. */
function resolve(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolve);
  if (typeof value !== 'object' || value === null) return value;
  const object = value as Json;
  if (typeof object.$ref === 'string') {
    const target = object.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
    if (target === undefined) throw new Error(`dangling $ref ${object.$ref}`);
    return resolve(target);
  }
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolve(v)]));
}

const DOC_ONLY_KEYS = new Set(['description', 'examples', 'example', 'format', '$schema', 'title', 'contentMediaType']);

/** The constraints of a JSON schema, without documentation-only keys and zod's implicit safe-integer bounds. */
function constraints(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(constraints);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value as Json)) {
    if (DOC_ONLY_KEYS.has(key)) continue;
    if (key === 'minimum' && v === Number.MIN_SAFE_INTEGER) continue;
    if (key === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
    if (key === 'required' && Array.isArray(v)) {
      out[key] = [...v].sort();
      continue;
    }
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(v as Json).map(([name, schema]) => [name, constraints(schema)]));
      continue;
    }
    out[key] = constraints(v);
  }
  return out;
}

const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

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
    for (const [method, operation] of Object.entries(item as Json)) {
      operations.set(`${method.toUpperCase()} ${path}`, resolve(operation) as Json);
    }
  }
  return operations;
}

t.test('every route is documented and every documented path is served', async (t) => {
  const served = await servedRoutes();
  const documented = documentedOperations();
  t.same([...served.keys()].sort(), [...documented.keys()].sort());
  t.equal(served.size, 26, 'the API has 26 operations');
  t.equal(doc.openapi, '3.1.0');
});

t.test('routes validate with the schemas of OPERATION_SCHEMAS', async (t) => {
  const served = await servedRoutes();
  for (const [key, schemas] of Object.entries(OPERATION_SCHEMAS)) {
    const route = served.get(key);
    t.ok(route, `${key} is served`);
    const schema = (route?.schema ?? {}) as Record<string, unknown>;
    if (schemas.params) t.equal(schema.params, schemas.params, `${key}: params schema`);
    if (schemas.querystring) t.equal(schema.querystring, schemas.querystring, `${key}: querystring schema`);
  }
  for (const [key, route] of served) {
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    if (schema.params || schema.querystring) t.ok(OPERATION_SCHEMAS[key], `${key}: its schemas are listed in OPERATION_SCHEMAS`);
  }
});

/** A zod object's properties and required names as JSON schema (input side: what clients send). */
function zodFields(schema: z.ZodObject): { properties: Json; required: string[] } {
  const json = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Json; required?: string[] };
  return { properties: json.properties ?? {}, required: json.required ?? [] };
}

t.test('parameters and multipart fields match the zod schemas', async (t) => {
  const documented = documentedOperations();
  for (const [key, operation] of documented) {
    const schemas: OperationSchemas = OPERATION_SCHEMAS[key] ?? {};
    const parameters = ((operation.parameters ?? []) as Json[]).filter((p) => p.in === 'path' || p.in === 'query');
    const pathTemplate = key.split(' ')[1] ?? '';
    const pathNames = [...pathTemplate.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);

    for (const [location, zodSchema] of [
      ['path', schemas.params],
      ['query', schemas.querystring],
    ] as const) {
      const documentedParams = parameters.filter((p) => p.in === location);
      if (zodSchema === undefined) {
        t.same(documentedParams.map((p) => p.name), [], `${key}: no ${location} parameters without a schema`);
        continue;
      }
      const { properties, required } = zodFields(zodSchema);
      t.same(documentedParams.map((p) => p.name).sort(), Object.keys(properties).sort(), `${key}: ${location} parameter names`);
      if (location === 'path') t.same([...pathNames].sort(), Object.keys(properties).sort(), `${key}: path template names`);
      for (const param of documentedParams) {
        const name = String(param.name);
        t.equal(param.required === true, required.includes(name), `${key}: ${name} required flag`);
        t.same(constraints(param.schema), constraints(properties[name]), `${key}: ${name} constraints`);
      }
    }

    const multipart = ((operation.requestBody as Json | undefined)?.content as Json | undefined)?.['multipart/form-data'] as Json | undefined;
    if (schemas.multipartFields) {
      t.ok(multipart, `${key}: documents a multipart body`);
      const body = (multipart?.schema ?? {}) as { properties?: Json; required?: string[] };
      const { properties, required } = zodFields(schemas.multipartFields);
      const textFields = Object.entries(body.properties ?? {}).filter(([name]) => name in properties);
      t.same(textFields.map(([name]) => name).sort(), Object.keys(properties).sort(), `${key}: multipart text fields`);
      for (const [name, schema] of textFields) t.same(constraints(schema), constraints(properties[name]), `${key}: field ${name}`);
      t.same(
        (body.required ?? []).filter((name) => name in properties).sort(),
        [...required].sort(),
        `${key}: required multipart fields`,
      );
    }
  }
});

t.test('components match the zod response schemas', async (t) => {
  const schemas = components.schemas as Json;
  for (const [name, schema] of Object.entries(COMPONENT_SCHEMAS)) {
    t.ok(schemas[name], `components.schemas.${name} exists`);
    t.same(constraints(resolve(schemas[name])), constraints(z.toJSONSchema(schema, { io: 'output' })), `components.schemas.${name}`);
  }
});

t.test('every error response is JSON {error, message, field?}; 503s carry Retry-After', async (t) => {
  const errorSchema = resolve(components.schemas && (components.schemas as Json).Error);
  const notReady = resolve((components.schemas as Json).NotReady);
  for (const [key, operation] of documentedOperations()) {
    const responses = operation.responses as Json;
    t.ok(responses['200'], `${key}: documents 200`);
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
  t.same(Object.keys(ok.headers as Json).sort(), ['ETag', 'X-BTFHub-Cache', 'X-BTFHub-Kernel', 'X-BTFHub-Objects-Hash']);
  const accepted = (post.responses as Json)['202'] as Json;
  t.ok((accepted.headers as Json).Location, '202 has Location');
});
