// Synapse's bucket arithmetic, held to the cases of Synapse's own tests
// (tests/api/test_ratelimiting.py) and to the exactness of the advised wait.

import fc from 'fast-check';
import { MAX_RETRY_AFTER_MS, takeAction, type BucketState } from '../../../src/ratelimit/synapse-bucket.js';
import type { RateLimitSettings } from '../../../src/ratelimit/types.js';

/** Runs requests at the given times (seconds) through one bucket, as the limiters do. */
function run(settings: RateLimitSettings, timesS: readonly number[]) {
  let state: BucketState | undefined;
  return timesS.map((nowS) => {
    const outcome = takeAction(state, nowS, settings);
    if (outcome.allowed) state = outcome.state;
    return outcome;
  });
}

describe('takeAction (Synapse Ratelimiter.can_do_action)', () => {
  test('one action per 10 s with burst 1: allowed, refused until t=10 with the time left, allowed again', () => {
    const [first, second, third] = run({ perSecond: 0.1, burst: 1 }, [0, 5, 10]);
    expect(first).toMatchObject({ allowed: true, retryAfterMs: 0 });
    expect(second).toMatchObject({ allowed: false, retryAfterMs: 5000 });
    expect(third).toMatchObject({ allowed: true, retryAfterMs: 0 });
  });

  test('the burst is given once: timing requests does not build up extra actions', () => {
    const outcomes = run({ perSecond: 0.1, burst: 3 }, [0, 0.1, 0.2, 10.1, 11.1]);
    expect(outcomes.map((o) => o.allowed)).toEqual([true, true, true, true, false]);
  });

  test('retry_after_ms is truncated to whole milliseconds as Synapse int() does', () => {
    // Allowed again at 1/0.3 = 3.333… s; asked at 1 s: int(2333.33…) = 2333.
    const [, denied] = run({ perSecond: 0.3, burst: 1 }, [0, 1]);
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 2333 });
  });

  test('a denied action changes nothing: the state handed back is the one given', () => {
    const settings = { perSecond: 0.5, burst: 2 };
    const first = takeAction(undefined, 100, settings);
    const second = takeAction(first.state, 100.25, settings);
    const denied = takeAction(second.state, 100.5, settings);
    expect(denied.allowed).toBe(false);
    expect(denied.state).toEqual(second.state);
    const again = takeAction(second.state, 100.5, settings);
    expect(again.retryAfterMs).toBe(denied.retryAfterMs);
  });

  test('once the bucket has drained the count and start time reset', () => {
    const settings = { perSecond: 1, burst: 5 };
    const first = takeAction(undefined, 0, settings);
    expect(first.idleAfterS).toBe(1);
    const later = takeAction(first.state, 2.5, settings);
    expect(later.state).toEqual({ actionCount: 1, timeStartS: 2.5 });
  });

  test('idleAfterS is when every recorded action has leaked out', () => {
    const settings = { perSecond: 0.25, burst: 4 };
    const outcomes = run(settings, [10, 10, 10]);
    // Three actions leak out at 0.25/s: drained 12 s after t=10, asked at t=10.
    expect(outcomes[2]!.idleAfterS).toBe(12);
  });

  test('per_second 0 never refills: after the burst, refused with the longest advised wait', () => {
    const outcomes = run({ perSecond: 0, burst: 2 }, [0, 1, 1_000_000]);
    expect(outcomes.map((o) => o.allowed)).toEqual([true, true, false]);
    expect(outcomes[2]!.retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
  });

  test('a clock that stepped back grants nothing extra', () => {
    const settings = { perSecond: 1, burst: 1 };
    const first = takeAction(undefined, 100, settings);
    const earlier = takeAction(first.state, 90, settings);
    expect(earlier.allowed).toBe(false);
    expect(earlier.retryAfterMs).toBe(11_000);
  });

  const settingsArb = fc.record({
    perSecond: fc.oneof(fc.constantFrom(0.1, 1, 0.001), fc.double({ min: 0.0001, max: 50, noNaN: true })),
    burst: fc.integer({ min: 1, max: 20 }),
  });
  const gapsArb = fc.array(fc.double({ min: 0, max: 30, noNaN: true }), { minLength: 1, maxLength: 60 });
  const timesFrom = (gaps: number[]) => {
    let t = 1_700_000_000;
    return gaps.map((gap) => (t += gap));
  };

  // That a retry just after the advised wait succeeds, and the overall bound, are in
  // synapse-bucket.property.test.ts; here: the wait is not longer than needed either.
  test('property: a refused client is still refused a millisecond before the advised wait ends', () => {
    fc.assert(
      fc.property(settingsArb, gapsArb, (settings, gaps) => {
        const times = timesFrom(gaps);
        let state: BucketState | undefined;
        for (const nowS of times) {
          const outcome = takeAction(state, nowS, settings);
          if (outcome.allowed) {
            state = outcome.state;
            continue;
          }
          if (outcome.retryAfterMs >= MAX_RETRY_AFTER_MS || outcome.retryAfterMs < 2) continue;
          expect(takeAction(state, nowS + (outcome.retryAfterMs - 1) / 1000, settings).allowed).toBe(false);
        }
      }),
    );
  });
});
