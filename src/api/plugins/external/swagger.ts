/**
 * The OpenAPI document at /docs/json and /docs/yaml, and Swagger UI at /docs. The document
 * is generated from the route table (src/api/openapi/document.ts), the same one
 * `npm run openapi` writes to openapi.yaml; its one server is relative, so "Try it out" calls
 * the instance the page came from.
 */
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { openapiDocument } from '../../openapi/document.js';

/** Where Swagger UI is served. Its routes are documentation, not API, and the document leaves them out. */
export const DOCS_PREFIX = '/docs';

export const apiDocs = fp(
  async (app: FastifyInstance) => {
    const document = structuredClone(openapiDocument()) as unknown as StaticDocumentSpec['document'];
    await app.register(swagger, { mode: 'static', specification: { document } });
    await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, logLevel: 'warn' });
  },
  { name: 'btfhub-api-docs' },
);
