// actionsLeft, the headroom the token-guessing guard reserves from: for any history of a
// bucket and any later time, it is exactly the number of actions takeAction would allow in
// a row at that time, rounding included; and the in-process limiter's headroom says so too.

import fc from 'fast-check';
import { memoryLimiter } from '../../../src/ratelimit/memory.js';
import { actionsLeft, takeAction, type BucketState } from '../../../src/ratelimit/synapse-bucket.js';
import type { RateLimitSettings } from '../../../src/ratelimit/types.js';
import { manualClock } from '../../helpers/clock.js';

const epochS = fc.double({ min: 1_600_000_000, max: 2_000_000_000, noNaN: true });
const gaps = fc.array(fc.double({ min: 0, max: 30, noNaN: true }), { maxLength: 80 });

/** Actions takeAction allows one after another at `nowS`, counted one by one. */
function countAllowed(state: BucketState | undefined, nowS: number, s: RateLimitSettings): number {
  let allowed = 0;
  for (;;) {
    const outcome = takeAction(state, nowS, s);
    if (!outcome.allowed) return allowed;
    allowed += 1;
    state = outcome.state;
  }
}

/** A bucket after actions at the given gaps, as the limiter would hold it. */
function history(s: RateLimitSettings, startS: number, steps: number[]): { state: BucketState | undefined; nowS: number } {
  let state: BucketState | undefined;
  let nowS = startS;
  for (const step of steps) {
    nowS += step;
    const outcome = takeAction(state, nowS, s);
    if (outcome.allowed) state = outcome.state;
  }
  return { state, nowS };
}

test('equals the actions takeAction allows in a row (burst up to 200)', () => {
  const settings = fc.record({
    perSecond: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1000, noNaN: true }), fc.constantFrom(0.1, 1, 0.001, 1 / 3)),
    burst: fc.integer({ min: 1, max: 200 }),
  });
  fc.assert(
    fc.property(settings, epochS, gaps, fc.double({ min: 0, max: 600, noNaN: true }), (s, startS, steps, laterS) => {
      const { state, nowS } = history(s, startS, steps);
      expect(actionsLeft(state, nowS + laterS, s)).toBe(countAllowed(state, nowS + laterS, s));
    }),
    { numRuns: 3000 },
  );
});

test('equals them for bursts as large as the configuration allows', () => {
  const settings = fc.record({
    perSecond: fc.double({ min: 0, max: 1_000_000, noNaN: true }),
    burst: fc.integer({ min: 1, max: 1_000_000 }),
  });
  fc.assert(
    fc.property(settings, epochS, gaps, fc.double({ min: 0, max: 5, noNaN: true }), (s, startS, steps, laterS) => {
      const { state, nowS } = history(s, startS, steps);
      expect(actionsLeft(state, nowS + laterS, s)).toBe(countAllowed(state, nowS + laterS, s));
    }),
    { numRuns: 10 },
  );
});

test('a clock that stepped back or broke gives a bounded answer, never a hang', () => {
  const s = { perSecond: 1, burst: 20 };
  const state = { actionCount: 5, timeStartS: 1_700_000_000 };
  expect(actionsLeft(state, 1_600_000_000, s)).toBe(15);
  expect(actionsLeft(state, Number.NaN, s)).toBe(20);
  expect(actionsLeft(undefined, Number.POSITIVE_INFINITY, s)).toBe(20);
});

test("the in-process limiter's headroom: what decide then allows, and it records nothing", () => {
  const clock = manualClock();
  const limiter = memoryLimiter({ perSecond: 1, burst: 5, clock });
  expect(limiter.headroom('192.0.2.1')).toBe(5);
  limiter.decide('192.0.2.1');
  limiter.decide('192.0.2.1');
  expect(limiter.headroom('192.0.2.1')).toBe(3);
  expect(limiter.headroom('192.0.2.1')).toBe(3);
  clock.advance(1500);
  expect(limiter.headroom('192.0.2.1')).toBe(4);
  let allowed = 0;
  while (limiter.decide('192.0.2.1').allowed) allowed += 1;
  expect(allowed).toBe(4);
  expect(limiter.headroom('192.0.2.1')).toBe(0);
  expect(limiter.peek('192.0.2.1').allowed).toBe(false);
});
