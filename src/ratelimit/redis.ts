// The Redis limiter: one limit per user for every replica. Each decision is one EVALSHA
// of a Lua script that runs Synapse's bucket arithmetic (synapse-bucket.ts, the same
// operations in the same order) atomically on one key per user, reading the clock with
// redis.call('TIME') so replicas' clocks never disagree. State is a two-field hash
// (count, start) that expires on its own once the bucket has drained; a denial writes
// nothing. Failures (unreachable, timed out, an error reply) reject: fallback.ts decides
// what then.

import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import { withTimeout, type RedisClient } from '../redis-client.js';
import { MAX_RETRY_AFTER_MS } from './synapse-bucket.js';
import { ALLOWED, type RateDecision, type RateLimiter, type RateLimitSettings } from './types.js';

/**
 * KEYS[1] the user's bucket; ARGV: per_second, burst_count, the longest retry advised in
 * ms, and (tests only) the time in seconds to use instead of TIME.
 * Returns {1, 0} when allowed, {0, retry_after_ms} when not.
 *
 * Numbers are stored with %.17g so they read back as the very same doubles (Lua's
 * tostring keeps only 14 digits, which would move the start time by up to 0.1 ms).
 */
export const RATE_LIMIT_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_retry_ms = tonumber(ARGV[3])
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local stored = redis.call('HMGET', KEYS[1], 'c', 't')
local count = tonumber(stored[1])
local start = tonumber(stored[2])
if count == nil or start == nil then
  count = 0
  start = now
end
local elapsed = now - start
if elapsed < 0 then elapsed = 0 end
local performed = count - elapsed * rate
if performed < 0 then
  performed = 0
  count = 0
  start = now
end
if performed > burst - 1 then
  if rate <= 0 then return {0, max_retry_ms} end
  local allowed_at = start + (count - burst + 1) / rate
  if allowed_at < now then allowed_at = now end
  local retry_ms = math.floor(1000 * (allowed_at - now))
  if retry_ms > max_retry_ms then retry_ms = max_retry_ms end
  return {0, retry_ms}
end
count = count + 1
redis.call('HSET', KEYS[1], 'c', string.format('%.17g', count), 't', string.format('%.17g', start))
if rate > 0 then
  local idle_ms = math.ceil((start + count / rate - now) * 1000)
  if idle_ms < 1 then idle_ms = 1 end
  redis.call('PEXPIRE', KEYS[1], idle_ms)
end
return {1, 0}
`;

export const RATE_LIMIT_SCRIPT_SHA = createHash('sha1').update(RATE_LIMIT_SCRIPT).digest('hex');

/** The user's bucket. The hash tag is the user id, so Redis Cluster places it by user. */
export function rateLimitKey(userId: string): string {
  return `mtc:rl:{${userId}}`;
}

export interface RedisLimiterOptions extends RateLimitSettings {
  client: RedisClient;
  /** Longest wait for one decision, in milliseconds (REDIS_COMMAND_TIMEOUT_MS). */
  timeoutMs: number;
}

export interface RedisLimiter extends RateLimiter {
  /** One decision at an explicit time in seconds instead of Redis's clock: for tests. */
  decideAt(key: string, nowS: number): Promise<RateDecision>;
  /** Resolves when the server holding `key`'s bucket answers; records nothing. */
  reachable(key: string): Promise<void>;
}

export function redisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const { client, timeoutMs } = options;
  const settings = [String(options.perSecond), String(options.burst), String(MAX_RETRY_AFTER_MS)];
  // A standalone or Sentinel client whose commandTimeout is within ours already fails a
  // decision in time: a second timer per request would only cost. In a Cluster,
  // redirections and retries happen outside the per-node timer, so the decision gets a
  // deadline of its own.
  const clientTimeoutMs = client instanceof Cluster ? undefined : client.options.commandTimeout;
  const ownDeadline = clientTimeoutMs === undefined || clientTimeoutMs > timeoutMs;

  const decide = (redisKey: string, args: readonly string[]): Promise<RateDecision> => {
    // The SHA is known in advance; only after a Redis restart or failover (NOSCRIPT)
    // does the script text travel, once per server.
    const decision = client.evalsha(RATE_LIMIT_SCRIPT_SHA, 1, redisKey, ...args).then(toDecision, (error: unknown) => {
      if (!String((error as { message?: unknown } | null)?.message).startsWith('NOSCRIPT')) throw error;
      return client.eval(RATE_LIMIT_SCRIPT, 1, redisKey, ...args).then(toDecision);
    });
    return ownDeadline ? withTimeout(decision, timeoutMs, 'rate limit script') : decision;
  };

  return {
    consume: (key) => decide(rateLimitKey(key), settings),
    decideAt: (key, nowS) => decide(rateLimitKey(key), [...settings, String(nowS)]),
    async reachable(key) {
      await withTimeout(client.exists(rateLimitKey(key)), timeoutMs, 'reachability check');
    },
  };
}

function toDecision(reply: unknown): RateDecision {
  if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
    throw new Error('unexpected reply from the rate limit script');
  }
  return reply[0] === 1 ? ALLOWED : { allowed: false, retryAfterMs: reply[1] };
}
