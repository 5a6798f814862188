/**
 * The parts of the OpenAPI document that are not schemas: the document's info and tags,
 * the admin security scheme, and the headers and answers several operations share
 * (`components.headers`, `components.responses`), with the helpers operations use to refer
 * to them. The schemas themselves are the zod schemas the routes validate with.
 */
import type { HeaderObject, ResponseObject, SchemaObject } from 'openapi3-ts/oas31';

/** `info` of the document. */
export const INFO = {
  title: 'BTFHub Online',
  version: '1.0.0',
  license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  description: `Trimmed kernel BTF for eBPF CO-RE programs. Upload compiled BPF objects and name a
kernel; get back that kernel's BTF reduced to the types the objects' CO-RE relocations
need (the equivalent of \`bpftool gen min_core_btf\`), to ship with the program for
kernels without \`/sys/kernel/btf/vmlinux\`.

Identity fields (\`distro\`, \`distro_version\`, \`arch\`, \`kernel_version\`) are normalized
the way the BTFHub archive names things: \`amd64\` is \`x86_64\`, \`aarch64\` is \`arm64\`,
\`focal\` is \`20.04\`, \`bullseye\` is \`11\`, \`2018.03\` (Amazon Linux AMI) is \`1\`.

Every error is JSON \`{error, message, field?}\` (\`Error\`). \`field\` names the request
field at fault. A 503 carries \`Retry-After\`.

The routes \`/api/v1/list\`, \`/api/v1/download\`, \`/api/v1/customize\`,
\`/monitoring/health\` and \`/monitoring/metrics\` keep the contract of the original
BTFHub Online, so its clients work unchanged. Swagger UI is served at \`/docs\`.
`,
};

/**
 * One server, relative: the origin the document (and Swagger UI) was loaded from, so "Try it
 * out" calls the instance being looked at, whatever its host and port.
 */
export const SERVERS = [{ url: '/', description: 'This service: the origin this document was loaded from.' }];

export const TAGS = [
  { name: 'trim', description: 'Trimmed BTF for uploaded BPF objects.' },
  { name: 'kernels', description: 'The kernels the service has BTF for.' },
  { name: 'coverage', description: 'What the service covers, compatibility reports, bundles, archive sync, and the coverage page at `/`.' },
  { name: 'compatibility', description: 'The original BTFHub Online API.' },
  { name: 'operations', description: 'Health, readiness and metrics.' },
];

/** components.securitySchemes. */
export const SECURITY_SCHEMES = {
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'BTFHUB_ADMIN_TOKEN. Without one configured, admin routes answer 403 (`admin_disabled`).',
  },
} as const;

/** `security` of the admin operations. */
export const ADMIN_ONLY = [{ adminToken: [] }];

/** A reference to a schema of components.schemas (for the shared answers below, which are not zod). */
function schemaRef(name: string): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

/** The JSON error body every error answer has. */
const ERROR_CONTENT = { 'application/json': { schema: schemaRef('Error') } };

/** components.headers: the headers several answers carry. */
export const HEADERS = {
  ETag: describedHeader('`"<sha256 of the trimmed BTF>"`.'),
  'X-BTFHub-Kernel': describedHeader('The kernel the BTF was trimmed from, normalized, as `distro/distro_version/arch/kernel_version`.'),
  'X-BTFHub-Objects-Hash': describedHeader('The objects hash (see `POST /api/v1/btf`).'),
  'X-BTFHub-Cache': {
    description: '`hit` when answered from an earlier trim, `miss` when a job built it.',
    schema: {
      type: 'string',
      enum: ['hit', 'miss'],
    },
  },
  'Server-Timing': describedHeader(
    "Where the request's time went, per stage, in milliseconds (`multipart;dur=0.41, hash;dur=0.12, lookup;dur=0.05, total;dur=0.71`); docs/API.md lists the stages.",
  ),
  Location: describedHeader('`/api/v1/jobs/{id}`.'),
  'Retry-After': {
    description: 'Seconds to wait before retrying.',
    schema: {
      type: 'integer',
    },
  },
  VaryAccept: describedHeader('`Accept`.'),
  'X-BTFHub-Job': describedHeader('The job that made the result (`compat-...`, `bundle-...`).'),
  'X-BTFHub-Kernels': {
    description: 'Kernels in the bundle.',
    schema: {
      type: 'integer',
    },
  },
  'X-BTFHub-Distinct': {
    description: 'Distinct trimmed BTFs among them (each stored once).',
    schema: {
      type: 'integer',
    },
  },
  'X-BTFHub-Failed': {
    description:
      "Matching kernels left out (their BTF does not load, or libbpf would refuse the objects there); the job's result lists them.",
    schema: {
      type: 'integer',
    },
  },
} satisfies Record<string, HeaderObject>;

