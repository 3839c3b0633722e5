// The outage log of one upstream, driven by hand with a hand-moved clock: one warning when
// calls start failing, one info line with the counts and the duration when one made
// afterwards succeeds, and every failed request's error marked as told.

import { outageLog } from '../../../src/auth/outage.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { manualClock } from '../../helpers/clock.js';
import { captureLogs } from '../../helpers/logs.js';

function setup() {
  const clock = manualClock();
  const logs = captureLogs();
  const outages = outageLog({ upstream: 'homeserver', logger: createLogger('info', logs.stream), clock });
  const unreachable = () => MatrixError.upstream(502, 'homeserver unreachable (ECONNREFUSED)');
  return { clock, logs, outages, unreachable };
}

describe('the outage log', () => {
  test('says nothing while calls succeed', () => {
    const { logs, outages } = setup();
    for (let i = 0; i < 5; i++) outages.call().succeeded();
    expect(logs.lines).toEqual([]);
  });

  test('an outage of N failed requests: one warning at its start, one info line at its end with N and its duration', () => {
    const { clock, logs, outages, unreachable } = setup();
    for (let i = 0; i < 7; i++) {
      outages.call().failed(unreachable());
      clock.advance(1000);
    }
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', upstream: 'homeserver', status: 502, detail: 'homeserver unreachable (ECONNREFUSED)' }),
    ]);
    clock.advance(3000);
    outages.call().succeeded();
    outages.call().succeeded();
    expect(logs.entries()).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^upstream outage started/) }),
      expect.objectContaining({
        level: 'info',
        msg: expect.stringMatching(/^upstream outage ended/),
        upstream: 'homeserver',
        failedRequests: 7,
        failedFast: 0,
        durationMs: 10_000,
      }),
    ]);
  });

  test('the error to throw is the same answer, marked as told', () => {
    const { outages } = setup();
    const original = MatrixError.upstream(503, 'homeserver answered 503', { retryAfterSeconds: 1, cause: new Error('x') });
    const marked = outages.call().failed(original);
    expect(original.reported).toBe(false);
    expect(marked).toBeInstanceOf(MatrixError);
    expect(marked).toMatchObject({
      status: 503,
      errcode: 'M_UNKNOWN',
      message: original.message,
      headers: { 'Retry-After': '1' },
      detail: 'homeserver answered 503',
      reported: true,
    });
    expect(marked.body()).toEqual(original.body());
    expect(marked.cause).toBe(original.cause);
    expect(outages.failedFast(original).reported).toBe(true);
  });

  test('an answer to a call made before the latest failure does not end it; one made after does', () => {
    const { logs, outages, unreachable } = setup();
    const early = outages.call();
    outages.call().failed(unreachable());
    early.succeeded();
    expect(logs.entries().map((e) => e.level)).toEqual(['warn']);
    const later = outages.call();
    later.succeeded();
    expect(logs.entries().map((e) => e.level)).toEqual(['warn', 'info']);
  });

  test("refusals by the open breaker are counted, and do not keep the breaker's probe from ending it", () => {
    const { logs, outages, unreachable } = setup();
    for (let i = 0; i < 3; i++) outages.call().failed(unreachable());
    const probe = outages.call();
    for (let i = 0; i < 4; i++) outages.failedFast(MatrixError.upstream(503, 'homeserver circuit breaker open after repeated failures'));
    probe.succeeded();
    expect(logs.entries()[1]).toMatchObject({ level: 'info', failedRequests: 7, failedFast: 4 });
  });

  test('each outage is told: a second one after the first ended starts with its own warning', () => {
    const { logs, outages, unreachable } = setup();
    outages.call().failed(unreachable());
    outages.call().succeeded();
    outages.call().failed(MatrixError.upstream(504, 'homeserver did not answer within 5000 ms'));
    outages.call().failed(unreachable());
    outages.call().succeeded();
    expect(logs.entries().map((e) => [e.level, e.detail ?? e.failedRequests])).toEqual([
      ['warn', 'homeserver unreachable (ECONNREFUSED)'],
      ['info', 1],
      ['warn', 'homeserver did not answer within 5000 ms'],
      ['info', 2],
    ]);
  });
});
