/**
 * The coverage page: a small static HTML + JS page over the JSON API (no build step).
 *
 *   GET /                 index.html: the coverage table, a kernel search, a compatibility check
 *   GET /assets/{file}    its script and stylesheet (app.js, app.css)
 *
 * The files live in src/api/public/ and are read once, at start. A build without them (an
 * image that copied only dist/) still serves the API: these routes then answer 404 saying so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { PAGE_ASSETS, PageAssetParams } from '../coverage-schemas.js';
import { ApiError } from '../errors.js';
import { response } from '../openapi/components.js';
import { addRoute, defineOperation } from '../openapi/operation.js';

const coveragePageOperation = defineOperation({
  method: 'get',
  path: '/',
  operationId: 'coveragePage',
  tags: ['coverage'],
  summary: 'The coverage page',
  description: `A small HTML page over this API: the coverage table by distro, release and arch, a
kernel search, and a form to upload objects and see their compatibility matrix (or
download their bundle).
`,
  responses: {
    '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
    '404': response('PageNotInstalled'),
  },
});

const coveragePageAssetOperation = defineOperation({
  method: 'get',
  path: '/assets/{file}',
  operationId: 'coveragePageAsset',
  tags: ['coverage'],
  summary: "The coverage page's script and stylesheet",
  request: { params: PageAssetParams },
  responses: {
    '200': {
      description: 'The file.',
      content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
    },
    '400': response('BadRequest'),
    '404': response('PageNotInstalled'),
  },
});

export const pageOperations = [coveragePageOperation, coveragePageAssetOperation];

/** The page loads only its own script and style and talks only to this origin. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * The page's directory: `../public` beside this module (src/api/public from the sources;
 * dist/src/api/public when the build copies it there), else src/api/public of the package;
 * null when neither has it.
 */
export function publicDir(from = dirname(fileURLToPath(import.meta.url))): string | null {
  const beside = join(from, '..', 'public');
  if (existsSync(join(beside, 'index.html'))) return beside;
  let dir = from;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'src', 'api', 'public');
    if (existsSync(join(dir, 'package.json')) && existsSync(join(candidate, 'index.html'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const dir = publicDir();
  if (dir === null) app.log.warn('the coverage page (src/api/public) is not part of this build: / answers 404');
  const files = new Map<string, Buffer>(
    dir === null ? [] : ['index.html', ...PAGE_ASSETS].map((name) => [name, readFileSync(join(dir, name))]),
  );
  const send = (name: string) => {
    const body = files.get(name);
    if (body === undefined)
      throw new ApiError(
        404,
        'not_found',
        'the coverage page is not installed (src/api/public is missing from this build); the API is at /api/v1',
      );
    return { body, type: MEDIA_TYPES[name]! };
  };

  addRoute(app, coveragePageOperation, {}, async (_request, reply) => {
    const { body, type } = send('index.html');
    return reply.type(type).headers(PAGE_HEADERS).send(body);
  });

  addRoute(app, coveragePageAssetOperation, {}, async (request, reply) => {
    const { body, type } = send(request.params.file);
    return reply.type(type).headers(PAGE_HEADERS).send(body);
  });
}
