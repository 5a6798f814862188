/**
 * Trailing slashes on the routes of the original BTFHub Online redirect as its router (gin,
 * RedirectTrailingSlash on by default) redirected them: `GET /api/v1/list/` is a 301 to
 * `/api/v1/list`, any other method a 307 (the method and body are kept), the query string
 * carried over. Its clients and scripts that spelt a URL with a slash keep working.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** The original's routes (src/api/routes/api/v1/compat.ts, routes/monitoring.ts). */
export const COMPAT_PATHS: readonly string[] = [
  '/api/v1/list',
  '/api/v1/download',
  '/api/v1/customize',
  '/monitoring/health',
  '/monitoring/metrics',
];

export const compatRedirects = fp(
  async (app: FastifyInstance) => {
    const slashed = new Set(COMPAT_PATHS.map((path) => `${path}/`));
    app.addHook('onRequest', async (request, reply) => {
      const query = request.url.indexOf('?');
      const path = query < 0 ? request.url : request.url.slice(0, query);
      if (!slashed.has(path)) return;
      const target = path.slice(0, -1) + (query < 0 ? '' : request.url.slice(query));
      return reply
        .code(request.method === 'GET' ? 301 : 307)
        .header('location', target)
        .send();
    });
  },
  { name: 'btfhub-compat-redirects' },
);
