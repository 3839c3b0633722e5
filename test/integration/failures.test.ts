// Broken neighbours: a homeserver that errors, refuses connections or hangs, an upstream
// overloaded past the concurrency cap, and Redis failing at the same time as the
// homeserver. Clients get 5xx M_UNKNOWN with Retry-After (never M_UNKNOWN_TOKEN, which
// logs them out), the circuit breaker keeps a dead homeserver from being asked once per
// request, and everything recovers by itself once the neighbours are back.

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const FAILURES = 3;
const RESET_MS = 400;

async function answer(res: Response): Promise<{ status: number; errcode: unknown; retryAfter: string | null }> {
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, errcode: body.errcode, retryAfter: res.headers.get('retry-after') };
}

const gauge = (metrics: string, name: string) => Number(new RegExp(`^${name}\\{upstream="homeserver"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);

describe('circuit breaker on the homeserver', () => {
  let homeserver: StandInHomeserver;
  let service: TestService;
  let tokenSerial = 0;
  /** A token the homeserver knows, never seen before by the service (so never cached). */
  const freshUser = () => {
    const token = `fresh-token-${++tokenSerial}`;
    homeserver.addToken(token, { userId: `@user${tokenSerial}:example.org` });
    return token;
  };

  beforeAll(async () => {
    homeserver = await startHomeserver();
    service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      LOG_LEVEL: 'info',
      UPSTREAM_BREAKER_FAILURES: String(FAILURES),
      UPSTREAM_BREAKER_RESET_MS: String(RESET_MS),
      // Long: a request that waited on the hanging homeserver would take this long.
      UPSTREAM_TIMEOUT_MS: '20000',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '10000',
      RATE_LIMIT_BURST: '10000',
    });
  });
  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
  });

  test('unknown tokens (401) never open the breaker', async () => {
    for (let i = 0; i < FAILURES * 4; i++) {
      expect(await answer(await service.turnServer(`no-such-token-${i}`))).toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN' });
    }
    expect((await service.turnServer(freshUser())).status).toBe(200);
    expect(gauge(await service.metrics(), 'matrix_turn_upstream_circuit_open')).toBe(0);
  });

  test(
    'a failing homeserver: 5xx M_UNKNOWN until the breaker opens, then 503 without asking it; ' +
      'a trickle of probes; recovery on its own',
    async () => {
      homeserver.mode = 'error500';
      const before = homeserver.calls;
      for (let i = 0; i < FAILURES; i++) {
        const res = await answer(await service.turnServer(freshUser()));
        expect(res.status).toBeGreaterThanOrEqual(500);
        expect(res.errcode).toBe('M_UNKNOWN');
      }
      expect(homeserver.calls - before).toBe(FAILURES);
      expect(gauge(await service.metrics(), 'matrix_turn_upstream_circuit_open')).toBe(1);

      // Open: a homeserver that now hangs would hold any call it got for the 20 s upstream
      // timeout. The answers are 503 and the homeserver saw none of them: nobody waited.
      homeserver.mode = 'hang';
      const opened = homeserver.calls;
      const fast = await Promise.all(Array.from({ length: 20 }, async () => answer(await service.turnServer(freshUser()))));
      // Only a reset period passing during the batch can have let one probe through (and
      // that one request waited for the timeout: 504).
      const probesWhileFast = homeserver.calls - opened;
      expect(probesWhileFast).toBeLessThanOrEqual(1);
      const failedFast = fast.filter((r) => r.status === 503);
      expect(failedFast.length).toBeGreaterThanOrEqual(20 - probesWhileFast);
      for (const res of fast) expect(res.errcode).toBe('M_UNKNOWN');
      for (const res of failedFast) expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);

      // Failing again, and hammered for a while: one probe per reset period at most.
      homeserver.mode = 'error500';
      const trickleStart = homeserver.calls;
      const startedMs = Date.now();
      let requests = 0;
      while (Date.now() - startedMs < 4 * RESET_MS) {
        const res = await answer(await service.turnServer(freshUser()));
        expect(res.status).toBeGreaterThanOrEqual(500);
        expect(res.errcode).toBe('M_UNKNOWN');
        requests += 1;
      }
      const elapsedMs = Date.now() - startedMs;
      const probes = homeserver.calls - trickleStart;
      expect(probes).toBeLessThanOrEqual(Math.ceil(elapsedMs / RESET_MS) + 1);
      expect(requests).toBeGreaterThan(probes * 3);

      // Healthy again: served without a restart, and the breaker closes.
      homeserver.mode = 'normal';
      await waitFor(async () => (await service.turnServer(freshUser())).status === 200, {
        what: 'the service to recover',
        timeoutMs: 45_000,
      });
      expect((await service.turnServer(freshUser())).status).toBe(200);
      expect(gauge(await service.metrics(), 'matrix_turn_upstream_circuit_open')).toBe(0);

      // The log tells the outage once when it started and once when it ended, with its
      // counts; the breaker opening and closing are steps of it (at debug), and no request
      // has a warning of its own. (A probe stuck on the hanging homeserver may fail after
      // the recovery, and start one more.)
      const entries = service.logs.entries();
      const started = entries.filter((e) => String(e.msg).startsWith('upstream outage started'));
      const ended = entries.filter((e) => String(e.msg).startsWith('upstream outage ended'));
      expect(started.length).toBeGreaterThanOrEqual(1);
      expect(started.length).toBeLessThanOrEqual(1 + probesWhileFast);
      expect(started[0]).toMatchObject({ level: 'warn', upstream: 'homeserver', detail: 'homeserver answered HTTP 500' });
      expect(ended[0]).toMatchObject({ level: 'info', upstream: 'homeserver' });
      expect(ended[0]!.failedRequests).toBeGreaterThanOrEqual(FAILURES + fast.length + requests);
      expect(ended[0]!.failedFast).toBeGreaterThanOrEqual(failedFast.length);
      expect(entries.filter((e) => e.level === 'warn' && !String(e.msg).startsWith('upstream outage started'))).toEqual([]);
      expect(entries.filter((e) => String(e.msg).startsWith('circuit breaker'))).toEqual([]);
    },
    90_000,
  );
});

describe('a homeserver that refuses connections', () => {
  let homeserver: StandInHomeserver;
  let service: TestService;

  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
  });

  test('502 then 503 M_UNKNOWN, never a 401; served again once it listens again', async () => {
    homeserver = await startHomeserver();
    homeserver.addToken('alice-token', { userId: '@alice:example.org' });
    service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      LOG_LEVEL: 'info',
      UPSTREAM_BREAKER_FAILURES: String(FAILURES),
      UPSTREAM_BREAKER_RESET_MS: String(RESET_MS),
    });
    const port = homeserver.port;
    await homeserver.close();
    const statuses = new Set<number>();
    for (let i = 0; i < FAILURES + 5; i++) {
      const res = await answer(await service.turnServer('alice-token'));
      expect(res.errcode).toBe('M_UNKNOWN');
      statuses.add(res.status);
    }
    expect([...statuses].sort()).toEqual([502, 503]);

    homeserver = await startHomeserver({ port });
    homeserver.addToken('alice-token', { userId: '@alice:example.org' });
    await waitFor(async () => (await service.turnServer('alice-token')).status === 200, {
      what: 'the service to recover',
      timeoutMs: 30_000,
    });
  });
});

describe('the cap on calls in flight to the homeserver', () => {
  let homeserver: StandInHomeserver;
  let service: TestService;

  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
  });

  test('beyond the cap and its short queue: 503 M_UNKNOWN with Retry-After at once; the homeserver sees only the cap', async () => {
    homeserver = await startHomeserver();
    service = await startTestService({ HOMESERVER_URL: homeserver.url, LOG_LEVEL: 'info', UPSTREAM_MAX_CONCURRENCY: '2' });
    const tokens = Array.from({ length: 10 }, (_, i) => `slow-token-${i}`);
    tokens.forEach((token, i) => homeserver.addToken(token, { userId: `@slow${i}:example.org` }));
    // Longer than the queue wait (1 s): those waiting give up before a slot frees.
    homeserver.delayMs = 4000;
    const results = await Promise.all(tokens.map(async (token) => answer(await service.turnServer(token))));
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    expect(served).toHaveLength(2);
    expect(refused).toHaveLength(8);
    for (const r of refused) expect(r).toMatchObject({ errcode: 'M_UNKNOWN', retryAfter: '1' });
    expect(homeserver.calls).toBe(2);
    // Refusals for overload are not homeserver failures: the breaker stayed closed.
    expect(gauge(await service.metrics(), 'matrix_turn_upstream_circuit_open')).toBe(0);
    expect(gauge(await service.metrics(), 'matrix_turn_upstream_requests_in_flight')).toBe(0);

    // Told once: the answers to the two calls made before the refusals do not end it; the
    // next call made afterwards does, with the count.
    const story = () => service.logs.entries().filter((e) => e.level === 'warn' || String(e.msg).startsWith('upstream outage'));
    expect(story()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(/^upstream outage started/),
        detail: 'homeserver: too many calls in flight (queue full)',
      }),
    ]);
    homeserver.delayMs = 0;
    homeserver.addToken('later-token', { userId: '@later:example.org' });
    expect((await service.turnServer('later-token')).status).toBe(200);
    expect(story()).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^upstream outage started/) }),
      expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^upstream outage ended/), failedRequests: 8, failedFast: 0 }),
    ]);
  });
});

describe('Redis and the homeserver failing at the same time', () => {
  let homeserver: StandInHomeserver;
  let redis: RedisProcess;
  let service: TestService;

  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
    await redis?.stop();
  });

  test('no 401 and no crash; known users still served under the local fallback; all recovers', async () => {
    homeserver = await startHomeserver();
    redis = await startRedis();
    homeserver.addToken('alice-token', { userId: '@alice:example.org' });
    homeserver.addToken('bob-token', { userId: '@bob:example.org' });
    service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      UPSTREAM_BREAKER_FAILURES: String(FAILURES),
      UPSTREAM_BREAKER_RESET_MS: String(RESET_MS),
      RATE_LIMIT_BURST: '1000',
    });
    expect((await service.turnServer('alice-token')).status).toBe(200);

    await redis.kill();
    homeserver.mode = 'error500';
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      for (const token of ['alice-token', 'bob-token', `stranger-${i}`]) {
        const res = await answer(await service.turnServer(token));
        const key = `${token.split('-')[0]} ${res.status} ${String(res.errcode)}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        expect(res.status).not.toBe(401);
        expect(res.errcode).not.toBe('M_UNKNOWN_TOKEN');
        if (res.status !== 200) expect(res.status).toBeGreaterThanOrEqual(500);
      }
    }
    // Alice's identity is cached and the local limiter decides: she is still served.
    expect(seen.get('alice 200 undefined')).toBe(30);
    // Bob and strangers cannot be verified: 5xx M_UNKNOWN, nothing else.
    expect([...seen.keys()].filter((k) => !k.startsWith('alice')).every((k) => / 50[234] M_UNKNOWN$/.test(k))).toBe(true);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'degraded' });

    await redis.restart();
    homeserver.mode = 'normal';
    await waitFor(async () => (await service.turnServer('bob-token')).status === 200, {
      what: 'bob to be served again',
      timeoutMs: 30_000,
    });
    await waitFor(async () => ((await (await fetch(`${service.url}/readyz`)).json()) as { status: string }).status === 'ready', {
      what: 'readiness to recover',
      timeoutMs: 30_000,
    });
  });
});
