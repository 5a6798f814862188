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
    // A request's upload bytes go back to the budget once it is answered or abandoned.
    app.addHook('onResponse', async (request) => services.uploads.release(request));
    app.addHook('onRequestAbort', async (request) => services.uploads.release(request));
    app.addHook('onClose', async () => services.trimHits.close());
  },
  { name: 'btfhub-services' },
);
