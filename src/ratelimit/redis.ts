// The Redis limiter: one limit per user for every replica. A Lua script runs Synapse's
// bucket arithmetic (synapse-bucket.ts, the same operations in the same order) atomically
// on one key per user, reading the clock with redis.call('TIME') so replicas' clocks
// never disagree. State is one string, the count and the start time, that expires on its
// own once the bucket has drained; a denial writes nothing. Failures (unreachable, timed
// out, an error reply) reject: fallback.ts decides what then.
//
// The decisions asked for in one turn of the event loop travel together: one EVALSHA
// with one key per decision, in the order asked, so N concurrent requests cost Redis and
// this process one command instead of N. While a batch is in flight the next one gathers
// and leaves when that answer is in (group commit): under load each call carries more
// decisions and the calls, their writes and Redis's per-call work grow fewer, at the cost
// of at most one round trip of waiting; a decision that waited for a batch that failed is
// failed with it, at once, as it would have gone to the same Redis. A Cluster spreads
// buckets over slots a script cannot span, so there each decision is its own call
// (ioredis pipelines those per node).
//
// The fallback's probe is the same script, run so that it always allows and so always
// writes: it fails exactly when Redis would refuse users' allowed decisions (out of memory,
// a read-only replica), whatever its own bucket holds.

import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import { withTimeout, type RedisClient } from '../redis/client.js';
import { MAX_RETRY_AFTER_MS } from './synapse-bucket.js';
import { ALLOWED, type RateDecision, type RateLimiter, type RateLimitSettings } from './types.js';

/**
 * KEYS: one user's bucket per decision (a key may appear more than once: its decisions
 * are made in turn). ARGV: per_second, burst_count, the longest retry advised in ms, and
 * optionally a time in seconds to decide at instead of TIME: a test seam (decideAt,
 * decideAllAt), so a test can hold the script to synapse-bucket.ts at moments it chooses.
 * The service never passes it: every decision it makes reads Redis's clock.
 * Returns {allowed_1, retry_after_ms_1, allowed_2, ...}: {1, 0} when allowed, {0, ms} when not.
 *
 * A bucket is the string "<count> <start>", written with SET … PX: two commands a decision
 * (GET, SET) where a hash took three (HMGET, HSET, PEXPIRE): Redis spends about a quarter
 * less on a call (27 decisions: 130-175 µs against 179-224, medians 137 and 193, from INFO
 * commandstats over 2000-3000 calls, on the 2-core bench machine). Numbers are written
 * with %.17g so they read back as the very same doubles (Lua's tostring keeps only 14
 * digits, which would move the start time by up to 0.1 ms).
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
local function decide(key)
  local stored = redis.call('GET', key)
  local count, start
  if stored then
    local c, t = string.match(stored, '^(%S+) (%S+)$')
    count = tonumber(c)
    start = tonumber(t)
  end
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
    if rate <= 0 then return 0, max_retry_ms end
    local allowed_at = start + (count - burst + 1) / rate
    if allowed_at < now then allowed_at = now end
    local retry_ms = math.floor(1000 * (allowed_at - now))
    if retry_ms > max_retry_ms then retry_ms = max_retry_ms end
    return 0, retry_ms
  end
  count = count + 1
  local value = string.format('%.17g %.17g', count, start)
  if rate > 0 then
    local idle_ms = math.ceil((start + count / rate - now) * 1000)
    if idle_ms < 1 then idle_ms = 1 end
    redis.call('SET', key, value, 'PX', idle_ms)
  else
    redis.call('SET', key, value)
  end
  return 1, 0
end
local replies = {}
for i = 1, #KEYS do
  local allowed, retry_ms = decide(KEYS[i])
  replies[2 * i - 1] = allowed
  replies[2 * i] = retry_ms
end
return replies
`;

export const RATE_LIMIT_SCRIPT_SHA = createHash('sha1').update(RATE_LIMIT_SCRIPT).digest('hex');

/** Most decisions one script call makes: bounds how long it holds Redis (well under a millisecond). */
export const MAX_DECISIONS_PER_CALL = 128;

/**
 * The user's bucket. The hash tag is the user id, so Redis Cluster places it by user.
 * "v2": the string form; versions before it kept a hash under `mtc:rl:{…}`, which this
 * script never reads, so during a rolling upgrade the two kinds of replica each count in
 * their own bucket (at most twice the burst, until the upgrade is done) instead of one
 * failing on the other's keys. The old keys expire as their buckets drain.
 */
export function rateLimitKey(userId: string): string {
  return `mtc:rl:v2:{${userId}}`;
}

/** The bucket the probe decides on: no user has it (user ids start with "@"). */
export const PROBE_KEY = 'mtc-probe';

/** Beside `userId`'s bucket (the same hash tag, so the same Cluster slot), and never a bucket. */
export function probeKeyBeside(userId: string): string {
  return `${rateLimitKey(userId)}:probe`;
}

/**
 * The probe's settings: so many actions a second that any earlier count has leaked away by
 * the next call, and a burst no count reaches. Each probe is then an allowed decision,
 * which writes the bucket (and expires it 1 ms later).
 */
const PROBE_SETTINGS = ['1e9', '1e9', String(MAX_RETRY_AFTER_MS)];

export interface RedisLimiterOptions extends RateLimitSettings {
  client: RedisClient;
  /** Longest wait for one decision, in milliseconds (REDIS_COMMAND_TIMEOUT_MS). */
  timeoutMs: number;
}

