/**
 * The one error type edgewise throws on purpose. Callers branch on `code`, never on the
 * message text; the code is appended to the message so a log line can be searched for.
 */
export type ErrorCode =
  | 'DBC_SYNTAX' // malformed DBC text (context: file, line, column, expected, found)
  | 'DBC_SEMANTIC' // well-formed DBC that makes no sense (unknown message in SIG_VALTYPE_, ...)
  | 'LOG_FORMAT' // a candump line that cannot be read (counted, never fatal to a stream)
  | 'CAMPAIGN_INVALID' // campaign document fails validation (context: path, reason)
  | 'MANIFEST_INVALID' // decoder manifest fails validation
  | 'EXPRESSION_SYNTAX' // condition expression does not parse (context: expression, column)
  | 'EXPRESSION_TYPE' // expression parses but cannot be compiled (unknown signal, bad function)
  | 'CONFIG_INVALID' // daemon configuration fails validation
  | 'BATCH_FORMAT' // a batch payload that cannot be decoded
  | 'STORE_CORRUPT' // the on-disk store cannot be opened/read
  | 'STORE_FULL' // a batch cannot fit the store even after eviction
  | 'UPLOAD_FAILED' // publish failed (retried by the uploader)
  | 'IO' // a file or device could not be read/written
  | 'USAGE'; // bad command-line arguments

export class EdgewiseError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${message} (${code})`, options);
    this.name = 'EdgewiseError';
    this.code = code;
    this.context = context;
  }

  /** The message without the trailing `(CODE)`. */
  get detail(): string {
    const suffix = ` (${this.code})`;
    return this.message.endsWith(suffix) ? this.message.slice(0, -suffix.length) : this.message;
  }
}

export function isEdgewiseError(e: unknown, code?: ErrorCode): e is EdgewiseError {
  return e instanceof EdgewiseError && (code === undefined || e.code === code);
}
