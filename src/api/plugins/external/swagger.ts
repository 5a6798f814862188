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

/** The policy of /docs answers Swagger UI sets none on (redirects, errors). */
const DOCS_CSP = "default-src 'self'; object-src 'none'; base-uri 'self';";

export const apiDocs = fp(
  async (app: FastifyInstance) => {
    const document = structuredClone(openapiDocument()) as unknown as StaticDocumentSpec['document'];
    await app.register(swagger, { mode: 'static', specification: { document } });
    // Swagger UI's own CSP (its inline scripts and styles by hash), framing refused: /docs runs
    // "Try it out" against this service, so no other site may frame it (clickjacking).
    await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, logLevel: 'warn', staticCSP: true });
    app.addHook('onSend', async (request, reply, payload) => {
      if (
        !request.url.startsWith(DOCS_PREFIX) ||
        request.url.startsWith(`${DOCS_PREFIX}/json`) ||
        request.url.startsWith(`${DOCS_PREFIX}/yaml`)
      )
        return payload;
      const csp = reply.getHeader('content-security-policy');
      const base = typeof csp === 'string' ? csp : DOCS_CSP;
      // Served over plain http on 127.0.0.1 by default: an upgrade would break the page's own requests.
      // Swagger UI sets inline styles from script (its hashes cover only its static ones), and
      // a hash in style-src voids 'unsafe-inline': styles are allowed inline, scripts stay hashed.
      const policy = base
        .replace(/frame-ancestors [^;]*;/, '')
        .replace(/upgrade-insecure-requests;?/, '')
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';")
        .trim();
      reply.header('content-security-policy', `${policy} frame-ancestors 'none';`);
      reply.header('x-frame-options', 'DENY');
      return payload;
    });
  },
  { name: 'btfhub-api-docs' },
);
