/**
 * Fixture objects given by hash (`StoredObject`), as a trim job gives them to a codec executor,
 * with the reads of their bytes listed: what the executor tests check is read, and when.
 */
import { createHash } from 'node:crypto';
import type { StoredObject } from '../../src/executor/codec-executor.js';
import { KEPT_PARSES } from '../../src/executor/inline-executor.js';
import type { FixtureSet } from './fixtures.js';

export function storedObjects(fx: FixtureSet): {
  /** sha256 (hex) of a fixture object. */
  sha: (name: string) => string;
  /** The names of the objects read, in order. */
  loads: string[];
  /** The fixture `name` by hash; `load` replaces the read of its bytes. */
  stored: (name: string, load?: () => Promise<Uint8Array>) => StoredObject;
} {
  const sha = (name: string) => createHash('sha256').update(fx.objects.get(name)!.bytes).digest('hex');
  const loads: string[] = [];
  const stored = (name: string, load: () => Promise<Uint8Array> = async () => fx.objects.get(name)!.bytes) => ({
    name: `${name}.bpf.o`,
    sha256: sha(name),
    load: () => (loads.push(name), load()),
  });
  return { sha, loads, stored };
}

/**
 * Fixture objects, none of them `except`, as many as an executor keeps parses of: checking them
 * all pushes out every parse kept before.
 */
export function parsesToPushOut(except: readonly string[]): string[] {
  const names = [
    'enum_relos',
    'type_relos',
    'bitfields',
    'field_exists',
    'field_offset',
    'enum64',
    'flavors',
    'funcptr',
    'multi_cands',
    'typedef_root',
    'anon_unions',
    'missing_field',
  ].filter((name) => !except.includes(name));
  if (names.length < KEPT_PARSES) throw new Error(`parsesToPushOut: ${names.length} fixture objects, ${KEPT_PARSES} needed`);
  return names.slice(0, KEPT_PARSES);
}
