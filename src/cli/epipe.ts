/**
 * A closed stdout (`edgewise obd pids | head`) ends the command quietly, as Unix tools do: no
 * stack trace, no message, exit status 0 (what main's bin already chose).
 * One mechanism for every command: the bin installs it once, and `reportError` treats an EPIPE
 * that surfaced as a rejected write or pipeline the same way.
 */

/** Exit status after the reader went away. */
export const EPIPE_EXIT = 0;

/** True for the error a write to a closed pipe raises. */
export function isEpipe(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code === 'EPIPE';
}

let installed = false;

/** Exits quietly (status 0) when stdout or stderr is closed by its reader. */
export function exitQuietlyOnEpipe(): void {
  if (installed) return;
  installed = true;
  const onError = (e: unknown): void => {
    if (isEpipe(e)) process.exit(EPIPE_EXIT);
    throw e;
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}
