/**
 * The one logger shape every stage takes (a pino subset: the daemon passes its pino child loggers,
 * library users anything with these four methods), and the logger that drops everything.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Drops every message (the default where no logger is given). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
