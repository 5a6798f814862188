/**
 * The codec executor's refusal of a job's objects as the job's error (compat and bundle
 * jobs): the objects' fault is the client's and final, a thread's bound too; a stopped task
 * is not retried (it would stop again). Anything that is not a CodecTaskError is unchanged.
 */
import { CodecTaskError } from '../executor/codec-executor.js';
import { JobError } from '../queue/job.js';

export function objectsFailure(error: unknown): unknown {
  if (!(error instanceof CodecTaskError)) return error;
  switch (error.stage) {
    case 'object':
    case 'rejected':
      return new JobError('INVALID_OBJECT', true, error.message, { cause: error });
    case 'limit':
    case 'memory':
      return new JobError('LIMIT_EXCEEDED', true, error.message, { cause: error });
    case 'timeout':
      return new JobError('TIMEOUT', false, error.message, { cause: error, retryable: false });
    default:
      return new JobError('INTERNAL', false, error.message, { cause: error });
  }
}
