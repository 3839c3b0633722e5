// A clock the test moves by hand, so cache expiry, credential expiry and rate-limit
// windows are checked exactly and without sleeping.

import type { Clock } from '../../src/clock.js';

export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

export function manualClock(startMs = 1_700_000_000_000): ManualClock {
  let nowMs = startMs;
  return {
    nowMs: () => nowMs,
    advance(ms) {
      nowMs += ms;
    },
    set(ms) {
      nowMs = ms;
    },
  };
}
