/**
 * Decorates `app.services` (src/api/services.ts: configuration, guarded catalog, store and
 * queue, metrics, limits, upload budget, trim cache and hit recorder), and gives the upload
 * budget back and flushes the hit recorder when the app closes.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AppServices } from '../../services.js';

export const services = fp(
  async (app: FastifyInstance, options: { services: AppServices }) => {
    const services = options.services;
    app.decorate('services', services);
    // Before its body is read (Fastify runs this while the parser is at the end of the
    // headers): note the chunks the parser makes, to free the file chunks once answered.
    app.addHook('onRequest', (request, _reply, done) => {
      services.uploads.watch(request);
      done();
    });
    // A request's upload bytes go back to the budget once it is answered or abandoned; the
    // memory of the chunks it received, once it is answered (an abandoned request's handler
    // may still be reading them: those are left to the collector).
    app.addHook('onResponse', async (request) => {
      services.uploads.release(request);
      services.uploads.releaseChunks(request);
    });
    app.addHook('onRequestAbort', async (request) => services.uploads.release(request));
    app.addHook('onClose', async () => services.trimHits.close());
  },
  { name: 'btfhub-services' },
);
