// Logging: pino JSON lines. Redaction is a second line of defence (request objects are
// never logged whole); the first is that nothing hands a token, secret or TURN password
// to the logger at all.

import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  'accessToken',
  'access_token',
  'password',
  'secret',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.clientSecret',
  '*.hsToken',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'matrix-turn-credentials' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * Longest a line waits in the process's log buffer. Under load lines leave in batches of
 * up to STDOUT_BATCH_BYTES (one write per batch, off the request path); when traffic is
 * light the timer writes them out, so `kubectl logs` is never minutes behind.
 */
export const LOG_FLUSH_INTERVAL_MS = 1000;
export const STDOUT_BATCH_BYTES = 12_288;

/** The process's logger: JSON lines on stdout, batched, flushed at least every second. */
export function createStdoutLogger(level: string): { logger: Logger; stop(): void } {
  const logger = createLogger(level, pino.destination({ dest: 1, sync: false, minLength: STDOUT_BATCH_BYTES }));
  const timer = setInterval(() => logger.flush(), LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    logger,
    stop() {
      clearInterval(timer);
      logger.flush();
    },
  };
}
