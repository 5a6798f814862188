/**
 * From the first moment of `close()`: requests in flight finish, requests still arriving on
 * open connections are answered 503 with Retry-After and `Connection: close`, and answers
 * finished meanwhile end their connection too, so close() is not held by keep-alive.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from '../../errors.js';

export const shutdownGate = fp(
  async (app: FastifyInstance) => {
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    app.addHook('onRequest', async (_request, reply) => {
      if (!closing) return;
      reply.header('connection', 'close');
      throw unavailable('the service is shutting down; retry on another instance or in a moment');
    });
    app.addHook('onSend', async (_request, reply, payload) => {
      if (closing) reply.header('connection', 'close');
      return payload;
    });
  },
  { name: 'btfhub-shutdown-gate' },
);
