/** Minimal structured logger (pino compatible); the daemon passes its pino child logger. */
export interface ControlLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const quietLogger: ControlLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'detail' in err && typeof (err as { detail: unknown }).detail === 'string') {
    return (err as { detail: string }).detail;
  }
  return err instanceof Error ? err.message : String(err);
}
