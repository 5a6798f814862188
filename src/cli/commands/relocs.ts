import type { ResolvedRelocation } from '../../btf/core.js';
import { describeOutcome, resolveObjectRelocations, type RelocationOutcome } from '../../btf/relocate.js';
import { CodecError } from '../../btf/errors.js';
import type { Command } from '../command.js';
import { ExitCode } from '../errors.js';
import { loadBpfObjects, loadBtfFile } from '../inputs.js';

export const relocsCommand: Command = {
  name: 'relocs',
  summary: 'resolve the CO-RE relocations of objects against kernel BTF, as JSON lines',
  usage: 'btfhub relocs --btf FULL OBJ...',
  description: `
Resolves every CO-RE relocation of OBJ... against the kernel BTF FULL the way libbpf 1.1
does, and prints one JSON object per relocation, in file order:
  {"object", "section", "index", "insn_off", "kind", "local_type_id", "local_type",
   "access", "value", "target_type_id"?, "reason"?}
"value" is what libbpf would patch in (a decimal string when it does not fit a JSON
number), or null with a "reason" when the instruction would be poisoned. A relocation
libbpf rejects is reported on stderr, ends that object, and makes the exit status 1.`,
  options: {
    btf: {
      type: 'string',
      valueName: 'FULL',
      required: true,
      description: 'kernel BTF: raw BTF, an ELF with .BTF, or a BTFHub .btf.tar.xz',
    },
  },
  positionals: { name: 'OBJ', min: 1 },
  async run(args, io) {
    const target = await loadBtfFile(args.required('btf'), io);
    const objects = await loadBpfObjects(args.positionals, io);
    let status: number = ExitCode.Ok;
    for (const object of objects) {
      try {
        resolveObjectRelocations(target, object, { onResolved: (r) => io.stdout.write(`${relocationJson(r)}\n`) });
      } catch (err) {
        // Like libbpf, an object stops at its first rejected relocation; the others still run.
        if (!(err instanceof CodecError)) throw err;
        io.stderr.write(`btfhub relocs: ${err.message}\n`);
        status = ExitCode.Failure;
      }
    }
    return status;
  },
};

/** One relocation as a JSON line: snake_case keys, bigints as decimal strings. */
export function relocationJson(r: ResolvedRelocation): string {
  const o: RelocationOutcome = describeOutcome(r);
  return JSON.stringify({
    object: o.object,
    section: o.section,
    index: r.index,
    insn_off: o.insnOff,
    kind: o.kindName,
    local_type_id: o.localTypeId,
    local_type: o.localTypeName,
    access: o.access,
    value: typeof o.value === 'bigint' ? o.value.toString() : o.value,
    ...(o.targetTypeId !== undefined ? { target_type_id: o.targetTypeId } : {}),
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
  });
}
