// The Redis limiter against a real redis-server: the Lua script decides exactly as
// Synapse's arithmetic in synapse-bucket.ts (same decisions, same retry_after_ms, same
// stored state) for any sequence of times; one key per user that expires once drained;
// one EVALSHA per turn of the event loop, whatever the number of decisions in it, and
// while one is in flight the next gathering behind it;
// bounded when Redis does not answer; a probe that fails exactly when users' decisions
// could not be recorded.

import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { createLogger } from '../../../src/logger.js';
import { createRedisClient, type RedisClient } from '../../../src/redis/client.js';
import { MAX_DECISIONS_PER_CALL, PROBE_KEY, probeKeyBeside, rateLimitKey, redisLimiter } from '../../../src/ratelimit/redis.js';
import { takeAction, type BucketState } from '../../../src/ratelimit/synapse-bucket.js';
import type { RateLimiter } from '../../../src/ratelimit/types.js';
import { adminConnection, commandCalls, storedBucket } from '../../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

let redis: RedisProcess;
let client: RedisClient;
/** A plain connection for inspecting and provoking Redis, outside the code under test. */
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  // Generous: a loaded test machine must not turn a slow answer into a failed test.
  client = createRedisClient({ url: { value: redis.url }, tls: false, commandTimeoutMs: 5000 }, { logger: createLogger('silent') });
  admin = adminConnection(redis.url);
  await waitFor(() => client.status === 'ready', { what: 'the client to connect' });
});

afterAll(async () => {
  client.disconnect();
  admin.disconnect();
  await redis.stop();
});

let keyCounter = 0;
const freshUser = () => `@user${(keyCounter += 1)}:example.org`;

/** Waits out a CLIENT PAUSE: until the limiter decides again. */
const untilDecidingAgain = (limiter: RateLimiter) =>
  waitFor(
    () =>
      limiter.consume(freshUser()).then(
        () => true,
        () => false,
      ),
    { what: 'Redis to answer again after the pause' },
  );

