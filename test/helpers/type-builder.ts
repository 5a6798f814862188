/**
 * Builds hand-made BTF type lists with readable ids: `add` returns the id the type gets.
 * Used to craft target kernels and BPF objects for CO-RE edge cases.
 */
import { BtfKind, type BtfType, type Member } from '../../src/btf/index.js';

export class TypeList {
  readonly types: BtfType[] = [];

  add(t: BtfType): number {
    this.types.push(t);
    return this.types.length;
  }

  int(name: string, size = 4, signed = true): number {
    return this.add({ kind: BtfKind.Int, name, size, encoding: signed ? 1 : 0, bitOffset: 0, bits: size * 8 });
  }

  ptr(type: number): number {
    return this.add({ kind: BtfKind.Pointer, name: '', type });
  }

  array(elemType: number, indexType: number, nelems: number): number {
    return this.add({ kind: BtfKind.Array, name: '', elemType, indexType, nelems });
  }

  typedef(name: string, type: number): number {
    return this.add({ kind: BtfKind.Typedef, name, type });
  }

  /** Members as [name, type, bitOffset, bitfieldSize?]; kflag is set when any has a bitfield size. */
  struct(name: string, size: number, members: [string, number, number, number?][], union = false, kindFlag?: boolean): number {
    const ms: Member[] = members.map(([n, type, bitOffset, bitfieldSize]) => ({
      name: n,
      type,
      bitOffset,
      bitfieldSize: bitfieldSize ?? 0,
    }));
    return this.add({
      kind: union ? BtfKind.Union : BtfKind.Struct,
      name,
      size,
      kindFlag: kindFlag ?? ms.some((m) => m.bitfieldSize > 0),
      members: ms,
    });
  }

  enumOf(name: string, values: [string, number][], size = 4, signed = false): number {
    return this.add({ kind: BtfKind.Enum, name, size, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
}
