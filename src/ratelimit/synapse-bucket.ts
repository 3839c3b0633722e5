// Synapse's rate-limit arithmetic (synapse/api/ratelimiting.py, Ratelimiter.can_do_action
// and ratelimit): a leaky bucket kept as (action count, start time). Actions leak out at
// `perSecond`; when the bucket has drained completely the count and start time reset. An
// action is allowed while no more than `burst - 1` remain in the bucket; a denied action
// changes nothing. The client may retry once the count has leaked down to burst - 1, and
// is told so in whole milliseconds truncated as Synapse's int() does.
//
// The Redis limiter's Lua script (redis.ts) performs the same operations in the same
// order on the same IEEE doubles, so both give identical decisions and retry_after_ms;
// test/unit/ratelimit/redis.test.ts holds them to that.

import type { RateLimitSettings } from './types.js';

export interface BucketState {
  readonly actionCount: number;
  readonly timeStartS: number;
}

export interface BucketOutcome {
  readonly allowed: boolean;
  readonly state: BucketState;
  /** Whole milliseconds until an action would be allowed; 0 when allowed now. */
  readonly retryAfterMs: number;
  /** Seconds after which the state is the same as no state at all. */
  readonly idleAfterS: number;
}

export function takeAction(previous: BucketState | undefined, nowS: number, settings: RateLimitSettings): BucketOutcome {
  let actionCount = previous?.actionCount ?? 0;
  let timeStartS = previous?.timeStartS ?? nowS;
  const { perSecond, burst } = settings;
  // Synapse does not clamp; a clock that stepped back (a Redis failover to a host whose
  // clock is behind) must not hand out extra actions, only none.
  const elapsedS = Math.max(0, nowS - timeStartS);
  let performed = actionCount - elapsedS * perSecond;
  if (performed < 0) {
    performed = 0;
    actionCount = 0;
    timeStartS = nowS;
  }
  // Written as Synapse writes it (not performed + 1 > burst), so rounding cannot differ.
  const allowed = !(performed > burst - 1);
  if (allowed) actionCount += 1;
  let retryAfterMs = 0;
  if (!allowed) {
    if (perSecond > 0) {
      const timeAllowedS = Math.max(nowS, timeStartS + (actionCount - burst + 1) / perSecond);
      const waitMs = Math.trunc(1000 * (timeAllowedS - nowS));
      // Only non-finite inputs (a time of ±Infinity) make this NaN: advise the longest wait.
      retryAfterMs = Number.isNaN(waitMs) ? MAX_RETRY_AFTER_MS : Math.min(waitMs, MAX_RETRY_AFTER_MS);
    } else {
      // Synapse answers a meaningless negative time here; nothing ever leaks, so say a day.
      retryAfterMs = MAX_RETRY_AFTER_MS;
    }
  }
  const idleAfterS = perSecond > 0 ? timeStartS + actionCount / perSecond - nowS : Number.POSITIVE_INFINITY;
  return { allowed, state: { actionCount, timeStartS }, retryAfterMs, idleAfterS: Math.max(0, idleAfterS) };
}

/**
 * How many actions in a row takeAction would allow now, changing nothing (0 exactly when
 * it would deny the next). The token-guessing guard reserves these for verifications in
 * flight. Counted with takeAction's own expressions, so the two never differ by rounding.
 */
export function actionsLeft(previous: BucketState | undefined, nowS: number, settings: RateLimitSettings): number {
  const { perSecond, burst } = settings;
  let actionCount = previous?.actionCount ?? 0;
  let leaked = Math.max(0, nowS - (previous?.timeStartS ?? nowS)) * perSecond;
  if (actionCount - leaked < 0) {
    actionCount = 0;
    leaked = 0;
  }
  // The k-th further action (from 0) is allowed while !((actionCount + k) - leaked > burst - 1).
  const allows = (k: number) => !(actionCount + k - leaked > burst - 1);
  if (!allows(0)) return 0;
  // Never more than burst (what leaked is never more than was counted); the estimate is off
  // by a rounding at most, and a time of NaN (which takeAction lets through) counts as full.
  const estimate = Math.floor(burst - 1 - (actionCount - leaked));
  let k = Number.isFinite(estimate) ? Math.min(Math.max(0, estimate), burst - 1) : burst - 1;
  while (k > 0 && !allows(k)) k -= 1;
  while (k < burst - 1 && allows(k + 1)) k += 1;
  return k + 1;
}

/** A day: the longest wait ever advised, also when per_second is 0 (no refill). */
export const MAX_RETRY_AFTER_MS = 86_400_000;
