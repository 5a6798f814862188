/**
 * zod for the API's schemas, extended with `.openapi()` (@asteasolutions/zod-to-openapi) so
 * that one schema validates requests and describes them in the OpenAPI document. zod 4 gives
 * each schema its methods when the schema is made, so the extension must come before any of
 * the API's schemas are: they all import `z` from here.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export { z };
