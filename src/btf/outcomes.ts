/**
 * The outcomes of a trim's relocations against the full kernel BTF, kept compactly (a flag
 * and a 64-bit value each, in typed arrays) so that `verifyTrim` need not resolve every
 * relocation against the full kernel a second time: the trim already did, with the same
 * resolver over the same inputs, and resolution is deterministic. Verification then resolves
 * each relocation against the trimmed BTF only, and compares.
 *
 * A recorder that saw a relocation fail (a trim that skips failures) is incomplete:
 * verification then resolves against the full kernel as it always did.
 */
import type { RelocationStep } from './relocate.js';

export class RelocationOutcomes {
  private poison = new Uint8Array(64);
  private values = new BigInt64Array(64);
  private size = 0;
  private complete = true;

  /** Records the next relocation's outcome, in resolution order (object by object). */
  record(step: RelocationStep): void {
    if (step.value === null) {
      this.complete = false;
      return;
    }
    if (this.size === this.poison.length) {
      const poison = new Uint8Array(this.size * 2);
      poison.set(this.poison);
      this.poison = poison;
      const values = new BigInt64Array(this.size * 2);
      values.set(this.values);
      this.values = values;
    }
    this.poison[this.size] = step.value.poison ? 1 : 0;
    // Values are 64-bit in libbpf; asIntN keeps an unsigned one's bits.
    this.values[this.size] = BigInt.asIntN(64, step.value.newVal);
    this.size++;
  }

  /** Whether every relocation was recorded (none failed). */
  get usable(): boolean {
    return this.complete;
  }

  get count(): number {
    return this.size;
  }

  isPoison(index: number): boolean {
    return this.poison[index] === 1;
  }

  /** The patched value, as recorded (a signed 64-bit view of it). */
  value(index: number): bigint {
    return this.values[index]!;
  }
}
