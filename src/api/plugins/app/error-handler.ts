/**
 * One error handler for the whole app: every error becomes `{error, message, field?}` with
 * the status `toErrorReply` picks (src/api/errors.ts), and unknown routes a 404 in the same
 * shape. Server-side failures are logged with their cause; client mistakes at debug level.
 */
import type { FastifyInstance } from 'fastify';
import { toErrorReply } from '../../errors.js';

export function useErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const answer = toErrorReply(err);
    if (answer.serverFault) {
      request.log.error({ err }, `${request.method} ${request.url}: ${answer.body.message}`);
    } else {
      request.log.debug({ err: (err as Error).message, status: answer.status }, 'client error');
    }
    // Whatever the route had set (Content-Type: octet-stream, ETag) does not describe an error.
    reply.removeHeader('etag');
    reply.removeHeader('content-disposition');
    return reply.code(answer.status).headers(answer.headers).type('application/json; charset=utf-8').send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    return reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
