// A circuit breaker for one upstream, so a dead homeserver or OAuth server is not asked
// once per request. Closed: calls go through, and `failureThreshold` failures in a row
// open it. Open: calls are refused at once for `resetMs`. Then half-open: exactly one
// probe call goes through while the others are still refused; the probe's success closes
// the breaker, its failure opens it for another `resetMs`. What a failure is belongs to
// the caller (upstream.ts: 5xx, timeouts, refused connections; never a 401 for a bad
// token). Time comes from the injected clock, so tests need no sleeping.

import type { Clock } from '../clock.js';

/** How an admitted call ended; `neutral` says nothing about the upstream (e.g. it never ran). */
export type CallOutcome = 'success' | 'failure' | 'neutral';

export type Admission =
  { readonly admitted: true; settle(outcome: CallOutcome): void } | { readonly admitted: false; readonly retryAfterMs: number };

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreaker {
  admit(): Admission;
  readonly state: BreakerState;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker (at least 1). */
  failureThreshold: number;
  /** Milliseconds an open breaker refuses calls before letting one probe through. */
  resetMs: number;
  clock: Clock;
  /** Told when the breaker opens (true) or closes again (false). */
  onChange?(open: boolean, consecutiveFailures: number): void;
}

export function createBreaker(options: BreakerOptions): CircuitBreaker {
  const { failureThreshold, resetMs, clock } = options;
  let consecutiveFailures = 0;
  let openedAtMs: number | undefined;
  let probeInFlight = false;
  // Calls admitted before the last change of state must not move the new state: a slow
  // success from before the outage must not close a breaker that has since opened.
  let generation = 0;

  const open = () => {
    const wasOpen = openedAtMs !== undefined;
    openedAtMs = clock.nowMs();
    probeInFlight = false;
    generation += 1;
    if (!wasOpen) options.onChange?.(true, consecutiveFailures);
  };
  const close = () => {
    consecutiveFailures = 0;
    openedAtMs = undefined;
    probeInFlight = false;
    generation += 1;
    options.onChange?.(false, 0);
  };

  const admitClosed = (): Admission => {
    const admittedIn = generation;
    return once((outcome) => {
      if (admittedIn !== generation) return;
      if (outcome === 'success') consecutiveFailures = 0;
      else if (outcome === 'failure') {
        consecutiveFailures += 1;
        if (consecutiveFailures >= failureThreshold) open();
      }
    });
  };

  const admitProbe = (): Admission => {
    probeInFlight = true;
    const admittedIn = generation;
    return once((outcome) => {
      if (admittedIn !== generation) return;
      if (outcome === 'success') close();
      else if (outcome === 'failure') {
        consecutiveFailures += 1;
        open();
      } else probeInFlight = false;
    });
  };

  return {
    admit() {
      if (openedAtMs === undefined) return admitClosed();
      const waitMs = openedAtMs + resetMs - clock.nowMs();
      if (waitMs > 0) return { admitted: false, retryAfterMs: Math.ceil(waitMs) };
      // The probe itself may take up to the upstream timeout; advise one reset period.
      if (probeInFlight) return { admitted: false, retryAfterMs: resetMs };
      return admitProbe();
    },
    get state(): BreakerState {
      if (openedAtMs === undefined) return 'closed';
      return clock.nowMs() - openedAtMs >= resetMs ? 'half-open' : 'open';
    },
  };
}

function once(settle: (outcome: CallOutcome) => void): Admission {
  let settled = false;
  return {
    admitted: true,
    settle(outcome) {
      if (settled) return;
      settled = true;
      settle(outcome);
    },
  };
}