export interface RedisLimiter extends RateLimiter {
  /**
   * Test seam, never called by the service: one decision at an explicit time in seconds
   * instead of Redis's clock (the script's optional ARGV[4]), so a test can compare the
   * script with synapse-bucket.ts at the moments it chooses.
   */
  decideAt(key: string, nowS: number): Promise<RateDecision>;
  /** Test seam, never called by the service: one script call deciding for each key in turn at an explicit time, as decideAt. */
  decideAllAt(keys: readonly string[], nowS: number): Promise<RateDecision[]>;
  /**
   * Resolves only if Redis records an allowed decision now: one on the probe's own bucket
   * and, given a user, one beside that user's bucket (in a Cluster, on the master holding
   * it). No user's bucket is touched.
   */
  probe(userId?: string): Promise<void>;
}

export function redisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const { client, timeoutMs } = options;
  const settings = [String(options.perSecond), String(options.burst), String(MAX_RETRY_AFTER_MS)];
  const cluster = client instanceof Cluster;
  // A standalone or Sentinel client whose commandTimeout is within ours already fails a
  // call in time: a second timer would only cost. In a Cluster, redirections and retries
  // happen outside the per-node timer, so each call gets a deadline of its own.
  const clientTimeoutMs = cluster ? undefined : client.options.commandTimeout;
  const ownDeadline = clientTimeoutMs === undefined || clientTimeoutMs > timeoutMs;

  /** One script call deciding for each of `keys` in turn. */
  const decide = (keys: readonly string[], args: readonly string[]): Promise<RateDecision[]> => {
    const toDecisions = (reply: unknown) => decisionsOf(reply, keys.length);
    // The SHA is known in advance; only after a Redis restart or failover (NOSCRIPT)
    // does the script text travel, once per server.
    const decisions = client.evalsha(RATE_LIMIT_SCRIPT_SHA, keys.length, ...keys, ...args).then(toDecisions, (error: unknown) => {
      if (!String((error as { message?: unknown } | null)?.message).startsWith('NOSCRIPT')) throw error;
      return client.eval(RATE_LIMIT_SCRIPT, keys.length, ...keys, ...args).then(toDecisions);
    });
    return ownDeadline ? withTimeout(decisions, timeoutMs, 'rate limit script') : decisions;
  };
  const decideAlone = (key: string, args: readonly string[]) => decide([rateLimitKey(key)], args).then(([decision]) => decision!);

  interface Pending {
    readonly key: string;
    resolve(decision: RateDecision): void;
    reject(error: unknown): void;
  }
  let queued: Pending[] = [];
  /** Script calls of the batch in flight not yet answered; 0: none in flight. */
  let unanswered = 0;
  /** Set when a call of the batch in flight failed: what the decisions gathered meanwhile fail with. */
  let failure: { error: unknown } | undefined;
  const send = (batch: Pending[]) => {
    decide(
      batch.map((pending) => pending.key),
      settings,
    )
      .then(
        (decisions) => batch.forEach((pending, i) => pending.resolve(decisions[i]!)),
        (error: unknown) => {
          failure ??= { error };
          batch.forEach((pending) => pending.reject(error));
        },
      )
      .finally(batchAnswered);
  };
  // After the poll phase: every request read in this turn has asked by then.
  const sendQueued = () => {
    const batch = queued;
    queued = [];
    for (let start = 0; start < batch.length; start += MAX_DECISIONS_PER_CALL) {
      unanswered += 1;
      send(batch.slice(start, start + MAX_DECISIONS_PER_CALL));
    }
  };
  const batchAnswered = () => {
    unanswered -= 1;
    if (unanswered > 0) return;
    const failed = failure;
    failure = undefined;
    if (failed !== undefined) {
      const waited = queued;
      queued = [];
      for (const pending of waited) pending.reject(failed.error);
    } else if (queued.length > 0) {
      setImmediate(sendQueued);
    }
  };

  return {
    consume(key) {
      if (cluster) return decideAlone(key, settings);
      return new Promise<RateDecision>((resolve, reject) => {
        if (queued.length === 0 && unanswered === 0) setImmediate(sendQueued);
        queued.push({ key: rateLimitKey(key), resolve, reject });
      });
    },
    decideAt: (key, nowS) => decideAlone(key, [...settings, String(nowS)]),
    decideAllAt: (keys, nowS) => decide(keys.map(rateLimitKey), [...settings, String(nowS)]),
    async probe(userId) {
      const write = (key: string) =>
        decide([key], PROBE_SETTINGS).then(([decision]) => {
          if (!decision!.allowed) throw new Error('the probe was denied a decision it can never be denied');
        });
      await Promise.all([write(rateLimitKey(PROBE_KEY)), userId === undefined ? undefined : write(probeKeyBeside(userId))]);
    },
  };
}

function decisionsOf(reply: unknown, expected: number): RateDecision[] {
  if (!Array.isArray(reply) || reply.length !== 2 * expected || !reply.every((n) => typeof n === 'number')) {
    throw new Error('unexpected reply from the rate limit script');
  }
  const decisions: RateDecision[] = [];
  for (let i = 0; i < reply.length; i += 2)
    decisions.push(reply[i] === 1 ? ALLOWED : { allowed: false, retryAfterMs: reply[i + 1] as number });
  return decisions;
}
