/**
 * One description per operation, used twice: `addRoute` makes the Fastify route from it
 * (URL, path parameter and query string schemas, a JSON body's schema), and
 * openapi/document.ts puts it in the OpenAPI document. So a route's parameters cannot
 * differ from what the document says, and a route without an operation cannot be added.
 *
 * An operation is a zod-to-openapi RouteConfig: method, path in OpenAPI form
 * (`/api/v1/jobs/{id}`), tags, summary, description, `request` (zod schemas for `params`,
 * `query`, a JSON or multipart body; header parameters are documented only, never
 * validated, since Fastify would replace the request's headers with the parsed object) and
 * `responses`.
 */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler, preValidationAsyncHookHandler } from 'fastify';
import type { z } from 'zod';

export type Operation = RouteConfig;

/** The parsed type of a request part, or `unknown` where the operation has no schema for it. */
type Parsed<S> = S extends z.ZodType ? z.output<S> : unknown;
type JsonBody<O extends Operation> = O['request'] extends { body: { content: { 'application/json': { schema: infer S } } } }
  ? Parsed<S>
  : unknown;

/** The Fastify route types an operation's schemas give its handler. */
export interface RouteTypes<O extends Operation> {
  Params: Parsed<NonNullable<O['request']>['params']>;
  Querystring: Parsed<NonNullable<O['request']>['query']>;
  Body: JsonBody<O>;
}

/** Keeps the operation's literal types, so `addRoute` can type its handler. */
export function defineOperation<const O extends Operation>(operation: O): O {
  return operation;
}

export interface RouteHooks {
  preValidation?: preValidationAsyncHookHandler;
  preHandler?: preHandlerAsyncHookHandler;
}

/** `/api/v1/jobs/{id}` as Fastify writes it: `/api/v1/jobs/:id`. */
export function fastifyPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

/** Adds the route `operation` describes, validating what it declares. */
export function addRoute<const O extends Operation>(
  app: FastifyInstance,
  operation: O,
  hooks: RouteHooks,
  handler: (request: FastifyRequest<RouteTypes<O>>, reply: FastifyReply) => unknown,
): void {
  const request = operation.request;
  const json = request?.body?.content['application/json'];
  const jsonSchema = json !== undefined && 'schema' in json ? json.schema : undefined;
  app.route<RouteTypes<O>>({
    method: operation.method.toUpperCase(),
    url: fastifyPath(operation.path),
    schema: {
      ...(request?.params !== undefined && { params: request.params }),
      ...(request?.query !== undefined && { querystring: request.query }),
      ...(isZodSchema(jsonSchema) && { body: jsonSchema }),
    },
    ...hooks,
    handler: handler,
  });
}

function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}
