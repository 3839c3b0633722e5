// Property tests over Synapse's rate-limit arithmetic: no input makes takeAction throw or
// advise a negative, fractional or unbounded retry_after_ms; the bucket never lets more
// through than burst plus what has leaked; and the advised wait is honest: retrying a
// millisecond after it succeeds, give or take the resolution of the clock itself.

import fc from 'fast-check';
import { MAX_RETRY_AFTER_MS, takeAction, type BucketState } from '../../../src/ratelimit/synapse-bucket.js';

const anyNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, Number.MIN_VALUE),
);
const anyState = fc.option(fc.record({ actionCount: anyNumber, timeStartS: anyNumber }), { nil: undefined });

/** Settings as the configuration allows them (RATE_LIMIT_PER_SECOND 0..1e6, BURST 1..1e6). */
const settings = fc.record({
  perSecond: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1_000_000, noNaN: true }), fc.constantFrom(0.1, 1, 0.001)),
  burst: fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 20 })),
});
const epochS = fc.double({ min: 1_600_000_000, max: 2_000_000_000, noNaN: true });

function checkRetryAfter(retryAfterMs: number): void {
  expect(Number.isInteger(retryAfterMs)).toBe(true);
  expect(retryAfterMs).toBeGreaterThanOrEqual(0);
  expect(retryAfterMs).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
}

describe('Synapse bucket arithmetic (properties)', () => {
  test('any state, time and settings: no throw, retry_after_ms a whole number of ms in [0, a day]', () => {
    fc.assert(
      fc.property(anyState, anyNumber, fc.record({ perSecond: anyNumber, burst: anyNumber }), (state, nowS, anySettings) => {
        const outcome = takeAction(state, nowS, anySettings);
        checkRetryAfter(outcome.retryAfterMs);
        if (outcome.allowed) expect(outcome.retryAfterMs).toBe(0);
        expect(outcome.idleAfterS >= 0 || Number.isNaN(outcome.idleAfterS)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  test('configured settings and real clocks: retry_after_ms valid, and the state stays usable', () => {
    fc.assert(
      fc.property(settings, epochS, fc.array(fc.double({ min: -5, max: 120, noNaN: true }), { maxLength: 60 }), (s, startS, steps) => {
        let state: BucketState | undefined;
        let nowS = startS;
        for (const step of steps) {
          nowS += step;
          const outcome = takeAction(state, nowS, s);
          checkRetryAfter(outcome.retryAfterMs);
          expect(Number.isFinite(outcome.state.actionCount)).toBe(true);
          expect(Number.isFinite(outcome.state.timeStartS)).toBe(true);
          state = outcome.state;
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('never more allowed than burst plus what leaked out in the time elapsed', () => {
    fc.assert(
      fc.property(
        settings,
        epochS,
        fc.array(fc.double({ min: 0, max: 30, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (s, startS, gaps) => {
          let state: BucketState | undefined;
          let nowS = startS;
          let allowed = 0;
          for (const gap of gaps) {
            nowS += gap;
            const outcome = takeAction(state, nowS, s);
            if (outcome.allowed) allowed += 1;
            state = outcome.state;
          }
          expect(allowed).toBeLessThanOrEqual(s.burst + (nowS - startS) * s.perSecond + 1e-6 * s.burst);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('a fresh bucket allows exactly burst actions at one instant', () => {
    fc.assert(
      fc.property(
        fc.record({ perSecond: settings.map((s) => s.perSecond), burst: fc.integer({ min: 1, max: 300 }) }),
        epochS,
        (s, nowS) => {
          let state: BucketState | undefined;
          let allowed = 0;
          for (let i = 0; i < s.burst + 5; i++) {
            const outcome = takeAction(state, nowS, s);
            if (outcome.allowed) allowed += 1;
            state = outcome.state;
          }
          expect(allowed).toBe(s.burst);
        },
      ),
    );
  });

  // Times are epoch seconds in doubles, as in Synapse (time.time()), so every instant is
  // rounded to a multiple of the double's spacing there (2^-22 s, 0.24 µs, for 2^30 to
  // 2^31 s). When the exact wait ends within that of a whole millisecond, the allowed time
  // can round below it: int() then advises a millisecond too few, and a retry exactly
  // retry_after_ms + 1 ms later lands a fraction of a microsecond early (fast-check found
  // perSecond 999.95…, burst 1: an exact wait of 1.00005 ms advised as 0 ms). Synapse's
  // arithmetic does the same; what holds is the bound up to the clock's resolution.
  const clockResolutionS = (epochSeconds: number) => 2 ** (Math.floor(Math.log2(epochSeconds)) - 52);

  test('the advised wait is honest: a retry one millisecond after it (and a clock tick) is allowed', () => {
    const leaking = fc.record({ perSecond: fc.double({ min: 0.001, max: 10_000, noNaN: true }), burst: fc.integer({ min: 1, max: 1000 }) });
    fc.assert(
      fc.property(leaking, epochS, fc.array(fc.double({ min: 0, max: 5, noNaN: true }), { maxLength: 50 }), (s, startS, gaps) => {
        let state: BucketState | undefined;
        let nowS = startS;
        for (let i = 0; i < s.burst; i++) state = takeAction(state, nowS, s).state;
        for (const gap of gaps) {
          nowS += gap;
          const outcome = takeAction(state, nowS, s);
          state = outcome.state;
          if (outcome.allowed) continue;
          if (outcome.retryAfterMs >= MAX_RETRY_AFTER_MS) continue;
          const retry = takeAction(state, nowS + (outcome.retryAfterMs + 1) / 1000 + 2 * clockResolutionS(nowS), s);
          expect(retry.allowed).toBe(true);
        }
      }),
      {
        numRuns: 2000,
        // Found by fast-check (seeds 1115213605 and -452461970): exact waits of 1.00005 ms
        // and 2316.0001 ms, each a fraction of a microsecond past a whole millisecond.
        examples: [
          [{ perSecond: 999.9532721420908, burst: 1 }, 1_600_000_000, [0]],
          [{ perSecond: 0.4317789098084483, burst: 1 }, 1_600_000_000, [0]],
        ],
      },
    );
  });

  test('the clock-resolution allowance is needed, and only that: the cases fast-check found', () => {
    for (const perSecond of [999.9532721420908, 0.4317789098084483]) {
      const s = { perSecond, burst: 1 };
      const nowS = 1_600_000_000;
      const refused = takeAction(takeAction(undefined, nowS, s).state, nowS, s);
      expect(refused.allowed).toBe(false);
      const oneMsAfterS = nowS + (refused.retryAfterMs + 1) / 1000;
      // Exactly retry_after_ms + 1 ms is early by less than the clock's resolution; two ticks later is not.
      expect(takeAction(refused.state, oneMsAfterS, s).allowed).toBe(false);
      expect(1000 / perSecond - (refused.retryAfterMs + 1)).toBeGreaterThan(0);
      expect(1000 / perSecond - (refused.retryAfterMs + 1)).toBeLessThan(clockResolutionS(nowS) * 1000);
      expect(takeAction(refused.state, oneMsAfterS + 2 * clockResolutionS(nowS), s).allowed).toBe(true);
    }
  });
});
