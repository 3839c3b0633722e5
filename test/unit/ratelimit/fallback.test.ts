// The fallback around the Redis limiter, against a real redis-server that the tests kill,
// restart, pause and run out of memory: decisions keep coming (local, allow or deny),
// nothing waits on a dead or silent Redis, the state shows in matrix_turn_redis_up and the
// 'redis' health component, each transition is logged once (the end with the outage's
// figures), and the shared limit returns by itself, after two successful probes in a row
// (checked on a scripted probe and connection too, every path back to 'up'). The probe
// timer runs on a manual clock: a test moves it to run the next probe and awaits that
// probe's answer from Redis; what is awaited for real is Redis and the connection.

import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import type { RedisErrorPolicy } from '../../../src/config/index.js';
import { createHealth, type Health } from '../../../src/health.js';
import { MatrixError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { withRedisFallback } from '../../../src/ratelimit/fallback.js';
import { memoryLimiter } from '../../../src/ratelimit/memory.js';
import { PROBE_KEY, redisLimiter } from '../../../src/ratelimit/redis.js';
import type { RateLimiter } from '../../../src/ratelimit/types.js';
import { createRedisClient, type RedisClient } from '../../../src/redis/client.js';
import { manualClock, type ManualClock } from '../../helpers/clock.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';
import { adminConnection, storedBucket } from '../../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../../helpers/redis.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { waitFor } from '../../helpers/wait.js';

const BURST = 3;
const TIMEOUT_MS = 1000;
const PROBE_INTERVAL_MS = 100;

interface Stack {
  limiter: RateLimiter;
  client: RedisClient;
  /** Probes started so far. */
  probes(): number;
  /** Resolves once the last probe started has been answered and the fallback has taken its outcome in. */
  probeSettled(): Promise<void>;
  /** Runs the fallback's probe timer (and the in-process limiter's time). */
  clock: ManualClock;
  registry: Registry;
  health: Health;
  logs: CapturedLogs;
  close(): Promise<void>;
}

function buildStack(redis: RedisProcess, policy: RedisErrorPolicy, url = redis.url): Stack {
  const logs = captureLogs();
  const logger = createLogger('debug', logs.stream);
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false, redis: true });
  const health = createHealth();
  // Long enough that a loaded test machine does not fake an outage; short next to the pauses.
  const client = createRedisClient({ url: { value: url }, tls: false, commandTimeoutMs: TIMEOUT_MS }, { logger });
  const settings = { perSecond: 0.001, burst: BURST };
  const shared = redisLimiter({ ...settings, client, timeoutMs: TIMEOUT_MS });
  const clock = manualClock();
  let probes = 0;
  let lastProbe: Promise<unknown> = Promise.resolve();
  const limiter = withRedisFallback({
    primary: shared,
    probe: (failedKey) => {
      probes += 1;
      return (lastProbe = shared.probe(failedKey));
    },
    connection: client,
    reconnect: () => client.disconnect(true),
    policy,
    local: memoryLimiter({ ...settings, clock }),
    metrics,
    health,
    logger,
    clock,
    timers: clock,
    probeIntervalMs: PROBE_INTERVAL_MS,
  });
  return {
    limiter,
    client,
    probes: () => probes,
    async probeSettled() {
      await lastProbe.catch(() => undefined);
      // The fallback's own handlers of the outcome, queued before this one, have run by the next turn.
      await new Promise((resolve) => setImmediate(resolve));
    },
    clock,
    registry,
    health,
    logs,
    async close() {
      await limiter.close?.();
      client.disconnect();
    },
  };
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values[0]?.value;
}

const logged = (logs: CapturedLogs, pattern: RegExp) => logs.entries().filter((e) => pattern.test(String(e.msg)));
const isUp = (stack: Stack) => async () => (await gauge(stack.registry, 'matrix_turn_redis_up')) === 1;
const isDown = (stack: Stack) => async () => (await gauge(stack.registry, 'matrix_turn_redis_up')) === 0;

/**
 * Brings the probes on until Redis is up, as the probe timer would: while the client is
 * (re)connecting, on ioredis's own backoff, it waits for 'ready', whose probe counts; once
 * connected, each round is the timer's turn, and waits for that probe's answer.
 */
async function probeUntilUp(s: Stack, what: string): Promise<void> {
  const rounds = 20;
  for (let round = 0; round < rounds; round += 1) {
    if (await isUp(s)()) return;
    if (s.client.status === 'ready') s.clock.advance(PROBE_INTERVAL_MS);
    else await new Promise((resolve) => s.client.once('ready', resolve));
    await s.probeSettled();
  }
  throw new Error(`matrix_turn_redis_up still 0 after ${rounds} probes: ${what}`);
}

let counter = 0;
const freshUser = () => `@fallback${(counter += 1)}:example.org`;

