/**
 * One error handler for the whole app: every error becomes `{error, message, field?}` with
 * the status `toErrorReply` picks (src/api/errors.ts), and unknown routes a 404 in the same
 * shape. Server-side failures are logged with their cause; client mistakes at debug level.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { toErrorReply } from '../../errors.js';

/** Answers `err` as the API's JSON error; logs server-side faults. */
function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = toErrorReply(err);
  if (answer.serverFault) {
    request.log.error({ err }, `${request.method} ${request.url}: ${answer.body.message}`);
  } else {
    request.log.debug({ err: err instanceof Error ? err.message : String(err), status: answer.status }, 'client error');
  }
  // Whatever the route had set (Content-Type: octet-stream, ETag) does not describe an error.
  reply.removeHeader('etag');
  reply.removeHeader('content-disposition');
  return reply.code(answer.status).headers(answer.headers).type('application/json; charset=utf-8').send(answer.body);
}

/**
 * For Fastify's `frameworkErrors` option: errors found before routing (a URL that does not
 * decode, a path segment over maxParamLength) get the same JSON shape.
 */
export function frameworkErrors(err: Error, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(err, request, reply);
}

export const errorHandler = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
    app.setNotFoundHandler((request, reply) => {
      return reply
        .code(404)
        .type('application/json; charset=utf-8')
        .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
    });
  },
  { name: 'btfhub-error-handler' },
);
