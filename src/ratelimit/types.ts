// The rate limiter contract shared by the in-process and Redis limiters.

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export interface RateLimiter {
  /** Records one action for `key` if allowed; a denied action consumes nothing. */
  consume(key: string): Promise<RateDecision>;
  close?(): Promise<void>;
}

export interface RateLimitSettings {
  /** Actions regained per second (Synapse's per_second). */
  readonly perSecond: number;
  /** Actions allowed at once (Synapse's burst_count). */
  readonly burst: number;
}

export const ALLOWED: RateDecision = Object.freeze({ allowed: true });
