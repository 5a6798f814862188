/**
 * The environment the Docker image gives btfhub, read from the Dockerfile itself, so that
 * what runs the compiled service outside the image (`npm run soak -- --dist`, `npm start`'s
 * check in test/deploy) runs it as deployed.
 *
 * Two kinds of variable are set there: btfhub's own configuration (BTFHUB_*, in
 * CONFIG_ENV_VARS) and process settings that must be in place before Node starts, which no
 * configuration read at start-up could apply (docs/CONFIGURATION.md, "Process memory"):
 * glibc malloc's thresholds and Node's own options; and Node options its ENTRYPOINT gives
 * on the command line (`imageNodeArgs`), where Node takes flags it refuses in NODE_OPTIONS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Variables the image sets for the runtime (Node, glibc), not for btfhub. */
export const PROCESS_SETTINGS = ['NODE_OPTIONS', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES'] as const;

const DOCKERFILE = join(fileURLToPath(new URL('..', import.meta.url)), 'Dockerfile');

/** `ENV A=1 B=2` instructions (with continuation lines) of a Dockerfile's final stage. */
export function dockerfileEnv(dockerfile: string = readFileSync(DOCKERFILE, 'utf8')): Record<string, string> {
  const joined = dockerfile.replace(/\\\n/g, ' ');
  const finalStage = joined.slice(joined.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n')) {
    const match = /^ENV\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    for (const pair of match[1]!.trim().split(/\s+/)) {
      const [name, ...value] = pair.split('=');
      env[name!] = value.join('=');
    }
  }
  return env;
}

/**
 * The options the image's ENTRYPOINT gives `node` before the launcher (`["node", ...options,
 * script, ...]`): V8 flags Node accepts on its command line only, not in NODE_OPTIONS.
 */
export function imageNodeArgs(dockerfile: string = readFileSync(DOCKERFILE, 'utf8')): string[] {
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const match = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(finalStage);
  if (!match) return [];
  const argv = JSON.parse(match[1]!) as string[];
  if (argv[0] !== 'node') return [];
  const script = argv.findIndex((arg, i) => i > 0 && !arg.startsWith('-'));
  return argv.slice(1, script < 0 ? argv.length : script);
}

/** The image's process settings (PROCESS_SETTINGS), as its Dockerfile gives them. */
export function imageProcessSettings(dockerfile?: string): Record<string, string> {
  const env = dockerfileEnv(dockerfile);
  return Object.fromEntries(PROCESS_SETTINGS.filter((name) => env[name] !== undefined).map((name) => [name, env[name]!]));
}
