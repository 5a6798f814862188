/**
 * `npm run openapi`: writes openapi.yaml, the OpenAPI document generated from the route table
 * and the zod schemas the routes validate with (src/api/openapi/). test/api/openapi.test.ts
 * fails while the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openapiYaml } from '../src/api/openapi/document.js';

const target = process.argv[2] ?? fileURLToPath(new URL('../openapi.yaml', import.meta.url));
writeFileSync(target, openapiYaml());
process.stdout.write(`wrote ${target}\n`);
