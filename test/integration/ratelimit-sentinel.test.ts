// The shared limit through Redis Sentinel: three replicas find the master through three
// Sentinels and limit exactly; when the master is killed, the Sentinels promote its
// replica, every request meanwhile is still answered (200 or 429, within 3 s), and the
// service follows the new master by itself, exact again.

import { rateLimitKey } from '../../src/ratelimit/redis.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { storedBucket, withAdmin } from '../helpers/redis-admin.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-sentinel.js';
import { metricValue, spreadRequests, startReplicas, startTraffic, stopReplicas, waitForSharedLimit } from '../helpers/replicas.js';
import type { TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const BURST = 4;
const ANSWER_WITHIN_MS = 3000;

let homeserver: StandInHomeserver;
let sentinel: RedisSentinelSetup;
let replicas: TestService[];
let userCounter = 0;

function newUser(): { userId: string; token: string } {
  const userId = `@sentinel${(userCounter += 1)}:example.org`;
  const token = `token-${userId}`;
  homeserver.addToken(token, { userId });
  return { userId, token };
}

/** Connections the service instances hold to one Redis server (the client names itself). */
function serviceConnections(url: string): Promise<number> {
  return withAdmin(
    url,
    async (admin) =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => / name=matrix-turn-credentials /.test(line)).length,
  );
}

/** 30 concurrent requests over the three replicas: exactly BURST succeed, and the bucket on `serverUrl` says so. */
async function expectExactLimit(serverUrl: string): Promise<void> {
  const { userId, token } = newUser();
  const responses = await spreadRequests(replicas, token, 30);
  expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
  expect(responses.filter((r) => r.status === 429)).toHaveLength(30 - BURST);
  expect(await withAdmin(serverUrl, (admin) => storedBucket(admin, rateLimitKey(userId)))).toMatchObject({ actionCount: BURST });
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  sentinel = await startRedisSentinel({ sentinels: 3 });
  replicas = await startReplicas(3, {
    HOMESERVER_URL: homeserver.url,
    REDIS_SENTINELS: sentinel.sentinels,
    REDIS_SENTINEL_NAME: sentinel.name,
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_PER_SECOND: '0.01',
    // Exactness needs Redis to answer in time; a loaded test machine can stall for a while.
    REDIS_COMMAND_TIMEOUT_MS: '1000',
  });
  await waitForSharedLimit(replicas);
}, 120_000);

afterAll(async () => {
  await stopReplicas(replicas ?? []);
  await sentinel?.stop();
  await homeserver?.close();
});

describe('shared rate limit through Redis Sentinel', () => {
  test('30 concurrent requests over three replicas: exactly RATE_LIMIT_BURST succeed; the bucket is on the master', async () => {
    await expectExactLimit(sentinel.master.url);
  });

  test('the master killed: answers keep coming while the Sentinels fail over; the service follows the new master', async () => {
    const traffic = startTraffic(replicas.map((replica) => ({ replica, token: newUser().token })));
    const { results } = traffic;
    try {
      await waitFor(() => results.length >= 15, { what: 'requests before the kill' });
      await sentinel.master.kill();
      await waitFor(async () => (await sentinel.masterPort()) === sentinel.replica.port, {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'the Sentinels to promote the replica',
      });
      await waitForSharedLimit(replicas, 60_000);
      const atFailover = results.length;
      await waitFor(() => results.length >= atFailover + 15, { what: 'requests after the failover' });
    } finally {
      await traffic.stop();
    }
    expect(results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(ANSWER_WITHIN_MS);
    for (const replica of replicas) expect(metricValue(await replica.metrics(), 'matrix_turn_redis_up')).toBe(1);
    await expectExactLimit(sentinel.replica.url);
  }, 120_000);

  test('a planned failover (SENTINEL FAILOVER, the old master demoted, not killed): the service follows, exact again', async () => {
    // The old master returns and the Sentinels make it a replica of the current master.
    await sentinel.master.restart();
    await withAdmin(`redis://127.0.0.1:${sentinel.sentinelPorts[0]}`, async (admin) => {
      await waitFor(
        async () => {
          const replicasSeen = (await admin.call('SENTINEL', 'REPLICAS', sentinel.name)) as string[][];
          return replicasSeen.some((fields) => {
            const info = Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])));
            return Number(info.port) === sentinel.master.port && info.flags === 'slave' && info['master-link-status'] === 'ok';
          });
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the old master to be a healthy replica' },
      );
      await admin.call('SENTINEL', 'FAILOVER', sentinel.name);
    });
    await waitFor(async () => (await sentinel.masterPort()) === sentinel.master.port, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the Sentinels to switch back to the first master',
    });
    // Settled once every replica's connection is on the promoted server and none is left
    // on the demoted one (the client names itself), and each decides with Redis again.
    await waitFor(
      async () => (await serviceConnections(sentinel.master.url)) === 3 && (await serviceConnections(sentinel.replica.url)) === 0,
      { timeoutMs: 60_000, intervalMs: 200, what: 'every replica to reconnect to the promoted master' },
    );
    await waitForSharedLimit(replicas, 60_000);
    await expectExactLimit(sentinel.master.url);
  }, 180_000);
});
