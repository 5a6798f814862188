/**
 * The OpenAPI document (openapi.yaml at the package root, served as is) and Swagger UI at
 * /docs. The document is written by hand and checked against the routes and the zod
 * schemas by test/api/openapi.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';

/** Where Swagger UI is served. Its routes are documentation, not API, and openapi.yaml leaves them out. */
export const DOCS_PREFIX = '/docs';

/**
 * openapi.yaml beside the nearest package.json above this module: the module runs from
 * src/api/plugins/external under tap and from dist/src/... once built, so the depth differs.
 */
export function openapiPath(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'openapi.yaml'))) return join(dir, 'openapi.yaml');
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`openapi.yaml not found at or above ${from}`);
}

let cachedDocument: Record<string, unknown> | undefined;

/** The parsed openapi.yaml (read once per process). */
export function openapiDocument(): Record<string, unknown> {
  cachedDocument ??= parse(readFileSync(openapiPath(), 'utf8')) as Record<string, unknown>;
  return cachedDocument;
}

export async function registerSwagger(app: FastifyInstance): Promise<void> {
  const document = structuredClone(openapiDocument()) as unknown as StaticDocumentSpec['document'];
  await app.register(swagger, { mode: 'static', specification: { document } });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, logLevel: 'warn' });
}
