/**
 * The one error type every object-store backend throws. Callers branch on `code`, never on
 * backend-specific errors (Node's ENOENT, the AWS SDK's exception classes), so the service can
 * swap backends without touching its error handling.
 */

/** Why a storage operation failed. Lets callers map errors to HTTP statuses or readiness. */
export type StorageErrorCode =
  | 'INVALID_KEY' // the key is malformed, or resolves outside the store
  | 'UNAVAILABLE' // the backend cannot be reached or refused the operation
  | 'NOT_FOUND'; // the store itself (root directory, bucket) does not exist

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
