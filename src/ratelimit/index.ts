// Builds the per-user rate limiter. Without Redis: the in-process limiter (one replica's
// view). With the Redis client the composition root hands in: the shared Redis limiter
// behind the fallback that keeps answering while Redis is away. close() releases the
// limiter's own timers; the client belongs to the composition root, which closes it after.

import type { Clock, Timers } from '../clock.js';
import type { Health } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../redis/client.js';
import { withRedisFallback, type RedisErrorPolicy } from './fallback.js';
import { memoryLimiter } from './memory.js';
import { redisLimiter } from './redis.js';
import type { RateLimiter, RateLimitSettings } from './types.js';

export interface RateLimiterOptions extends RateLimitSettings {
  /** What decides while Redis cannot (unused without Redis). */
  readonly onRedisError: RedisErrorPolicy;
}

export interface RateLimiterDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** What the fallback's probe runs on; default Node's. */
  timers?: Timers;
  health: Health;
  /** The process's Redis client and the longest a decision may wait on it, in milliseconds; absent: in-process limits. */
  redis?: { readonly client: RedisClient; readonly timeoutMs: number };
}

export function createRateLimiter(options: RateLimiterOptions, deps: RateLimiterDeps): RateLimiter {
  const settings = { perSecond: options.perSecond, burst: options.burst };
  const local = memoryLimiter({ ...settings, clock: deps.clock });
  if (deps.redis === undefined) {
    deps.health.register('ratelimit', () => ({ ready: true, degraded: false, detail: 'in-process limiter (one replica)' }));
    return local;
  }
  const { client, timeoutMs } = deps.redis;
  const shared = redisLimiter({ ...settings, client, timeoutMs });
  return withRedisFallback({
    primary: shared,
    // A write (the script) anywhere, and on the failed user's own server (its slot, in a Cluster).
    probe: (failedKey) => shared.probe(failedKey),
    connection: client,
    reconnect: () => client.disconnect(true),
    policy: options.onRedisError,
    local,
    metrics: deps.metrics,
    health: deps.health,
    logger: deps.logger,
    clock: deps.clock,
    timers: deps.timers,
  });
}
