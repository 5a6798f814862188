/** The errors a service process reports to its operator as one line (not a stack). */

/** A backend the process cannot start without is not usable (its message says which and why). */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}
