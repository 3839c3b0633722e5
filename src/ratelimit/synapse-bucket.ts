// Synapse's rate-limit arithmetic (synapse/api/ratelimiting.py, Ratelimiter): a leaky
// bucket kept as (action count, start time). Actions leak out at `perSecond`; when the
// bucket has drained completely the count and start time reset. An action is allowed
// while fewer than `burst` remain in the bucket; a denied action changes nothing. The
// client may retry once the count has leaked down to burst - 1.

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
  const elapsedS = Math.max(0, nowS - timeStartS);
  let performed = actionCount - elapsedS * perSecond;
  if (performed < 0) {
    performed = 0;
    actionCount = 0;
    timeStartS = nowS;
  }
  const allowed = !(performed > burst - 1);
  if (allowed) actionCount += 1;
  let retryAfterMs = 0;
  if (!allowed) {
    const timeAllowedS = perSecond > 0 ? timeStartS + (actionCount - burst + 1) / perSecond : Number.POSITIVE_INFINITY;
    retryAfterMs = Number.isFinite(timeAllowedS) ? Math.max(0, Math.ceil((timeAllowedS - nowS) * 1000)) : MAX_RETRY_AFTER_MS;
    retryAfterMs = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  }
  const idleAfterS = perSecond > 0 ? timeStartS + actionCount / perSecond - nowS : Number.POSITIVE_INFINITY;
  return { allowed, state: { actionCount, timeStartS }, retryAfterMs, idleAfterS: Math.max(0, idleAfterS) };
}

/** A day: the longest wait ever advised, also when per_second is 0 (no refill). */
export const MAX_RETRY_AFTER_MS = 86_400_000;
