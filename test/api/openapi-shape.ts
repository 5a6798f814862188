/**
 * Reading the generated OpenAPI document in tests: `$ref`s followed, and a schema reduced to
 * its constraints, so the document's JSON schemas (zod-to-openapi's writing) compare with
 * zod's own (`z.toJSONSchema`): documentation-only keys dropped, and the spellings that say
 * the same thing made one (`const` and a one-value `enum`; `type: [a, b]` and `anyOf` of
 * plain types; a reference with a description beside it as `allOf: [ref, {description}]`;
 * zod's implicit safe-integer bounds, and the pattern it adds to a date-time's format).
 */
type Json = Record<string, unknown>;

/** Follows local `$ref`s (`#/...`) everywhere in `value`. */
export function resolveRefs(doc: unknown, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveRefs(doc, v));
  if (typeof value !== 'object' || value === null) return value;
  const object = value as Json;
  if (typeof object.$ref === 'string') {
    const target = object.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
    if (target === undefined) throw new Error(`dangling $ref ${object.$ref}`);
    const { $ref: _ref, ...beside } = object;
    return resolveRefs(doc, { ...(target as Json), ...beside });
  }
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolveRefs(doc, v)]));
}

const DOC_ONLY_KEYS = new Set(['description', 'examples', 'example', 'format', '$schema', 'title', 'contentMediaType', 'id']);

function docOnly(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).every((k) => DOC_ONLY_KEYS.has(k));
}

/** The constraints of a JSON schema (see the module comment). */
export function constraints(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(constraints);
  if (typeof value !== 'object' || value === null) return value;
  let object = value as Json;
  // A reference with a description beside it: allOf: [ref, { description }].
  if (Array.isArray(object.allOf)) {
    const kept = object.allOf.filter((part) => !docOnly(part));
    if (kept.length === 1) {
      const { allOf: _allOf, ...rest } = object;
      object = { ...(kept[0] as Json), ...rest };
    }
  }
  // anyOf of typed parts whose other keys do not clash (a string's maxLength beside null): a type array.
  if (
    Array.isArray(object.anyOf) &&
    object.anyOf.every((part) => typeof part === 'object' && part !== null && typeof (part as Json).type === 'string')
  ) {
    const parts = object.anyOf as Json[];
    const extra = parts.flatMap((part) => Object.keys(part).filter((k) => k !== 'type'));
    if (new Set(extra).size === extra.length) {
      const { anyOf: _anyOf, ...rest } = object;
      object = { ...rest, ...(Object.assign({}, ...parts) as Json), type: parts.map((part) => part.type) };
    }
  }
  // zod spells out date-time as a pattern beside the format; the format alone says it.
  if (object.format === 'date-time') {
    const { pattern: _pattern, ...rest } = object;
    object = rest;
  }
  const out: Json = {};
  for (const [key, v] of Object.entries(object)) {
    if (DOC_ONLY_KEYS.has(key)) continue;
    if (key === 'minimum' && v === Number.MIN_SAFE_INTEGER) continue;
    if (key === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
    if (key === 'const') {
      out.enum = [v];
      continue;
    }
    if (key === 'type' && Array.isArray(v)) {
      // anyOf [string (with its constraints), null] became type [string, null] above or in the writer.
      out[key] = [...(v as unknown[])].sort();
      continue;
    }
    if (key === 'required' && Array.isArray(v)) {
      out[key] = [...(v as unknown[])].sort();
      continue;
    }
    out[key] = constraints(v);
  }
  return out;
}
