// The shared limit through a real 3-master Redis Cluster: users whose buckets live on
// different masters are each limited to exactly RATE_LIMIT_BURST across three replicas
// (the key's hash tag is the user id, so one script touches one slot), and the
// cluster-wide gauges (all in one slot) agree with what was issued.

import { rateLimitKey } from '../../src/ratelimit/redis.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { storedBucket, withAdmin } from '../helpers/redis-admin.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { metricValue, spreadRequests, startReplicas, startTraffic, stopReplicas, waitForSharedLimit } from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';
import type { TestService } from '../helpers/service.js';

const BURST = 4;

let homeserver: StandInHomeserver;
let cluster: RedisCluster;
let replicas: TestService[];

beforeAll(async () => {
  homeserver = await startHomeserver();
  cluster = await startRedisCluster({ masters: 3 });
  replicas = await startReplicas(3, {
    HOMESERVER_URL: homeserver.url,
    REDIS_CLUSTER_NODES: cluster.seeds,
    RATE_LIMIT_BURST: String(BURST),
    RATE_LIMIT_PER_SECOND: '0.01',
    // Exactness needs Redis to answer in time; a loaded test machine can stall for a while.
    REDIS_COMMAND_TIMEOUT_MS: '2000',
  });
  await waitForSharedLimit(replicas);
}, 120_000);

afterAll(async () => {
  await stopReplicas(replicas ?? []);
  await cluster?.stop();
  await homeserver?.close();
});

/** One user per master: user ids chosen by asking the cluster where their bucket lives. */
async function usersOnEveryMaster(prefix = '@cluster'): Promise<{ userId: string; nodePort: number }[]> {
  const byNode = new Map<number, string>();
  for (let i = 0; byNode.size < cluster.nodes.length; i += 1) {
    if (i > 1000) throw new Error('could not place a user on every master');
    const userId = `${prefix}${i}:example.org`;
    const nodePort = await cluster.nodePortFor(rateLimitKey(userId));
    if (!byNode.has(nodePort)) byNode.set(nodePort, userId);
  }
  return [...byNode].map(([nodePort, userId]) => ({ userId, nodePort }));
}

describe('shared rate limit through Redis Cluster', () => {
  test('users on each of the three masters: exactly RATE_LIMIT_BURST of 30 concurrent requests over three replicas', async () => {
    const users = await usersOnEveryMaster();
    expect(new Set(users.map((u) => u.nodePort)).size).toBe(3);
    for (const { userId, nodePort } of users) {
      const token = `token-${userId}`;
      homeserver.addToken(token, { userId });
      const responses = await spreadRequests(replicas, token, 30);
      expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
      for (const response of responses.filter((r) => r.status !== 200)) {
        expect(response.status).toBe(429);
        const body = (await response.json()) as { errcode: string; retry_after_ms: number };
        expect(body.errcode).toBe('M_LIMIT_EXCEEDED');
        expect(response.headers.get('retry-after')).toBe(String(Math.ceil(body.retry_after_ms / 1000)));
      }
      // The bucket is on the master the cluster assigns to the user, and counts BURST.
      expect(await withAdmin(`redis://127.0.0.1:${nodePort}`, (admin) => storedBucket(admin, rateLimitKey(userId)))).toMatchObject({
        actionCount: BURST,
      });
    }
  });

  test('the cluster-wide gauges agree with what the replicas issued', async () => {
    const perReplica = await Promise.all(
      replicas.map(async (r) => metricValue(await r.metrics(), 'matrix_turn_credentials_issued_total') ?? 0),
    );
    const issued = perReplica.reduce((a, b) => a + b, 0);
    expect(issued).toBe(3 * BURST);
    for (const replica of replicas) {
      const text = await replica.metrics();
      expect(metricValue(text, 'matrix_turn_cluster_credentials_issued_total')).toBe(issued);
      expect(metricValue(text, 'matrix_turn_cluster_users', { window: '1h' })).toBe(3);
      expect(metricValue(text, 'matrix_turn_cluster_users', { window: '24h' })).toBe(3);
    }
  });

  test('one master killed: every answer within 3 s, the fallback entered once (no flapping); restarted: exact again', async () => {
    const users = await usersOnEveryMaster();
    const victim = cluster.nodes.find((node) => node.port === users[0]!.nodePort)!;
    const tokens = users.map(({ userId }) => {
      const token = `flap-${userId}`;
      homeserver.addToken(token, { userId });
      return token;
    });
    const traffic = startTraffic(replicas.flatMap((replica) => tokens.map((token) => ({ replica, token }))));
    try {
      await waitFor(() => traffic.results.length >= 30, { what: 'requests before the kill' });
      await victim.kill();
      // Through both phases: before the cluster notices (the other masters still answer)
      // and after (cluster_state:fail, every slot refused).
      const survivor = cluster.nodes.find((node) => node !== victim)!;
      await withAdmin(survivor.url, (admin) =>
        waitFor(async () => /cluster_state:fail/.test(String(await admin.call('CLUSTER', 'INFO'))), {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: 'the cluster to notice the dead master',
        }),
      );
      const atFail = traffic.results.length;
      await waitFor(() => traffic.results.length >= atFail + 100, { what: 'requests while the cluster is down' });
      await victim.restart();
      await waitForSharedLimit(replicas, 60_000);
    } finally {
      await traffic.stop();
    }
    expect(traffic.results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    expect(Math.max(...traffic.results.map((r) => r.ms))).toBeLessThan(3000);
    for (const replica of replicas) {
      expect(replica.logs.entries().filter((e) => String(e.msg).startsWith('redis unreachable'))).toHaveLength(1);
    }
    // The restarted master came back empty: a new user on it is held to exactly BURST.
    const onVictim = (await usersOnEveryMaster('@rejoined')).find((u) => u.nodePort === victim.port)!;
    const token = `token-${onVictim.userId}`;
    homeserver.addToken(token, { userId: onVictim.userId });
    const responses = await spreadRequests(replicas, token, 30);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
  }, 120_000);
});
