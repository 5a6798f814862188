/**
 * POST /api/v1/verify (admin): `btfhub verify` over the service's own catalog and store
 * (src/kernels/verify.ts): every stored file the catalog names (job files included) checked
 * against its sha256, files no row names listed; `?repair=true` removes what is made again on
 * demand, damaged objects and orphans. Runs while the request waits: meant for an operator, not a fleet.
 */
import type { FastifyInstance } from 'fastify';
import { verifyStore } from '../../../../kernels/verify.js';
import { ADMIN_ONLY, response } from '../../../openapi/components.js';
import { addRoute, defineOperation } from '../../../openapi/operation.js';
import { VerifyReport } from '../../../schemas.js';
import { z } from '../../../zod.js';

const VerifyQuery = z.strictObject({
  repair: z
    .enum(['true', 'false'])
    .optional()
    .default('false')
    .describe('Remove what can be made again (trims, derived copies, job files), damaged objects and orphans.'),
});

const verifyOperation = defineOperation({
  method: 'post',
  path: '/api/v1/verify',
  operationId: 'verifyStore',
  tags: ['kernels'],
  summary: 'Check every stored file against the catalog (admin)',
  description: `Reads every kernel file, trimmed result, uploaded object, derived copy, compat report and
bundle (with its metadata) the catalog names and checks it against its recorded sha256, and
lists the files of the store that no catalog row names. With \`repair=true\`: trim results and
derived copies that are missing or damaged are removed with their rows (made again on demand),
damaged objects removed (stored again when a client sends them), a compat or bundle job with a
missing or damaged file has all its files and rows removed (submitting the request again makes
them again), orphans older than 10 minutes removed. Damaged or missing kernels are reported
only: upload or import them again. \`btfhub verify\` does the same from the command line.
`,
  security: ADMIN_ONLY,
  request: { query: VerifyQuery },
  responses: {
    '200': { description: 'What was found (and repaired).', content: { 'application/json': { schema: VerifyReport } } },
    '400': response('BadRequest'),
    '401': response('Unauthorized'),
    '403': response('AdminDisabled'),
    '429': response('RateLimited'),
    '503': response('Unavailable'),
  },
});

export const verifyOperations = [verifyOperation];

export async function verifyRoutes(app: FastifyInstance): Promise<void> {
  const services = app.services;
  addRoute(app, verifyOperation, { preHandler: app.adminOnly }, async (request) => {
    const repair = request.query.repair === 'true';
    const report = await verifyStore(services.store, services.catalog, { repair });
    request.log.info(
      { checked: report.checked, findings: report.findings.length, unresolved: report.unresolved, repair },
      'store verified',
    );
    return report;
  });
}
