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
