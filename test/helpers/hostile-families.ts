/**
 * Issue 9's adversarial families as POSTable cases at modest sizes (hostile-inputs.ts makes
 * the inputs): what the scale-out test and scripts/hostile-table.ts send to a deployment.
 * The cases are sized for HOSTILE_ENV: relocation bounds lifted (a quarter million
 * relocations is work, not a 422), sections bounded at 16,384 (so one case is over it), and
 * 64 MiB codec threads in the API (so one case blows a thread's heap).
 */
import { gzipSync } from 'node:zlib';
import { parseElf } from '../../src/btf/index.js';
import { buildElf } from './elf-builder.js';
import {
  btfWithSharedNames,
  deepTypedefChains,
  elfWithSharedSectionNames,
  longMemberLists,
  manyExtSections,
  objectOnManyTypes,
  withRepeatedRelocations,
} from './hostile-inputs.js';

export interface HostileCase {
  family: string;
  /** The bytes POSTed as the object (gzip-compressed for the gzip bomb). */
  make(real: Uint8Array): Uint8Array;
  /** Bytes before compression, for the gzip bomb. */
  inflated?: number;
  /** The answer expected; otherwise any of 200, 413, 422. */
  status?: number;
  /** The bound the answer must name. */
  limit?: string;
  /** Seconds of work: /healthz must be answered before it. */
  heavy?: boolean;
  /** Blows a 64 MiB codec thread heap: refused afterwards, answered at once the second time. */
  heapBlow?: boolean;
}

/** A real object whose .BTF is replaced by `btf` (its .BTF.ext kept): hostile types inside a BPF object. */
export function withBtf(real: Uint8Array, btf: Uint8Array): Uint8Array {
  const ext = parseElf(real).sections.find((s) => s.name === '.BTF.ext')!;
  return buildElf({
    sections: [
      { name: '.BTF', data: btf },
      { name: '.BTF.ext', data: real.slice(ext.offset, ext.offset + ext.size) },
    ],
  });
}

const BOMB = 65 * 1024 * 1024;

export const HOSTILE_CASES: HostileCase[] = [
  { family: 'shared section names', make: () => elfWithSharedSectionNames(1000, 200_000, false) },
  { family: 'sections over the bound', make: () => elfWithSharedSectionNames(20_000, 32, true), status: 422, limit: 'maxSections' },
  { family: 'shared type names', make: (real) => withBtf(real, btfWithSharedNames(20_000, 1_000_000, false)) },
  { family: 'many types', make: () => objectOnManyTypes(10_000) },
  { family: 'many relocations', make: (real) => withRepeatedRelocations(real, 100) },
  { family: 'many relocations (250k)', make: (real) => withRepeatedRelocations(real, 1700), heavy: true },
  { family: 'long member lists', make: () => longMemberLists(5000).object },
  { family: 'deep type chains', make: () => deepTypedefChains(2000).object },
  { family: 'many .BTF.ext sections', make: () => manyExtSections(10_000) },
  { family: 'gzip bomb', make: () => gzipSync(new Uint8Array(BOMB)), inflated: BOMB, status: 413 },
  {
    family: 'relocations over a thread heap',
    make: (real) => withRepeatedRelocations(real, 10_000),
    status: 422,
    limit: 'codecThreadHeapMb',
    heavy: true,
    heapBlow: true,
  },
];

/** Settings of every process the cases are sized for (see the module comment). */
export const HOSTILE_ENV = {
  BTFHUB_MAX_RELOCATIONS: '100000000',
  BTFHUB_MAX_EXT_BLOCKS: '100000000',
  BTFHUB_MAX_SECTIONS: '16384',
  BTFHUB_REQUEST_WAIT_MS: '120000',
};
/** Settings of the API process: its codec threads small enough for the heap-blow case. */
export const HOSTILE_API_ENV = { BTFHUB_CODEC_THREAD_HEAP_MB: '64' };
