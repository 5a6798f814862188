/**
 * Admin routes (kernel upload, sync trigger) take a bearer token: `Authorization: Bearer
 * <BTFHUB_ADMIN_TOKEN>`. Without a configured token they are disabled, not open.
 *
 *   no token configured       403 {error: 'admin_disabled'}
 *   missing or wrong token    401 {error: 'unauthorized'} with WWW-Authenticate: Bearer
 *
 * The comparison is constant-time over sha256 digests, so neither the token's bytes nor
 * its length leak through timing. The plugin decorates `app.adminOnly`, the preHandler the
 * admin routes take, with the token of `app.services.config`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../../errors.js';

export interface AdminAuthConfig {
  /** BTFHUB_ADMIN_TOKEN; admin routes are disabled when unset or empty. */
  adminToken?: string | undefined;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** The token of an `Authorization: Bearer <token>` header, or null. */
function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

/** Whether `given` is the configured token (constant time). */
function adminTokenMatches(configured: string, given: string): boolean {
  return timingSafeEqual(digest(configured), digest(given));
}

/** Whether `request` carries the configured admin token (never throws: for answers that show more to the admin). */
export function carriesAdminToken(config: AdminAuthConfig, request: FastifyRequest): boolean {
  const configured = config.adminToken;
  if (configured === undefined || configured === '') return false;
  const given = bearerToken(request.headers.authorization);
  return given !== null && adminTokenMatches(configured, given);
}

/** A preHandler that lets only requests carrying the admin token through. */
export function requireAdmin(config: AdminAuthConfig): preHandlerAsyncHookHandler {
  const configured = config.adminToken;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (configured === undefined || configured === '') {
      throw new ApiError(403, 'admin_disabled', 'admin routes are disabled: no BTFHUB_ADMIN_TOKEN is configured');
    }
    const given = bearerToken(request.headers.authorization);
    if (given === null || !adminTokenMatches(configured, given)) {
      reply.header('www-authenticate', 'Bearer realm="btfhub-admin"');
      throw new ApiError(
        401,
        'unauthorized',
        given === null ? 'an admin token is required: Authorization: Bearer <token>' : 'the admin token is not valid',
      );
    }
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The preHandler of admin routes. */
    adminOnly: preHandlerAsyncHookHandler;
    /** Whether a request carries the admin token (answers with details only for the admin). */
    isAdmin(request: FastifyRequest): boolean;
  }
}

export const adminAuth = fp(
  async (app: FastifyInstance) => {
    app.decorate('adminOnly', requireAdmin(app.services.config));
    app.decorate('isAdmin', (request: FastifyRequest) => carriesAdminToken(app.services.config, request));
  },
  { name: 'btfhub-admin-auth', dependencies: ['btfhub-services'] },
);