/** components.responses: the answers several operations share. */
export const RESPONSES = {
  Accepted: {
    description: 'The trim job is still running; follow `Location`.',
    headers: {
      Location: { $ref: '#/components/headers/Location' },
      'X-BTFHub-Kernel': { $ref: '#/components/headers/X-BTFHub-Kernel' },
      'X-BTFHub-Objects-Hash': { $ref: '#/components/headers/X-BTFHub-Objects-Hash' },
    },
    content: {
      'application/json': {
        schema: schemaRef('JobAccepted'),
      },
    },
  },
  BadRequest: {
    description: `A field is missing or invalid (\`missing_field\`, \`invalid_field\`, with \`field\`), or
the body is malformed (\`bad_request\`).
`,
    content: ERROR_CONTENT,
  },
  KernelNotFound: {
    description: 'The kernel is not in the catalog (`kernel_not_found`).',
    content: ERROR_CONTENT,
  },
  PayloadTooLarge: {
    description: `A file (after decompression, for a gzip upload), a field, the number of parts or the
whole request is over its limit (\`payload_too_large\`).
`,
    content: ERROR_CONTENT,
  },
  UnsupportedMediaType: {
    description: 'The body is not multipart/form-data (`unsupported_media_type`).',
    content: ERROR_CONTENT,
  },
  InvalidObject: {
    description: `An upload is not a BPF CO-RE object (not an ELF, no .BTF or .BTF.ext section):
\`invalid_object\`; or the trimmer rejected it as bpftool would (a relocation libbpf
refuses): \`trim_failed\`. \`field\` is \`object\`.
`,
    content: ERROR_CONTENT,
  },
  InternalError: {
    description: 'A server-side failure (`internal_error`, `trim_failed`).',
    content: ERROR_CONTENT,
  },
  RateLimited: {
    description: `This client sent more requests to this route than BTFHUB_RATE_LIMIT_MAX in the
window (\`rate_limited\`); retry after \`Retry-After\` seconds.
`,
    headers: {
      'Retry-After': { $ref: '#/components/headers/Retry-After' },
    },
    content: ERROR_CONTENT,
  },
  Unavailable: {
    description: `The catalog, the queue or the store is unavailable, the process holds as many upload
bytes as it may, or it is shutting down (\`unavailable\`); retry later.
`,
    headers: {
      'Retry-After': { $ref: '#/components/headers/Retry-After' },
    },
    content: ERROR_CONTENT,
  },
  Metrics: {
    description: 'Prometheus text exposition format 0.0.4.',
    content: {
      'text/plain': {
        schema: {
          type: 'string',
        },
      },
    },
  },
  JobAccepted: {
    description: 'The job is still running; follow `Location` (`GET /api/v1/jobs/{id}`, with its progress).',
    headers: {
      Location: { $ref: '#/components/headers/Location' },
    },
    content: {
      'application/json': {
        schema: schemaRef('JobAccepted'),
      },
    },
  },
  Unauthorized: {
    description: 'No admin token, or not the configured one (`unauthorized`).',
    headers: {
      'WWW-Authenticate': describedHeader('`Bearer realm="btfhub-admin"`.'),
    },
    content: ERROR_CONTENT,
  },
  AdminDisabled: {
    description: 'No BTFHUB_ADMIN_TOKEN is configured, so admin routes are disabled (`admin_disabled`).',
    content: ERROR_CONTENT,
  },
  NoMatchingKernel: {
    description: 'No registered kernel matches the filter (`kernel_not_found`).',
    content: ERROR_CONTENT,
  },
  JobResultNotFound: {
    description: 'No such job, or its result is no longer stored (`job_not_found`); POST again to make it.',
    content: ERROR_CONTENT,
  },
  PageNotInstalled: {
    description: "The build does not include the page's files (src/api/public) (`not_found`).",
    content: ERROR_CONTENT,
  },
  Bundle: {
    description: 'The bundle, `<distro>/<distro_version>/<arch>/<kernel>.btf` for each kernel.',
    headers: {
      ETag: describedHeader('`"<sha256 of the .tar.gz>"`.'),
      'Content-Disposition': describedHeader('`attachment; filename="btfhub-bundle.tar.gz"`.'),
      'X-BTFHub-Job': { $ref: '#/components/headers/X-BTFHub-Job' },
      'X-BTFHub-Kernels': { $ref: '#/components/headers/X-BTFHub-Kernels' },
      'X-BTFHub-Distinct': { $ref: '#/components/headers/X-BTFHub-Distinct' },
      'X-BTFHub-Failed': { $ref: '#/components/headers/X-BTFHub-Failed' },
    },
    content: {
      'application/gzip': {
        schema: {
          type: 'string',
          contentMediaType: 'application/gzip',
        },
      },
    },
  },
} satisfies Record<string, ResponseObject>;

/** The failures every route taking uploaded objects may answer (multipart, codec, rate limit, dependencies). */
export const UPLOAD_FAILURES = {
  '400': response('BadRequest'),
  '413': response('PayloadTooLarge'),
  '415': response('UnsupportedMediaType'),
  '422': response('InvalidObject'),
  '429': response('RateLimited'),
  '500': response('InternalError'),
  '503': response('Unavailable'),
};

/** What `GET /api/v1/{compat,bundle}/{id}` answers besides the result: still running, failed, gone. */
export const JOB_RESULT_ANSWERS = {
  '202': response('JobAccepted'),
  '400': response('BadRequest'),
  '404': response('JobResultNotFound'),
  '422': response('InvalidObject'),
  '500': response('InternalError'),
  '503': response('Unavailable'),
};

/** A reference to one of RESPONSES. */
export function response(name: keyof typeof RESPONSES): { $ref: string } {
  return { $ref: `#/components/responses/${name}` };
}

/** A reference to one of HEADERS. */
export function header(name: keyof typeof HEADERS): { $ref: string } {
  return { $ref: `#/components/headers/${name}` };
}

/** Content of a binary answer or file part in `mediaType`. */
export function binary(mediaType: string): { schema: SchemaObject } {
  return { schema: { type: 'string', contentMediaType: mediaType } };
}

/** A header an answer describes in place: its description, a string. */
export function describedHeader(description: string): HeaderObject {
  return { description, schema: { type: 'string' } };
}
