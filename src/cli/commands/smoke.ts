/**
 * `btfhub smoke --server URL`: is a deployed service working end to end? One line per check:
 *
 *   readyz     GET /readyz answers 200: catalog, queue and store each answer
 *   kernels    GET /api/v1/kernels lists at least one kernel; the first is the one trimmed
 *   btf        POST /api/v1/btf trims an object for it (a job followed when it answers 202);
 *              the answer decodes as BTF and every relocation of the object resolves in it
 *   customize  POST /api/v1/customize (the original BTFHub Online route) does the same; its
 *              .tar.xz holds the same BTF as the btf check got
 *
 * The object is --object OBJ or a tiny built-in CO-RE object (../smoke-object.ts). Every
 * request shares one deadline (--timeout). Exit status: 0 when every check passes, 1 when
 * one fails, 2 for a usage error or a service that cannot be reached at all.
 */
import type { BtfhubClientOptions } from '../../client/client.js';
import type { KernelInfoBody, TrimmedBtf } from '../../client/types.js';
import type { Command } from '../command.js';
import { ExitCode, isUserFacingError, UsageError } from '../errors.js';

/** What the command reads besides its arguments; tests pass their own. */
export interface SmokeCommandDeps {
  client?: Omit<BtfhubClientOptions, 'baseUrl'>;
}

export const DEFAULT_SMOKE_TIMEOUT_S = 60;

/** Attempts per request: enough to ride out one dropped connection, few enough to fail fast. */
const SMOKE_ATTEMPTS = 3;

const CHECKS = ['readyz', 'kernels', 'btf', 'customize'] as const;
type CheckName = (typeof CHECKS)[number];

class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

