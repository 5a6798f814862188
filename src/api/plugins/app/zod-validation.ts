/**
 * Route schemas are zod schemas (src/api/schemas.ts). This validator compiler runs them on
 * path parameters and query strings, replaces the input with the parsed value (defaults
 * applied, numbers coerced), and turns the first problem into a 400 naming the field.
 */
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import fp from 'fastify-plugin';
import type { z } from 'zod';
import { ApiError } from '../../errors.js';

/** A zod parse failure as the API's error: `invalid_field` or `missing_field`, with the field. */
function zodIssueToApiError(error: z.ZodError, input: unknown): ApiError {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  const topField = issue?.path[0];
  const given =
    typeof input === 'object' && input !== null && topField !== undefined ? (input as Record<PropertyKey, unknown>)[topField] : undefined;
  if (issue?.code === 'invalid_type' && given === undefined) {
    return new ApiError(400, 'missing_field', `${field} is required`, field);
  }
  const message = issue?.message ?? 'invalid input';
  return new ApiError(400, 'invalid_field', field === '' ? message : `${field}: ${message}`, field === '' ? undefined : field);
}

/** Parses `input` with `schema`, throwing the API's 400 when it does not fit. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw zodIssueToApiError(result.error, input);
  return result.data;
}

function zodValidatorCompiler(): FastifySchemaCompiler<z.ZodType> {
  return ({ schema }) =>
    (data: unknown) => {
      const result = schema.safeParse(data ?? {});
      return result.success ? { value: result.data } : { error: zodIssueToApiError(result.error, data) };
    };
}

export const zodValidation = fp(
  async (app: FastifyInstance) => {
    app.setValidatorCompiler(zodValidatorCompiler());
  },
  { name: 'btfhub-zod-validation' },
);
