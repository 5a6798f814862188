/**
 * The --archive option (and --cache) that compat and bundle share: a BTFHub-layout directory
 * turned into the kernels to visit.
 */
import { archiveKernels, type ArchiveKernels } from '../coverage/kernel-source.js';
import { FsObjectStore } from '../storage/fs-store.js';
import type { OptionSpec, ParsedArgs } from './command.js';
import { CliError } from './errors.js';
import { FILTER_OPTIONS, kernelFilterFromArgs } from './kernel-filter.js';

/** The archive and kernel-filter options compat and bundle share. */
export const ARCHIVE_OPTIONS: Record<string, OptionSpec> = {
  archive: {
    type: 'string',
    valueName: 'DIR',
    required: true,
    description: 'a directory in BTFHub archive layout (a btfhub-archive checkout)',
  },
  ...FILTER_OPTIONS,
  cache: {
    type: 'string',
    valueName: 'DIR',
    description: 'keep each unpacked .btf.tar.xz here (derived/<sha256>/<kernel>.btf) and reuse it next time: no xz on later runs',
  },
};

/** The kernels of --archive matching the filter; an error when there are none. */
export async function archiveKernelsFromArgs(args: ParsedArgs): Promise<ArchiveKernels & { description: string }> {
  const filter = kernelFilterFromArgs(args);
  const store = new FsObjectStore(args.required('archive'));
  await store.check().catch((error: unknown) => {
    throw new CliError(`--archive ${args.required('archive')}: ${error instanceof Error ? error.message : String(error)}`);
  });
  const cache = args.string('cache');
  const found = await archiveKernels(store, filter, cache === undefined ? {} : { rawCache: new FsObjectStore(cache) });
  if (found.kernels.length === 0) throw new CliError(`no kernel in ${store.description} matches the filter`);
  return { ...found, description: store.description };
}