export function createSmokeCommand(deps: SmokeCommandDeps = {}): Command {
  return {
    name: 'smoke',
    summary: 'check a running service end to end: readiness, kernels, a trim through both trim routes',
    usage: 'btfhub smoke --server URL [--timeout SECONDS] [--object OBJ]',
    description: `
Checks a running btfhub-online service the way its users use it, one line per check:
  readyz     GET /readyz: the catalog, queue and object store answer
  kernels    GET /api/v1/kernels: at least one kernel is served; the first is used below
  btf        POST /api/v1/btf: a trim of OBJ for that kernel decodes as BTF and every
             relocation of OBJ resolves in it
  customize  POST /api/v1/customize (BTFHub Online's route): its .tar.xz holds the same BTF
OBJ is --object, or a tiny built-in CO-RE object (task_struct.pid and tgid). The checks share
one deadline, --timeout. Decoding the .tar.xz needs xz on PATH.
Exit status: 0 every check passed, 1 a check failed, 2 usage, or the service cannot be reached.`,
    options: {
      server: { type: 'string', valueName: 'URL', required: true, description: 'the service, e.g. https://btfhub.staging.example' },
      timeout: {
        type: 'string',
        valueName: 'SECONDS',
        description: `bound on all the checks together (default ${DEFAULT_SMOKE_TIMEOUT_S})`,
      },
      object: { type: 'string', valueName: 'OBJ', description: 'a compiled BPF CO-RE object to trim instead of the built-in one' },
    },
    positionals: { name: 'ARG', min: 0, max: 0 },
    async run(args, io) {
      const server = args.required('server');
      const timeoutMs = parseTimeout(args.string('timeout'));
      const [{ BtfhubClient }, { BtfhubError, BtfhubNetworkError }, { Btf }, { parseBpfObject }, { resolveObjectRelocations }, smoke] =
        await Promise.all([
          import('../../client/client.js'),
          import('../../client/errors.js'),
          import('../../btf/btf.js'),
          import('../../btf/object.js'),
          import('../../btf/relocate.js'),
          import('../smoke-object.js'),
        ]);

      const objectPath = args.string('object');
      const builtIn = objectPath === undefined;
      let object: { name: string; bytes: Uint8Array };
      try {
        object =
          objectPath === undefined
            ? { name: smoke.SMOKE_OBJECT_NAME, bytes: smoke.smokeObject() }
            : { name: objectPath, bytes: await io.readFile(objectPath) };
        parseBpfObject(object.bytes, object.name);
      } catch (error) {
        if (!isUserFacingError(error)) throw error;
        io.stderr.write(`btfhub smoke: ${error.message}\n`);
        return ExitCode.Usage;
      }
      const parsed = parseBpfObject(object.bytes, object.name);
      const relocations = parsed.ext.coreRelos.reduce((n, block) => n + block.records.length, 0);

      let client: InstanceType<typeof BtfhubClient>;
      try {
        client = new BtfhubClient({ maxAttempts: SMOKE_ATTEMPTS, ...deps.client, baseUrl: server });
      } catch (error) {
        throw new UsageError(`--server ${server}: not a service URL (${error instanceof Error ? error.message : String(error)})`);
      }
      const signal = AbortSignal.timeout(timeoutMs);
      const width = Math.max(...CHECKS.map((c) => c.length));
      let passed = 0;
      let failed = 0;
      let unreachable = false;

      /** Runs one check; its line says ok (with what it found) or FAIL (with why). */
      const check = async <T>(name: CheckName, step: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> => {
        const started = performance.now();
        try {
          const { value, detail } = await step();
          passed++;
          io.stdout.write(`ok    ${name.padEnd(width)}  ${detail} (${Math.round(performance.now() - started)} ms)\n`);
          return value;
        } catch (error) {
          const timedOut = signal.aborted;
          // What the service or its answer did wrong fails the check; anything else is a bug of ours.
          if (!(timedOut || error instanceof CheckFailed || error instanceof BtfhubError || isUserFacingError(error))) throw error;
          failed++;
          if (error instanceof BtfhubNetworkError) unreachable = true;
          const why = timedOut
            ? `no answer within --timeout ${timeoutMs / 1000} s`
            : error instanceof Error
              ? error.message
              : String(error);
          io.stdout.write(`FAIL  ${name.padEnd(width)}  ${why}\n`);
          return undefined;
        }
      };
      const skip = (name: CheckName, why: string) => {
        failed++;
        io.stdout.write(`skip  ${name.padEnd(width)}  ${why}\n`);
      };

      await check('readyz', async () => {
        const body = await client.ready({ signal });
        const checks = Object.entries(body.checks)
          .map(([name, c]) => `${name} ${c.ok ? 'ok' : 'failing'}`)
          .join(', ');
        return { value: body, detail: `GET /readyz: ${checks || 'ready'}` };
      });
      if (unreachable) {
        io.stderr.write(`btfhub smoke: ${server} cannot be reached; nothing else checked\n`);
        return ExitCode.Usage;
      }

      const kernel = await check('kernels', async () => {
        const list = await client.listKernels({ limit: 1 }, { signal });
        const first = list.items[0];
        if (first === undefined)
          throw new CheckFailed(
            'GET /api/v1/kernels: the service serves no kernel (load some: btfhub import, POST /api/v1/kernels, or a sync)',
          );
        return { value: first, detail: `GET /api/v1/kernels: ${list.total} kernels; using ${label(first)}` };
      });

      let trimmed: TrimmedBtf | undefined;
      if (kernel === undefined) skip('btf', 'no kernel to trim for');
      else {
        trimmed = await check('btf', async () => {
          const result = await client.trim([object], kernel, { signal, timeoutMs });
          const { types, resolved } = decodeAndResolve(result.btf, 'POST /api/v1/btf');
          const how = result.jobId !== undefined ? `job ${result.jobId}` : result.cache === 'hit' ? 'cache hit' : 'answered at once';
          return {
            value: result,
            detail: `POST /api/v1/btf: ${result.btf.length} bytes of BTF, ${types} types, ${resolved} of ${relocations} relocations resolve (${how})`,
          };
        });
      }

      if (kernel === undefined) skip('customize', 'no kernel to trim for');
      else {
        await check('customize', async () => {
          const { readKernelBtfFile } = await import('../../archive/kernel-btf.js');
          const answer = await client.customize([object], kernel, { signal, timeoutMs });
          let btf: Uint8Array;
          try {
            btf = await readKernelBtfFile(answer.archive, `${kernel.kernel_version}.btf.tar.xz`);
          } catch (error) {
            throw new CheckFailed(
              `POST /api/v1/customize: the answer is not a .tar.xz holding BTF: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
          const { types } = decodeAndResolve(btf, 'POST /api/v1/customize');
          const same =
            trimmed === undefined
              ? ''
              : Buffer.compare(Buffer.from(btf), Buffer.from(trimmed.btf)) === 0
                ? ', the same BTF as POST /api/v1/btf'
                : '';
          if (trimmed !== undefined && same === '')
            throw new CheckFailed(
              'POST /api/v1/customize: its BTF differs from the one POST /api/v1/btf answered for the same object and kernel',
            );
          return {
            value: btf,
            detail: `POST /api/v1/customize: ${answer.archive.length}-byte .tar.xz, ${btf.length} bytes of BTF, ${types} types${same}`,
          };
        });
      }

      io.stdout.write(`smoke: ${passed} of ${CHECKS.length} checks passed against ${client.baseUrl.toString()}\n`);
      if (failed > 0 && signal.aborted) io.stderr.write(`btfhub smoke: stopped by --timeout ${timeoutMs / 1000} s\n`);
      return failed === 0 ? ExitCode.Ok : ExitCode.Failure;

      /** Decodes `bytes` as BTF and resolves the object's relocations in it. */
      function decodeAndResolve(bytes: Uint8Array, route: string): { types: number; resolved: number } {
        let btf: ReturnType<typeof Btf.parse>;
        try {
          btf = Btf.parse(bytes);
        } catch (error) {
          throw new CheckFailed(`${route}: the answer does not decode as BTF: ${error instanceof Error ? error.message : String(error)}`);
        }
        const unresolved: string[] = [];
        try {
          resolveObjectRelocations(btf, parsed, {
            onResolved: (r) => {
              if (r.targetSpec === null) unresolved.push(`relocation #${r.index} of ${r.section}`);
            },
          });
        } catch (error) {
          throw new CheckFailed(
            `${route}: the object's relocations fail on the answer: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        // The built-in object resolves on every kernel; an object of the user's may have
        // relocations that resolve nowhere (guarded by bpf_core_field_exists): counted, not failed.
        if (builtIn && unresolved.length > 0) {
          throw new CheckFailed(
            `${route}: ${unresolved.length} relocations do not resolve in the answer (${unresolved.slice(0, 3).join(', ')})`,
          );
        }
        return { types: btf.typeCount - 1, resolved: relocations - unresolved.length };
      }
    },
  };
}

export const smokeCommand: Command = createSmokeCommand();

function label(k: KernelInfoBody): string {
  return `${k.distro}/${k.distro_version}/${k.arch}/${k.kernel_version}`;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SMOKE_TIMEOUT_S * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got '${value}'`);
  return Math.round(seconds * 1000);
}
