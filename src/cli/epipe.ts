/**
 * A closed stdout (`edgewise obd pids | head`) ends the command quietly, as Unix tools do: no
 * stack trace, no message, exit status 141 (128 + SIGPIPE, what a shell reports for `cat` there).
 * One mechanism for every command: the bin installs it once, and `reportError` treats an EPIPE
 * that surfaced as a rejected write or pipeline the same way.
 */

/** 128 + SIGPIPE (13). */
export const EPIPE_EXIT = 141;

/** True for the error a write to a closed pipe raises. */
export function isEpipe(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code === 'EPIPE';
}

let installed = false;

/** Exits quietly (status 141) when stdout or stderr is closed by its reader. */
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
