import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs to stdout (journald picks them up). Secrets never reach the log: private keys and
 * certificates are only ever referred to by path, and these fields are redacted wherever they appear.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  return pino(
    {
      level,
      base: { svc: 'edgewise' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['privateKey', '*.privateKey', 'key', '*.key', 'password', '*.password', 'url', '*.url', 'presignedUrl', '*.presignedUrl'],
        censor: '[redacted]',
      },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : (destination as pino.DestinationStream),
  );
}