/** Times one decision; rejects are returned, not thrown. */
async function timed(limiter: RateLimiter, key: string) {
  const startedMs = Date.now();
  const outcome = await limiter.consume(key).then(
    (decision) => ({ decision }),
    (error: unknown) => ({ error }),
  );
  return { ...outcome, ms: Date.now() - startedMs };
}

describe('withRedisFallback', () => {
  let redis: RedisProcess;
  let stack: Stack | undefined;

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    await redis.stop();
  });

  test('local: Redis killed, each replica limits alone at once; Redis back, the shared limit returns without a restart', async () => {
    const s = (stack = buildStack(redis, 'local'));
    await probeUntilUp(s, 'matrix_turn_redis_up 1');
    expect(s.health.report()).toMatchObject({ ready: true, status: 'ready', components: { redis: { degraded: false } } });
    expect(await gauge(s.registry, 'matrix_turn_rate_limit_fallback_active')).toBe(0);

    const user = freshUser();
    expect((await s.limiter.consume(user)).allowed).toBe(true);

    await redis.kill();
    await waitFor(isDown(s), { what: 'matrix_turn_redis_up 0 after SIGKILL' });
    expect(await gauge(s.registry, 'matrix_turn_rate_limit_fallback_active')).toBe(1);
    const report = s.health.report();
    expect(report).toMatchObject({ ready: true, status: 'degraded', components: { redis: { ready: true, degraded: true } } });
    expect(report.components.redis!.detail).toMatch(/unreachable.*RATE_LIMIT_ON_REDIS_ERROR=local/);

    // The in-process limiter knows nothing of the action recorded in Redis: BURST more.
    const during = [];
    for (let i = 0; i < BURST + 2; i += 1) during.push(await timed(s.limiter, user));
    expect(during.map((d) => ('decision' in d ? d.decision.allowed : 'error'))).toEqual([true, true, true, false, false]);
    // Decided in-process: no Redis timeout was waited for.
    expect(Math.max(...during.map((d) => d.ms))).toBeLessThan(TIMEOUT_MS);

    await redis.restart();
    await probeUntilUp(s, 'matrix_turn_redis_up 1 after the restart');
    const after = freshUser();
    const decisions = await Promise.all(Array.from({ length: BURST * 3 }, () => s.limiter.consume(after)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(BURST);
    // Redis's own count: the shared limit is what decided.
    const admin = adminConnection(redis.url);
    expect(await storedBucket(admin, `mtc:rl:v2:{${after}}`)).toMatchObject({ actionCount: BURST });
    admin.disconnect();

    expect(logged(s.logs, /^redis unreachable/)).toHaveLength(1);
    expect(logged(s.logs, /^redis reachable/)).toHaveLength(2);
    expect(s.logs.entries().filter((e) => e.level === 'warn')).toHaveLength(1);
  });

  test('allow: while Redis is down nobody is limited', async () => {
    const s = (stack = buildStack(redis, 'allow'));
    await probeUntilUp(s, 'matrix_turn_redis_up 1');
    await redis.kill();
    await waitFor(isDown(s), { what: 'matrix_turn_redis_up 0' });
    const user = freshUser();
    const decisions = await Promise.all(Array.from({ length: BURST * 4 }, () => s.limiter.consume(user)));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(s.health.report().components.redis!.detail).toMatch(/not limited/);
  });

  test('deny: while Redis is down every request gets 503 M_UNKNOWN with Retry-After, never a 500', async () => {
    const s = (stack = buildStack(redis, 'deny'));
    await probeUntilUp(s, 'matrix_turn_redis_up 1');
    await redis.kill();
    await waitFor(isDown(s), { what: 'matrix_turn_redis_up 0' });
    const { error } = (await timed(s.limiter, freshUser())) as { error: unknown };
    expect(error).toBeInstanceOf(MatrixError);
    const matrixError = error as MatrixError;
    expect(matrixError.status).toBe(503);
    expect(matrixError.body()).toEqual({ errcode: 'M_UNKNOWN', error: expect.any(String) });
    expect(Number(matrixError.headers['Retry-After'])).toBeGreaterThan(0);
    // The outage is logged here, once: the error step logs each 503 at debug only.
    expect(matrixError.reported).toBe(true);
    expect(s.health.report().ready).toBe(true);
  });

  test('out of memory: the probe fails whatever its own bucket holds; no flapping; memory back: shared again, with figures', async () => {
    const s = (stack = buildStack(redis, 'local'));
    await probeUntilUp(s, 'matrix_turn_redis_up 1');
    const admin = adminConnection(redis.url);
    try {
      // The probe's bucket full, as BURST decisions with the users' settings leave it:
      // a decision there is a denial, which writes nothing and would pass.
      const users = redisLimiter({ perSecond: 0.001, burst: BURST, client: s.client, timeoutMs: TIMEOUT_MS });
      for (let i = 0; i < BURST; i += 1) await users.consume(PROBE_KEY);
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      expect(await timed(s.limiter, freshUser())).toMatchObject({ decision: { allowed: true } });
      expect(await gauge(s.registry, 'matrix_turn_redis_up')).toBe(0);
      const atOom = s.probes();
      // Ten probes while out of memory, each answered, the state read after each.
      const states: (number | undefined)[] = [];
      for (let i = 0; i < 10; i += 1) {
        s.clock.advance(PROBE_INTERVAL_MS);
        await s.probeSettled();
        states.push(await gauge(s.registry, 'matrix_turn_redis_up'));
      }
      expect(s.probes()).toBe(atOom + 10);
      expect(states.filter((up) => up !== 0)).toEqual([]);
      for (let i = 0; i < 4; i += 1) await s.limiter.consume(freshUser());
      expect(logged(s.logs, /^redis unreachable/)).toHaveLength(1);
      expect(logged(s.logs, /^redis unreachable/)[0]!.reason).toMatch(/OOM/);
      expect(logged(s.logs, /^redis reachable/)).toHaveLength(1);

      await admin.config('SET', 'maxmemory', '0');
      await probeUntilUp(s, 'matrix_turn_redis_up 1 once writes are accepted');
      const back = logged(s.logs, /^redis reachable/)[1]!;
      expect(back).toMatchObject({ level: 'info', policy: 'local', fallbackDecisions: 5, fallbackRefusals: 0 });
      expect(back.downForMs).toBeGreaterThan(0);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
  });

  test('a Redis that stops answering: one decision waits the timeout, the next ones none; answers again, shared again', async () => {
    const s = (stack = buildStack(redis, 'local'));
    await probeUntilUp(s, 'matrix_turn_redis_up 1');
    const admin = adminConnection(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', String(TIMEOUT_MS * 4), 'ALL');
      const first = await timed(s.limiter, freshUser());
      expect(first).toMatchObject({ decision: { allowed: true } });
      expect(first.ms).toBeLessThan(TIMEOUT_MS * 3);
      expect(await gauge(s.registry, 'matrix_turn_redis_up')).toBe(0);
      const next = await Promise.all(Array.from({ length: 10 }, () => timed(s.limiter, freshUser())));
      expect(next.every((n) => 'decision' in n && n.decision.allowed)).toBe(true);
      expect(Math.max(...next.map((n) => n.ms))).toBeLessThan(TIMEOUT_MS);
      // Answered once Redis's pause is over.
      await admin.ping();
      await probeUntilUp(s, 'matrix_turn_redis_up 1 after the pause');
      expect(logged(s.logs, /^redis unreachable/)).toHaveLength(1);
      expect(logged(s.logs, /^redis unreachable/)[0]!.reason).toMatch(/longer than|timed out/i);
    } finally {
      admin.disconnect();
    }
  });

  test('a connection that goes silent without closing (half-open) is dropped and replaced; shared again', async () => {
    const proxy = await startTcpProxy(redis.port);
    try {
      const s = (stack = buildStack(redis, 'local', `redis://127.0.0.1:${proxy.port}`));
      await probeUntilUp(s, 'matrix_turn_redis_up 1 through the proxy');
      const connectionsBefore = proxy.accepted;
      proxy.freezeExisting();
      expect(await timed(s.limiter, freshUser())).toMatchObject({ decision: { allowed: true } });
      expect(await gauge(s.registry, 'matrix_turn_redis_up')).toBe(0);
      // TCP would never tell: only the timed-out probe makes the client reconnect.
      await probeUntilUp(s, 'matrix_turn_redis_up 1 over a new connection');
      expect(proxy.accepted).toBeGreaterThan(connectionsBefore);
      const user = freshUser();
      const decisions = await Promise.all(Array.from({ length: BURST * 2 }, () => s.limiter.consume(user)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(BURST);
    } finally {
      await stack?.close();
      stack = undefined;
      await proxy.close();
    }
  });

  test('before the first connection: degraded "connecting", decided by the fallback; then up on its own', async () => {
    await redis.kill();
    const s = (stack = buildStack(redis, 'local'));
    expect(s.health.report()).toMatchObject({ ready: true, status: 'degraded' });
    expect(await timed(s.limiter, freshUser())).toMatchObject({ decision: { allowed: true } });
    // The log says why (the public /readyz does not).
    const [down] = await waitFor(
      () => {
        const lines = logged(s.logs, /^redis unreachable/);
        return lines.length > 0 ? lines : undefined;
      },
      { what: 'the warning' },
    );
    expect(down!.reason).toMatch(/ECONNREFUSED/);
    expect(s.health.report().components.redis!.detail).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    await redis.restart();
    await probeUntilUp(s, 'matrix_turn_redis_up 1 once Redis is there');
    expect(s.health.report()).toMatchObject({ ready: true, status: 'ready' });
  });
});

/** A connection whose events the test emits, and a probe whose every outcome the test decides. */
function scripted(policy: RedisErrorPolicy = 'local') {
  const logs = captureLogs();
  const registry = new Registry();
  const metrics = createMetrics(registry, { defaultMetrics: false, redis: true });
  const clock = manualClock();
  const connection = Object.assign(new EventEmitter(), { status: 'ready' });
  const pending: { resolve(): void; reject(error: Error): void }[] = [];
  let primaryFails = false;
  const limiter = withRedisFallback({
    primary: { consume: async () => (primaryFails ? Promise.reject(new Error('OOM command not allowed')) : { allowed: true }) },
    probe: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    connection,
    reconnect: () => {},
    policy,
    local: memoryLimiter({ perSecond: 0.001, burst: 2, clock }),
    metrics,
    health: createHealth(),
    logger: createLogger('debug', logs.stream),
    clock,
    // Probes come only from the 'ready' events the test emits.
    probeIntervalMs: 1e9,
  });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    limiter,
    logs,
    clock,
    connection,
    up: async () => (await gauge(registry, 'matrix_turn_redis_up')) === 1,
    /** Emits 'ready' (which probes) and ends that probe as told. */
    async probe(outcome: 'ok' | 'fails') {
      connection.emit('ready');
      await this.end(outcome);
    },
    /** Ends the oldest probe in flight. */
    async end(outcome: 'ok' | 'fails') {
      const probe = pending.shift();
      if (probe === undefined) throw new Error('no probe in flight');
      if (outcome === 'ok') probe.resolve();
      else probe.reject(new Error('OOM command not allowed'));
      await settle();
    },
    /** A user's decision that Redis fails: the outage starts. */
    async fail() {
      primaryFails = true;
      try {
        await limiter.consume('@u:example.org');
      } finally {
        primaryFails = false;
      }
    },
    close: () => limiter.close?.(),
  };
}

describe('withRedisFallback: the way back to up', () => {
  test(
    'two successful probes in a row, on every path: ' + 'a failed probe or a closed connection between two starts the count again',
    async () => {
      const f = scripted();
      await f.end('ok');
      expect(await f.up()).toBe(true);
      await f.fail();
      expect(await f.up()).toBe(false);

      await f.probe('ok');
      expect(await f.up()).toBe(false);
      await f.probe('fails');
      await f.probe('ok');
      expect(await f.up()).toBe(false);
      f.connection.emit('close');
      await f.probe('ok');
      expect(await f.up()).toBe(false);
      // A probe in flight when the connection closes does not count once it succeeds.
      f.connection.emit('ready');
      f.connection.emit('close');
      await f.end('ok');
      await f.probe('ok');
      expect(await f.up()).toBe(false);
      await f.probe('ok');
      expect(await f.up()).toBe(true);
      expect(logged(f.logs, /^redis reachable/)).toHaveLength(2);
      expect(logged(f.logs, /^redis unreachable/)).toHaveLength(1);
      await f.close();
    },
  );

  test(
    'the outage logged once when it starts (warn) ' + 'and once when it ends (info, with how long and what the fallback decided)',
    async () => {
      const f = scripted('local');
      await f.end('ok');
      await f.fail();
      for (let i = 0; i < 3; i += 1) await f.limiter.consume('@u:example.org');
      f.clock.advance(12_345);
      await f.probe('ok');
      await f.probe('ok');
      expect(await f.up()).toBe(true);
      const levels = f.logs.entries().map((e) => [e.level, String(e.msg).split(':')[0]]);
      expect(levels).toEqual([
        ['info', 'redis reachable'],
        ['warn', 'redis unreachable'],
        ['info', 'redis reachable again after 12.3 s'],
      ]);
      // The failed decision and three more, in-process with a burst of 2: 2 allowed, 2 limited.
      expect(f.logs.entries()[2]).toMatchObject({ downForMs: 12_345, policy: 'local', fallbackDecisions: 4, fallbackRefusals: 2 });
      await f.close();
    },
  );

  test('deny: each 503 is marked reported (logged at debug by the error step); the end of the outage counts them', async () => {
    const f = scripted('deny');
    await f.end('ok');
    await expect(f.fail()).rejects.toMatchObject({ status: 503, reported: true });
    await expect(f.limiter.consume('@u:example.org')).rejects.toMatchObject({ status: 503, reported: true });
    await f.probe('ok');
    await f.probe('ok');
    expect(f.logs.entries().at(-1)).toMatchObject({ level: 'info', fallbackDecisions: 2, fallbackRefusals: 2 });
    await f.close();
  });
});
