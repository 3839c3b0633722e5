// Redis going away under load: three replicas keep answering every request (200 or 429,
// within 3 s) after a SIGKILL, say so in /readyz (ready, degraded) and matrix_turn_redis_up, log
// it once, and hold the exact shared limit again once Redis is back on the same port,
// without a restart. With RATE_LIMIT_ON_REDIS_ERROR=deny the answer is a 503, never a 500.

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import {
  metricValue,
  readiness,
  spreadRequests,
  startReplicas,
  startTraffic,
  stopReplicas,
  waitForSharedLimit,
} from '../helpers/replicas.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const BURST = 4;
const ANSWER_WITHIN_MS = 3000;

let homeserver: StandInHomeserver;
let userCounter = 0;

function newUser(): string {
  const userId = `@outage${(userCounter += 1)}:example.org`;
  const token = `token-${userId}`;
  homeserver.addToken(token, { userId });
  return token;
}

async function timedRequest(replica: TestService, token: string): Promise<{ status: number; ms: number; errcode?: unknown }> {
  const startedMs = Date.now();
  const response = await replica.turnServer(token);
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, ms: Date.now() - startedMs, errcode: body.errcode };
}

const downLogs = (replica: TestService) => replica.logs.entries().filter((e) => String(e.msg).startsWith('redis unreachable'));

beforeAll(async () => {
  homeserver = await startHomeserver();
});

afterAll(async () => {
  await homeserver.close();
});

describe('Redis killed while requests flow (RATE_LIMIT_ON_REDIS_ERROR=local)', () => {
  let redis: RedisProcess;
  let replicas: TestService[];

  beforeAll(async () => {
    redis = await startRedis();
    replicas = await startReplicas(3, {
      HOMESERVER_URL: homeserver.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_BURST: String(BURST),
      RATE_LIMIT_PER_SECOND: '0.01',
      // Long enough for a loaded test machine, well below the 3 s every answer must beat.
      REDIS_COMMAND_TIMEOUT_MS: '1000',
    });
    await waitForSharedLimit(replicas);
  });

  afterAll(async () => {
    await stopReplicas(replicas);
    await redis.stop();
  });

  test(
    'every request is answered within 3 s with 200 or 429; degraded but ready; ' + 'back to the exact shared limit after a restart',
    async () => {
      // Six clients keep calling, each with its own user, two on each replica.
      const traffic = startTraffic(Array.from({ length: 6 }, (_, i) => ({ replica: replicas[i % 3]!, token: newUser() })));
      const { results } = traffic;
      try {
        await waitFor(() => results.length >= 30, { what: 'requests before the kill' });
        await redis.kill();
        await Promise.all(
          replicas.map((replica) =>
            waitFor(async () => metricValue(await replica.metrics(), 'matrix_turn_redis_up') === 0, { what: 'matrix_turn_redis_up 0' }),
          ),
        );
        const atKill = results.length;
        await waitFor(() => results.length >= atKill + 60, { what: 'requests while Redis is down' });

        for (const replica of replicas) {
          const { status, body } = await readiness(replica);
          expect(status).toBe(200);
          expect(body.status).toBe('degraded');
          expect(body.components.redis).toMatchObject({ ready: true, degraded: true });
          expect(metricValue(await replica.metrics(), 'matrix_turn_rate_limit_fallback_active')).toBe(1);
        }

        await redis.restart();
        await waitForSharedLimit(replicas);
        const atRestart = results.length;
        await waitFor(() => results.length >= atRestart + 30, { what: 'requests after the restart' });
      } finally {
        await traffic.stop();
      }
      expect(results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
      expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(ANSWER_WITHIN_MS);
      expect(results.some((r) => r.status === 429)).toBe(true);
      for (const replica of replicas) {
        expect(downLogs(replica)).toHaveLength(1);
        expect(metricValue(await replica.metrics(), 'matrix_turn_redis_up')).toBe(1);
      }

      // Redis came back empty; the shared limit is exact again, across all three.
      const token = newUser();
      const responses = await spreadRequests(replicas, token, 30);
      expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
      expect(responses.filter((r) => r.status === 429)).toHaveLength(30 - BURST);
    },
  );

  test('a Redis that accepts but does not answer: no request waits past the command timeout; shared again after', async () => {
    const admin = adminConnection(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => timedRequest(replicas[i % 3]!, newUser())));
      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
      // REDIS_COMMAND_TIMEOUT_MS is 1000: below the pause and the 3 s bound.
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(ANSWER_WITHIN_MS);
      await waitForSharedLimit(replicas);
    } finally {
      admin.disconnect();
    }
  });
});

describe('RATE_LIMIT_ON_REDIS_ERROR=deny', () => {
  let redis: RedisProcess;
  let replica: TestService;

  beforeAll(async () => {
    redis = await startRedis();
    replica = await startTestService({
      HOMESERVER_URL: homeserver.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_ON_REDIS_ERROR: 'deny',
    });
    await waitForSharedLimit([replica]);
  });

  afterAll(async () => {
    await replica.stop();
    await redis.stop();
  });

  test('Redis down: 503 M_UNKNOWN with Retry-After, never a 500; /readyz still ready; Redis back: credentials again', async () => {
    const token = newUser();
    expect((await replica.turnServer(token)).status).toBe(200);
    await redis.kill();
    const response = await waitFor(
      async () => {
        const r = await replica.turnServer(token);
        return r.status === 200 ? undefined : r;
      },
      { what: 'the first answer without Redis' },
    );
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ errcode: 'M_UNKNOWN', error: expect.any(String) });
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    const answers = await Promise.all(Array.from({ length: 10 }, () => timedRequest(replica, token)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(503));
    expect((await readiness(replica)).status).toBe(200);

    await redis.restart();
    await waitForSharedLimit([replica]);
    expect((await replica.turnServer(token)).status).toBe(200);

    // The outage in the log: one warn when it starts, one info with its figures when it
    // ends, no line per refused request above debug.
    const entries = replica.logs.entries();
    expect(entries.filter((e) => ['warn', 'error', 'fatal'].includes(String(e.level))).map((e) => e.msg)).toEqual([
      expect.stringMatching(/^redis unreachable/),
    ]);
    const back = entries.filter((e) => String(e.msg).startsWith('redis reachable')).at(-1)!;
    expect(back).toMatchObject({
      level: 'info',
      downForMs: expect.any(Number),
      fallbackDecisions: expect.any(Number),
      fallbackRefusals: expect.any(Number),
    });
    // At least the first 503 and the ten after it; perhaps more while polling for the first.
    expect(back.fallbackRefusals).toBeGreaterThanOrEqual(11);
    expect(back.fallbackDecisions).toBe(back.fallbackRefusals);
    expect(back.downForMs).toBeGreaterThan(0);
    expect(entries.filter((e) => e.msg === 'request failed' && e.status === 503).length).toBeGreaterThanOrEqual(11);
  });
});

describe('without Redis', () => {
  test('the in-process limiter; no Redis series on /metrics', async () => {
    const replica = await startTestService({ HOMESERVER_URL: homeserver.url, RATE_LIMIT_BURST: '2' });
    try {
      const token = newUser();
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await replica.turnServer(token)).status);
      expect(statuses).toEqual([200, 200, 429]);
      const text = await replica.metrics();
      expect(text).not.toMatch(/matrix_turn_redis_up|matrix_turn_rate_limit_fallback_active|matrix_turn_cluster_/);
      const { body } = await readiness(replica);
      expect(body.components.redis).toBeUndefined();
    } finally {
      await replica.stop();
    }
  });
});