describe('redisLimiter', () => {
  test('the script decides exactly as synapse-bucket.ts for any sequence of times (same decision, retry_after_ms, state)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          // Rates up to 0.5/s keep every key alive (in real time) for at least 2 s between
          // the steps of one run, since the script's PEXPIRE counts real milliseconds.
          perSecond: fc.oneof(fc.constantFrom(0.1, 0.5, 0.001, 1 / 3), fc.double({ min: 0.0001, max: 0.5, noNaN: true })),
          burst: fc.integer({ min: 1, max: 12 }),
        }),
        fc.array(
          fc.oneof(
            fc.constant(0),
            fc.double({ min: 0, max: 40, noNaN: true }),
            fc.integer({ min: 0, max: 5000 }).map((ms) => ms / 1000),
          ),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        async (settings, gaps) => {
          const user = freshUser();
          const limiter = redisLimiter({ ...settings, client, timeoutMs: 5000 });
          let state: BucketState | undefined;
          let nowS = 1_700_000_000 + Math.random();
          for (const gap of gaps) {
            nowS += gap;
            const expected = takeAction(state, nowS, settings);
            if (expected.allowed) state = expected.state;
            const actual = await limiter.decideAt(user, nowS);
            expect(actual).toEqual(expected.allowed ? { allowed: true } : { allowed: false, retryAfterMs: expected.retryAfterMs });
            expect(await storedBucket(admin, rateLimitKey(user))).toEqual(state);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test('one call deciding for several keys (repeats included) decides as the arithmetic does, one after another', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ perSecond: fc.constantFrom(0.1, 0.5, 1 / 3), burst: fc.integer({ min: 1, max: 6 }) }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 40 }),
        async (settings, picks) => {
          const users = [freshUser(), freshUser(), freshUser()];
          const limiter = redisLimiter({ ...settings, client, timeoutMs: 5000 });
          const nowS = 1_700_000_000 + Math.random();
          const states = new Map<string, BucketState>();
          const expected = picks.map((pick) => {
            const user = users[pick]!;
            const outcome = takeAction(states.get(user), nowS, settings);
            if (outcome.allowed) states.set(user, outcome.state);
            return outcome.allowed ? { allowed: true } : { allowed: false, retryAfterMs: outcome.retryAfterMs };
          });
          expect(
            await limiter.decideAllAt(
              picks.map((pick) => users[pick]!),
              nowS,
            ),
          ).toEqual(expected);
          for (const [user, state] of states) {
            expect(await storedBucket(admin, rateLimitKey(user))).toEqual(state);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('decisions asked for in one turn travel as one script call (at most MAX_DECISIONS_PER_CALL keys each)', async () => {
    const limiter = redisLimiter({ perSecond: 0.001, burst: 5, client, timeoutMs: 5000 });
    const user = freshUser();
    await limiter.consume(freshUser());
    await admin.config('RESETSTAT');
    const together = await Promise.all([...Array.from({ length: 12 }, () => limiter.consume(user)), limiter.consume(freshUser())]);
    expect(together.slice(0, 12).map((d) => d.allowed)).toEqual([...Array<boolean>(5).fill(true), ...Array<boolean>(7).fill(false)]);
    expect(together[12]).toEqual({ allowed: true });
    expect(await commandCalls(admin, 'evalsha')).toBe(1);

    await admin.config('RESETSTAT');
    const many = await Promise.all(Array.from({ length: 2 * MAX_DECISIONS_PER_CALL + 1 }, () => limiter.consume(freshUser())));
    expect(many.every((d) => d.allowed)).toBe(true);
    expect(await commandCalls(admin, 'evalsha')).toBe(3);
  });

  test('while a call is in flight, the decisions asked in the turns after gather and leave as one call once it is answered', async () => {
    const limiter = redisLimiter({ perSecond: 1, burst: 100, client, timeoutMs: 5000 });
    await limiter.consume(freshUser());
    await admin.config('RESETSTAT');
    // Redis holds the first call for a while; each later decision is asked in a turn of its own.
    await admin.call('CLIENT', 'PAUSE', '300', 'ALL');
    const decisions = [limiter.consume(freshUser())];
    for (let turn = 0; turn < 3; turn += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      decisions.push(limiter.consume(freshUser()));
    }
    expect(await Promise.all(decisions)).toEqual(Array(4).fill({ allowed: true }));
    expect(await commandCalls(admin, 'evalsha')).toBe(2);
  });

  test('the decisions gathered behind a call that fails fail with it, with its error, and are never sent', async () => {
    const limiter = redisLimiter({ perSecond: 1, burst: 10, client, timeoutMs: 250 });
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const first = limiter.consume(freshUser());
    await new Promise((resolve) => setImmediate(resolve));
    const gathered = [limiter.consume(freshUser()), limiter.consume(freshUser())];
    const [firstOutcome, ...gatheredOutcomes] = await Promise.allSettled([first, ...gathered]);
    expect(firstOutcome.status).toBe('rejected');
    const reason = (firstOutcome as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(/timed out|longer than/i);
    for (const outcome of gatheredOutcomes) expect(outcome).toEqual({ status: 'rejected', reason });
    await untilDecidingAgain(limiter);
  });

  test('one key per user, a short string that expires when the bucket has drained', async () => {
    const user = freshUser();
    const limiter = redisLimiter({ perSecond: 0.1, burst: 10, client, timeoutMs: 5000 });
    for (let i = 0; i < 3; i += 1) expect(await limiter.consume(user)).toEqual({ allowed: true });
    expect(await admin.keys(`*${user}*`)).toEqual([`mtc:rl:v2:{${user}}`]);
    expect(await admin.type(rateLimitKey(user))).toBe('string');
    expect(await storedBucket(admin, rateLimitKey(user))).toMatchObject({ actionCount: 3 });
    // Three actions leak out at 0.1/s: 30 s.
    const ttlMs = await admin.pttl(rateLimitKey(user));
    expect(ttlMs).toBeGreaterThan(25_000);
    expect(ttlMs).toBeLessThanOrEqual(30_000);
  });

  test('a bucket of an earlier version (a hash under mtc:rl:{…}) is never read nor touched: a rolling upgrade decides on', async () => {
    const user = freshUser();
    await admin.hset(`mtc:rl:{${user}}`, 'c', '4', 't', String(Date.now() / 1000));
    const limiter = redisLimiter({ perSecond: 0.1, burst: 4, client, timeoutMs: 5000 });
    expect(await limiter.consume(user)).toEqual({ allowed: true });
    expect(await storedBucket(admin, rateLimitKey(user))).toMatchObject({ actionCount: 1 });
    expect(await admin.hget(`mtc:rl:{${user}}`, 'c')).toBe('4');
  });

  test('exactly burst allowed, then refusals with the time until one action has leaked out; a refusal writes nothing', async () => {
    const user = freshUser();
    const limiter = redisLimiter({ perSecond: 0.1, burst: 4, client, timeoutMs: 5000 });
    const decisions = [];
    for (let i = 0; i < 4; i += 1) decisions.push(await limiter.consume(user));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    const before = await admin.get(rateLimitKey(user));
    const denied = await limiter.consume(user);
    expect(denied.allowed).toBe(false);
    if (denied.allowed) return;
    // One action leaks out 10 s after the first; a little of that has passed.
    expect(denied.retryAfterMs).toBeGreaterThan(8_000);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(10_000);
    expect(await admin.get(rateLimitKey(user))).toBe(before);
  });

  test('replicas with separate connections share one limit', async () => {
    const user = freshUser();
    const other = createRedisClient({ url: { value: redis.url }, tls: false, commandTimeoutMs: 5000 }, { logger: createLogger('silent') });
    try {
      await waitFor(() => other.status === 'ready', { what: 'the second client to connect' });
      const a = redisLimiter({ perSecond: 0.001, burst: 5, client, timeoutMs: 5000 });
      const b = redisLimiter({ perSecond: 0.001, burst: 5, client: other, timeoutMs: 5000 });
      const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume(user)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    } finally {
      other.disconnect();
    }
  });

  test('one EVALSHA per decision made alone; after SCRIPT FLUSH (a restarted Redis) the script is sent once more', async () => {
    const limiter = redisLimiter({ perSecond: 1, burst: 100, client, timeoutMs: 5000 });
    await limiter.consume(freshUser());
    await admin.config('RESETSTAT');
    for (let i = 0; i < 10; i += 1) await limiter.consume(freshUser());
    expect(await commandCalls(admin, 'evalsha')).toBe(10);
    expect(await commandCalls(admin, 'eval')).toBe(0);
    await admin.script('FLUSH');
    await admin.config('RESETSTAT');
    for (let i = 0; i < 10; i += 1) expect(await limiter.consume(freshUser())).toEqual({ allowed: true });
    expect(await commandCalls(admin, 'eval')).toBe(1);
    expect(await commandCalls(admin, 'evalsha')).toBe(10);
  });

  test(
    "probe(user) records a decision beside the user's bucket (its hash tag), never in it, " + "however full the probe's own bucket",
    async () => {
      const user = freshUser();
      const limiter = redisLimiter({ perSecond: 0.001, burst: 2, client, timeoutMs: 5000 });
      // The probe's bucket as decisions with the users' settings leave it: full.
      await limiter.consume(PROBE_KEY);
      await limiter.consume(PROBE_KEY);
      expect(await limiter.consume(PROBE_KEY)).toMatchObject({ allowed: false });
      await admin.config('RESETSTAT');
      await expect(limiter.probe(user)).resolves.toBeUndefined();
      await expect(limiter.probe()).resolves.toBeUndefined();
      expect(await commandCalls(admin, 'evalsha')).toBe(3);
      expect(await admin.exists(rateLimitKey(user))).toBe(0);
      expect(probeKeyBeside(user).startsWith(`mtc:rl:v2:{${user}}`)).toBe(true);
    },
  );

  test('probe() fails while Redis refuses writes (out of memory), whatever its bucket holds; passes once it accepts them', async () => {
    const limiter = redisLimiter({ perSecond: 0.001, burst: 2, client, timeoutMs: 5000 });
    const user = freshUser();
    await limiter.consume(user);
    await limiter.consume(PROBE_KEY);
    await limiter.consume(PROBE_KEY);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      // A limited decision writes nothing and passes; the probe does not.
      expect(await limiter.consume(PROBE_KEY)).toMatchObject({ allowed: false });
      await expect(limiter.probe()).rejects.toThrow(/OOM/);
      await expect(limiter.probe(user)).rejects.toThrow(/OOM/);
      await expect(limiter.consume(freshUser())).rejects.toThrow(/OOM/);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await expect(limiter.probe(user)).resolves.toBeUndefined();
  });

  test("with the client's own command timeout within the limiter's, that timeout alone bounds a decision", async () => {
    const bounded = createRedisClient({ url: { value: redis.url }, tls: false, commandTimeoutMs: 250 }, { logger: createLogger('silent') });
    try {
      await waitFor(() => bounded.status === 'ready', { what: 'the client to connect' });
      const limiter = redisLimiter({ perSecond: 1, burst: 10, client: bounded, timeoutMs: 250 });
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const startedMs = Date.now();
      await expect(limiter.consume(freshUser())).rejects.toThrow(/timed out/i);
      expect(Date.now() - startedMs).toBeLessThan(1000);
      await untilDecidingAgain(limiter);
    } finally {
      bounded.disconnect();
    }
  });

  test('when the call for a turn fails, every decision in it fails (each request then goes to the fallback)', async () => {
    const limiter = redisLimiter({ perSecond: 1, burst: 10, client, timeoutMs: 250 });
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.consume(freshUser())));
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill('rejected'));
    await untilDecidingAgain(limiter);
  });

  test('a Redis that does not answer fails the decision after the timeout, without waiting for Redis', async () => {
    const limiter = redisLimiter({ perSecond: 1, burst: 10, client, timeoutMs: 250 });
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const startedMs = Date.now();
    await expect(limiter.consume(freshUser())).rejects.toThrow(/timed out|longer than/i);
    expect(Date.now() - startedMs).toBeLessThan(1000);
    await untilDecidingAgain(limiter);
  });
});
