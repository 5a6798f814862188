/**
 * ioredis for the API's own Redis connections (shared rate-limit counters, the refused set),
 * required on first use instead of imported with the module: only a scale-out deployment
 * makes them, and the embedded default should not carry the client's RSS. ioredis is
 * CommonJS, so require is synchronous and the classes that connect keep plain constructors.
 */
import { createRequire } from 'node:module';
import type * as Ioredis from 'ioredis';

export type Redis = Ioredis.Redis;

let loaded: typeof Ioredis | undefined;

export function ioredis(): typeof Ioredis {
  loaded ??= createRequire(import.meta.url)('ioredis') as typeof Ioredis;
  return loaded;
}
