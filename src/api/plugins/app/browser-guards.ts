/**
 * What keeps browsers from being used against the service (docs/SECURITY.md):
 *
 *   - every answer carries `X-Content-Type-Options: nosniff`, so nothing the service returns
 *     (an error echoing a file name, a BTF blob) is ever sniffed into HTML or script;
 *   - a request that does work (the rate-limited routes: POST trims, compat, bundles,
 *     kernel uploads, syncs, admin) and carries an `Origin` header is refused 403
 *     `forbidden_origin`, naming the origin, unless the origin is the service's own (the
 *     `Host` it was sent to, so `/docs` "Try it out" keeps working: browsers send Origin on
 *     every POST, same-origin ones included) or listed in BTFHUB_ALLOWED_ORIGINS. A web page
 *     could otherwise make a visitor's browser POST a multipart object to an instance on
 *     their machine or network (a CORS "simple request" needs no preflight). Agents, CI and
 *     curl send no Origin and are not affected.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../../errors.js';
import { isRateLimitedRoute } from '../external/rate-limit.js';

export interface BrowserGuardOptions {
  /** Origins (scheme://host[:port]) allowed besides the service's own. */
  allowedOrigins: readonly string[];
}

/** The origin a request was sent to, as a browser would write it. */
function ownOrigin(request: FastifyRequest): string | undefined {
  const host = request.host;
  if (host === undefined || host === '') return undefined;
  try {
    return new URL(`${request.protocol}://${host}`).origin;
  } catch {
    return undefined;
  }
}

export const browserGuards = fp(
  async (app: FastifyInstance, options: BrowserGuardOptions) => {
    const allowed = new Set(options.allowedOrigins);
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      return payload;
    });
    app.addHook('onRequest', async (request) => {
      const origin = request.headers.origin;
      if (origin === undefined) return;
      const url = request.routeOptions.url;
      if (url === undefined || !isRateLimitedRoute(request.method, url)) return;
      if (allowed.has(origin) || origin === ownOrigin(request)) return;
      const shown = JSON.stringify(origin.length > 200 ? `${origin.slice(0, 200)}...` : origin);
      throw new ApiError(
        403,
        'forbidden_origin',
        `requests from the web origin ${shown} may not use this route (BTFHUB_ALLOWED_ORIGINS lists the origins allowed)`,
        'Origin',
      );
    });
  },
  { name: 'btfhub-browser-guards' },
);
