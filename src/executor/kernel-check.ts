/**
 * The codec executor as the registry's KernelBtfCheck: kernel files a sync, an archive
 * checkout or an admin upload brings are decoded on the executor (worker threads in the
 * service), not on the event loop that answers `/healthz`. A file that does not decode, or
 * that needs more memory or time than a codec thread may use, is refused with the reason
 * (it is the file's fault); anything else is not the file's and passes through.
 */
import type { KernelBtfCheck } from '../kernels/registry.js';
import { NO_TYPES } from '../kernels/registry.js';
import { type CodecExecutor, CodecTaskError } from './codec-executor.js';

export function kernelCheckOn(codec: CodecExecutor): KernelBtfCheck {
  return async (raw) => {
    try {
      const check = await codec.checkKernel(raw);
      return check.typeCount === 0 ? NO_TYPES : null;
    } catch (error) {
      if (error instanceof CodecTaskError && (error.stage === 'kernel' || error.stage === 'memory' || error.stage === 'timeout'))
        return error.message;
      throw error;
    }
  };
}
