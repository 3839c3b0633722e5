// One rate limit for every replica: three instances of the real service share one real
// redis-server, and a user's limit is exactly RATE_LIMIT_BURST across all of them, follows
// the user across tokens, leaves other users alone and never touches exempt users; the
// cluster-wide gauges agree with what the replicas issued.

import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { metricValue, readiness, startReplicas, stopReplicas, waitForSharedLimit } from '../helpers/replicas.js';
import type { TestService } from '../helpers/service.js';

const BURST = 5;
/** One action regained per 20 s: nothing leaks back during a test. */
const PER_SECOND = 0.05;
const EXEMPT = '@exempt:example.org';

let homeserver: StandInHomeserver;
let redis: RedisProcess;
let replicas: TestService[];
let userCounter = 0;
/** Users that got credentials from any replica, for the distinct-user gauges. */
const served = new Set<string>();

/** A new user with `tokens` access tokens, known to the stand-in homeserver. */
function newUser(tokens = 1, userId = `@shared${(userCounter += 1)}:example.org`): { userId: string; tokens: string[] } {
  const list = Array.from({ length: tokens }, (_, i) => `token-${userId}-${i}`);
  for (const token of list) homeserver.addToken(token, { userId });
  return { userId, tokens: list };
}

/** Sends `count` concurrent requests, round-robin over the replicas and the user's tokens. */
async function burstOf(count: number, user: { userId: string; tokens: readonly string[] }): Promise<Response[]> {
  const { tokens } = user;
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => replicas[i % replicas.length]!.turnServer(tokens[i % tokens.length])),
  );
  if (responses.some((r) => r.status === 200)) served.add(user.userId);
  return responses;
}

function expectLimited(response: Response, body: Record<string, unknown>): void {
  expect(response.status).toBe(429);
  expect(body).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: expect.any(String), retry_after_ms: expect.any(Number) });
  const retryAfterMs = body.retry_after_ms as number;
  // The next action leaks back 1 / PER_SECOND = 20 s after the first; the test took < 5 s of that.
  expect(retryAfterMs).toBeGreaterThan(15_000);
  expect(retryAfterMs).toBeLessThanOrEqual(20_000);
  expect(response.headers.get('retry-after')).toBe(String(Math.ceil(retryAfterMs / 1000)));
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  redis = await startRedis();
  replicas = await startReplicas(3, {
    HOMESERVER_URL: homeserver.url,
    REDIS_URL: redis.url,
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_PER_SECOND: String(PER_SECOND),
    // Exactness needs Redis to answer in time; a loaded test machine can stall for a while.
    REDIS_COMMAND_TIMEOUT_MS: '2000',
    RATE_LIMIT_EXEMPT_USERS: EXEMPT,
  });
  await waitForSharedLimit(replicas);
});

afterAll(async () => {
  await stopReplicas(replicas);
  await redis.stop();
  await homeserver.close();
});

describe('shared rate limit across three replicas and one Redis', () => {
  test(
    '30 concurrent requests for one user over three replicas: ' +
      'exactly RATE_LIMIT_BURST succeed, the rest 429 with retry_after_ms and Retry-After',
    async () => {
      const responses = await burstOf(30, newUser());
      const bodies = await Promise.all(responses.map((r) => r.json() as Promise<Record<string, unknown>>));
      const ok = responses.filter((r) => r.status === 200);
      expect(ok).toHaveLength(BURST);
      responses.forEach((response, i) => {
        if (response.status !== 200) expectLimited(response, bodies[i]!);
      });
      // Each replica saw some of both: the limit was shared, not per replica.
      const limited = await Promise.all(
        replicas.map(async (r) => metricValue(await r.metrics(), 'matrix_turn_rate_limited_total', { scope: 'user' }) ?? 0),
      );
      expect(limited.reduce((a, b) => a + b, 0)).toBe(30 - BURST);
    },
  );

  test('the limit follows the user across tokens; another user is unaffected', async () => {
    const alice = newUser(3);
    const bob = newUser();
    const aliceResponses = await burstOf(12, alice);
    expect(aliceResponses.filter((r) => r.status === 200)).toHaveLength(BURST);
    expect(aliceResponses.filter((r) => r.status === 429)).toHaveLength(12 - BURST);
    const bobResponses = await burstOf(BURST, bob);
    expect(bobResponses.map((r) => r.status)).toEqual(Array(BURST).fill(200));
    // A fourth token for alice, minted later, is limited too.
    const [late] = newUser(1, alice.userId).tokens.map((t) => `${t}-late`);
    homeserver.addToken(late!, { userId: alice.userId });
    const lateResponse = await replicas[2]!.turnServer(late);
    expectLimited(lateResponse, (await lateResponse.json()) as Record<string, unknown>);
  });

  test('exempt users are never limited', async () => {
    const responses = await burstOf(BURST * 4, newUser(2, EXEMPT));
    expect(responses.map((r) => r.status)).toEqual(Array(BURST * 4).fill(200));
  });

  test('/readyz says ready with Redis shared; matrix_turn_redis_up is 1 on every replica', async () => {
    for (const replica of replicas) {
      const { status, body } = await readiness(replica);
      expect(status).toBe(200);
      expect(body.status).toBe('ready');
      expect(body.components.redis).toMatchObject({ ready: true, degraded: false });
      const text = await replica.metrics();
      expect(metricValue(text, 'matrix_turn_redis_up')).toBe(1);
      expect(metricValue(text, 'matrix_turn_rate_limit_fallback_active')).toBe(0);
    }
  });
});

describe('cluster-wide gauges', () => {
  test('agree with what the replicas issued: credentials, and distinct users in the last hour and day', async () => {
    const users = [newUser(), newUser(), newUser(), newUser()];
    for (const user of users) await burstOf(BURST + 1, user);
    // A scrape writes the replica's own batch before reading, so after each replica has
    // been scraped once, any scrape sees everything.
    const perReplica = await Promise.all(
      replicas.map(async (r) => metricValue(await r.metrics(), 'matrix_turn_credentials_issued_total') ?? 0),
    );
    const issued = perReplica.reduce((a, b) => a + b, 0);
    expect(issued).toBeGreaterThanOrEqual(users.length * BURST);
    const distinct = served.size;
    for (const replica of replicas) {
      const text = await replica.metrics();
      expect(metricValue(text, 'matrix_turn_cluster_credentials_issued_total')).toBe(issued);
      expect(metricValue(text, 'matrix_turn_cluster_users', { window: '1h' })).toBe(distinct);
      expect(metricValue(text, 'matrix_turn_cluster_users', { window: '24h' })).toBe(distinct);
    }
  });
});
