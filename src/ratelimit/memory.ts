// The in-process limiter: Synapse's bucket per key in a bounded LRU map. Correct for one
// replica; with several, each has its own view (use Redis). Entries expire once their
// bucket has drained, so memory follows the number of recently active users.

import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import { actionsLeft, takeAction, type BucketState } from './synapse-bucket.js';
import { decidedPerTurn, type NextTurn } from './per-turn.js';
import { ALLOWED, type RateDecision, type RateLimiter, type RateLimitSettings } from './types.js';

export interface MemoryLimiterOptions extends RateLimitSettings {
  clock: Clock;
  /** When consume's decisions are taken: at the end of the turn, for the turn's requests together (per-turn.ts). */
  nextTurn?: NextTurn;
  /** Keys tracked at most; the least recently used are forgotten first. Default 100000. */
  maxKeys?: number;
}

export function memoryLimiter(
  options: MemoryLimiterOptions,
): RateLimiter & { decide(key: string): RateDecision; peek(key: string): RateDecision; headroom(key: string): number } {
  const { clock } = options;
  const buckets = new LRUCache<string, BucketState>({ max: options.maxKeys ?? 100_000, perf: { now: () => clock.nowMs() } });
  const decide = (key: string): RateDecision => {
    const nowMs = clock.nowMs();
    const outcome = takeAction(buckets.get(key), nowMs / 1000, options);
    if (!outcome.allowed) return { allowed: false, retryAfterMs: outcome.retryAfterMs };
    buckets.set(key, outcome.state, { ttl: Math.max(1, Math.ceil(outcome.idleAfterS * 1000)) });
    return ALLOWED;
  };
  /** Whether an action would be allowed now, recording nothing. */
  const peek = (key: string): RateDecision => {
    const outcome = takeAction(buckets.peek(key), clock.nowMs() / 1000, options);
    return outcome.allowed ? ALLOWED : { allowed: false, retryAfterMs: outcome.retryAfterMs };
  };
  /** How many actions in a row would be allowed now, recording nothing. */
  const headroom = (key: string): number => actionsLeft(buckets.peek(key), clock.nowMs() / 1000, options);
  return {
    decide,
    peek,
    headroom,
    consume: decidedPerTurn(decide, options.nextTurn),
  };
}
