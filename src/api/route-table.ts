/**
 * Every route of the API: the Fastify plugins that add them (by URL, under routes/) and the
 * operations they are made from, which the OpenAPI document lists in this order.
 */
import type { FastifyInstance } from 'fastify';
import { btfOperations, btfRoutes } from './routes/api/v1/btf.js';
import { bundleOperations, bundleRoutes } from './routes/api/v1/bundle.js';
import { compatReportOperations, compatReportRoutes } from './routes/api/v1/compat-report.js';
import { compatOperations, compatRoutes } from './routes/api/v1/compat.js';
import { coverageOperations, coverageRoutes } from './routes/api/v1/coverage.js';
import { jobOperations, jobRoutes } from './routes/api/v1/jobs.js';
import { kernelGenerateOperations, kernelGenerateRoutes } from './routes/api/v1/kernel-generate.js';
import { kernelUploadOperations, kernelUploadRoutes } from './routes/api/v1/kernel-upload.js';
import { kernelOperations, kernelRoutes } from './routes/api/v1/kernels.js';
import { syncOperations, syncRoutes } from './routes/api/v1/sync.js';
import { verifyOperations, verifyRoutes } from './routes/api/v1/verify.js';
import { healthOperations, healthRoutes } from './routes/health.js';
import { identityOperations, identityRoutes } from './routes/identity.js';
import { monitoringOperations, monitoringRoutes } from './routes/monitoring.js';
import { pageOperations, pageRoutes } from './routes/page.js';

export const ROUTES: readonly ((app: FastifyInstance) => Promise<void>)[] = [
  btfRoutes,
  jobRoutes,
  kernelRoutes,
  kernelUploadRoutes,
  kernelGenerateRoutes,
  verifyRoutes,
  coverageRoutes,
  syncRoutes,
  compatReportRoutes,
  bundleRoutes,
  pageRoutes,
  identityRoutes,
  compatRoutes,
  monitoringRoutes,
  healthRoutes,
];

export const OPERATIONS = [
  ...btfOperations,
  ...jobOperations,
  ...kernelOperations,
  ...kernelUploadOperations,
  ...kernelGenerateOperations,
  ...verifyOperations,
  ...coverageOperations,
  ...syncOperations,
  ...compatReportOperations,
  ...bundleOperations,
  ...pageOperations,
  ...identityOperations,
  ...compatOperations,
  ...monitoringOperations,
  ...healthOperations,
];
