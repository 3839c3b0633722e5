// The access line is written without pino's per-field serialiser (fast-paths/pino-access-line.ts);
// it must be byte-for-byte the line
// `logger.info({ durationMs, requestId, clientAddress, userId | userHash }, 'request')` (or
// logger.debug, for kubelet's probes) writes, for any duration, any request id and address
// their makers give, any user id a homeserver can return, and any route, method, status and
// errcode bindings, so a pino upgrade that changes the line fails here.

import fc from 'fast-check';
import { accessLine } from '../../../src/fast-paths/pino-access-line.js';
import { clientAddress } from '../../../src/http/client-address.js';
import { requestIds } from '../../../src/http/request-id.js';
import { createLogger, type Logger } from '../../../src/logger.js';

function loggerWritingTo(lines: string[]): Logger {
  return createLogger('debug', { write: (line: string) => void lines.push(line) }).child({}, { redact: [] });
}

/** The line without its timestamp: the two are written a few microseconds apart. */
const untimed = (line: string) => line.replace(/,"time":\d+/, ',"time":0');

const proxied = requestIds({ trustProxy: true });
/** Request ids as request-id.ts makes them: a proxy's (kept or replaced) or generated. */
const requestId = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 140 }), fc.uuid(), fc.constant(undefined)).map((h) => proxied(h));
/** Addresses as client-address.ts gives them, or none. */
const address = fc
  .oneof(fc.ipV4(), fc.ipV6(), fc.string({ unit: 'binary-ascii' }))
  .map((forwarded) => clientAddress({ remoteAddress: '::ffff:10.0.0.5', forwardedFor: forwarded, trustProxy: true }));

test('accessLine writes what pino writes for the same fields', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('info' as const, 'debug' as const),
      fc
        .record({
          method: fc.constantFrom('GET', 'OPTIONS', 'PROPFIND'),
          route: fc.constantFrom('/_matrix/client/v3/voip/turnServer', '/healthz', 'unmatched'),
          status: fc.constantFrom(200, 401, 429, 503),
          errcode: fc.constantFrom(undefined, 'M_UNKNOWN_TOKEN', 'M_LIMIT_EXCEEDED'),
        })
        .map(({ errcode, ...bindings }) => ({ ...bindings, ...(errcode !== undefined && { errcode }) })),
      fc.oneof(
        fc.double({ min: 0, max: 1e6, noNaN: true }).map((ms) => Math.round(ms * 1000) / 1000),
        fc.constantFrom(0, 0.001, 12.5),
      ),
      requestId,
      fc.oneof(address, fc.constant(undefined)),
      fc.oneof(
        fc.constant(undefined),
        fc.record({ field: fc.constant('userHash' as const), user: fc.stringMatching(/^[0-9a-f]{16}$/) }),
        fc.record({
          field: fc.constant('userId' as const),
          user: fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary-ascii' })).map((s) => `@${s}:example.org`),
        }),
      ),
      (level, bindings, durationMs, id, clientAddress, user) => {
        const ours: string[] = [];
        const pinos: string[] = [];
        accessLine(loggerWritingTo(ours).child(bindings), level)(durationMs, id, clientAddress, user?.field, user?.user);
        const reference = loggerWritingTo(pinos).child(bindings);
        const fields = { durationMs, requestId: id, ...(clientAddress !== undefined && { clientAddress }) };
        reference[level](user === undefined ? fields : { ...fields, [user.field]: user.user }, 'request');
        expect(ours.map(untimed)).toEqual(pinos.map(untimed));
        expect(JSON.parse(ours[0]!)).toMatchObject({ level, ...bindings, ...fields, msg: 'request' });
      },
    ),
    { numRuns: 500 },
  );
});
