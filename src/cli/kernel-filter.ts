/**
 * The kernel-filter options (--distro, --distro-version, --arch, --kernel) that compat and
 * bundle take, normalized like every other identity; and stderr as a progress stream.
 */
import type { KernelFilter } from '../catalog/catalog.js';
import type { ProgressStream } from '../coverage/progress.js';
import { IdentityError, normalizeArch, normalizeDistro, normalizeDistroVersion, validateIdentityValue } from '../identity/index.js';
import type { CommandIo, OptionSpec, ParsedArgs } from './command.js';
import { UsageError } from './errors.js';

/** The kernel-filter options. */
export const FILTER_OPTIONS: Record<string, OptionSpec> = {
  distro: { type: 'string', valueName: 'D', description: 'only this distribution (ubuntu, debian, centos, amzn...)' },
  'distro-version': { type: 'string', valueName: 'V', description: 'only this release (20.04, focal, 11...); needs --distro' },
  arch: { type: 'string', valueName: 'A', description: 'only this architecture (x86_64, arm64)' },
  kernel: { type: 'string', valueName: 'PREFIX', description: 'only kernels whose release starts with PREFIX' },
};

/** The filter the options give, normalized like every other identity (aliases accepted). */
export function kernelFilterFromArgs(args: ParsedArgs): KernelFilter {
  try {
    const filter: KernelFilter = {};
    const distro = args.string('distro');
    const version = args.string('distro-version');
    const arch = args.string('arch');
    const kernel = args.string('kernel');
    if (distro !== undefined) filter.distro = normalizeDistro(distro);
    if (version !== undefined) {
      if (filter.distro === undefined) throw new UsageError('--distro-version needs --distro');
      filter.distroVersion = normalizeDistroVersion(filter.distro as Parameters<typeof normalizeDistroVersion>[0], version);
    }
    if (arch !== undefined) filter.arch = normalizeArch(arch);
    if (kernel !== undefined) filter.kernelPrefix = validateIdentityValue('kernel_version', kernel);
    return filter;
  } catch (error) {
    if (error instanceof IdentityError) throw new UsageError(error.message);
    throw error;
  }
}

/** stderr as a progress stream (Node's process.stderr says whether it is a terminal). */
export function progressStream(io: CommandIo): ProgressStream {
  const stderr = io.stderr as CommandIo['stderr'] & { isTTY?: boolean; columns?: number };
  return { write: (s) => stderr.write(s), isTTY: stderr.isTTY === true, ...(stderr.columns !== undefined && { columns: stderr.columns }) };
}
