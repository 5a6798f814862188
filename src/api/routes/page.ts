/**
 * The coverage page: a small static HTML + JS page over the JSON API (no build step).
 *
 *   GET /                 index.html: the coverage table, a kernel search, a compatibility check
 *   GET /assets/{file}    its script and stylesheet (app.js, app.css)
 *
 * The files live in src/api/public/ and are read once, at start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { PAGE_ASSETS, PageAssetParams } from '../coverage-schemas.js';

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
 * The page's directory: `../public` beside this module (src/api/public under tap; the
 * build copies it to dist/src/api/public), else src/api/public of the package.
 */
export function publicDir(from = dirname(fileURLToPath(import.meta.url))): string {
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
  throw new Error(`the coverage page (src/api/public/index.html) was not found at or above ${from}`);
}

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const dir = publicDir();
  const files = new Map<string, Buffer>(['index.html', ...PAGE_ASSETS].map((name) => [name, readFileSync(join(dir, name))]));
  const send = (name: string) => ({ body: files.get(name)!, type: MEDIA_TYPES[name]! });

  app.get('/', async (_request, reply) => {
    const { body, type } = send('index.html');
    return reply.type(type).headers(PAGE_HEADERS).send(body);
  });

  app.get<{ Params: { file: (typeof PAGE_ASSETS)[number] } }>('/assets/:file', { schema: { params: PageAssetParams } }, async (request, reply) => {
    const { body, type } = send(request.params.file);
    return reply.type(type).headers(PAGE_HEADERS).send(body);
  });
}
