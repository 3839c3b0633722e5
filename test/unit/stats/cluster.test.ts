// The cluster-wide figures against a real redis-server: nothing reaches Redis on the
// request path, batches from several replicas add up, the hour and day windows move with
// the clock, a batch survives a Redis outage, the batch is written every flushIntervalMs
// (on the manual clock's timers), and the gauges are absent (not 0) when Redis cannot be read.

import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createLogger } from '../../../src/logger.js';
import { createClusterStats, exportClusterStats, ISSUED_KEY, type ClusterStats } from '../../../src/stats/cluster.js';
import { recordingIssuance } from '../../../src/turn/index.js';
import { createRedisClient, type RedisClient } from '../../../src/redis/client.js';
import { manualClock, type ManualClock } from '../../helpers/clock.js';
import { adminConnection } from '../../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const logger = createLogger('silent');
let redis: RedisProcess;
let admin: Redis;
const clients: RedisClient[] = [];
const stats: ClusterStats[] = [];

/** A replica's figures on `clock`, with the periodic flush on its timers. */
async function replica(clock: ManualClock, flushIntervalMs = 3_600_000): Promise<ClusterStats> {
  const client = createRedisClient({ url: { value: redis.url }, tls: false, commandTimeoutMs: 5000 }, { logger });
  clients.push(client);
  await waitFor(() => client.status === 'ready', { what: 'the client to connect' });
  // By default an hour between flushes: a batch is written by an explicit flush or read,
  // except in the test of the periodic flush and when a test moves the clock by hours.
  const created = createClusterStats({ client, clock, timers: clock, logger, timeoutMs: 5000, flushIntervalMs });
  stats.push(created);
  return created;
}

beforeEach(async () => {
  redis = await startRedis();
  admin = adminConnection(redis.url);
});

afterEach(async () => {
  await Promise.all(stats.splice(0).map((s) => s.close()));
  for (const client of clients.splice(0)) client.disconnect();
  admin.disconnect();
  await redis.stop();
});

describe('cluster stats', () => {
  test('recording touches only memory; a flush writes the batch; replicas add up', async () => {
    const clock = manualClock();
    const [a, b] = [await replica(clock), await replica(clock)];
    await admin.config('RESETSTAT');
    for (const user of ['@a:x', '@b:x', '@a:x']) a.recordIssued(user);
    for (const user of ['@c:x', '@a:x']) b.recordIssued(user);
    expect(await admin.exists(ISSUED_KEY)).toBe(0);
    expect(await admin.info('commandstats')).not.toMatch(/cmdstat_(incrby|pfadd)/);
    await a.flush();
    expect(await admin.get(ISSUED_KEY)).toBe('3');
    // b's batch is written by its read, in the same round trip.
    expect(await b.read()).toEqual({ credentialsIssued: 5, usersLastHour: 3, usersLastDay: 3 });
    expect(await a.read()).toEqual({ credentialsIssued: 5, usersLastHour: 3, usersLastDay: 3 });
  });

  test('the batch is written every flushIntervalMs, without a flush or a read', async () => {
    const clock = manualClock();
    const s = await replica(clock, 5000);
    s.recordIssued('@periodic:x');
    clock.advance(4999);
    // The replica's connection answers in order: a PING answered means what was sent before it has landed.
    await clients[0]!.ping();
    expect(await admin.exists(ISSUED_KEY)).toBe(0);
    clock.advance(1);
    await clients[0]!.ping();
    expect(await admin.get(ISSUED_KEY)).toBe('1');
  });

  test('the hour and the day windows move with the clock', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1, 12, 0, 0));
    const s = await replica(clock);
    s.recordIssued('@early:x');
    await s.flush();
    clock.advance(61 * 60_000);
    s.recordIssued('@later:x');
    expect(await s.read()).toEqual({ credentialsIssued: 2, usersLastHour: 1, usersLastDay: 2 });
    clock.advance(24 * 3_600_000);
    expect(await s.read()).toEqual({ credentialsIssued: 2, usersLastHour: 0, usersLastDay: 0 });
  });

  test('a batch that could not be written is kept and written once Redis is back', async () => {
    const clock = manualClock();
    const s = await replica(clock);
    await redis.kill();
    s.recordIssued('@kept:x');
    s.recordIssued('@kept:x');
    await s.flush();
    expect(await s.read()).toBeUndefined();
    await redis.restart();
    admin.disconnect();
    admin = adminConnection(redis.url);
    const figures = await waitFor(() => s.read(), { what: 'the figures once Redis is back' });
    expect(figures).toEqual({ credentialsIssued: 2, usersLastHour: 1, usersLastDay: 1 });
  });

  test('gauges: the figures at scrape time, absent while Redis cannot be read', async () => {
    const clock = manualClock();
    const s = await replica(clock);
    const registry = new Registry();
    exportClusterStats(s, registry);
    const minter = recordingIssuance({ mint: (userId) => ({ username: userId, password: 'p', uris: [], ttl: 1 }) }, s);
    for (const user of ['@u1:x', '@u2:x', '@u1:x', '@u3:x']) await minter.mint(user);
    const text = await registry.metrics();
    expect(text).toMatch(/^matrix_turn_cluster_credentials_issued_total 4$/m);
    expect(text).toMatch(/^matrix_turn_cluster_users\{window="1h"\} 3$/m);
    expect(text).toMatch(/^matrix_turn_cluster_users\{window="24h"\} 3$/m);
    await redis.kill();
    const down = await registry.metrics();
    expect(down).toMatch(/^# TYPE matrix_turn_cluster_credentials_issued_total counter$/m);
    expect(down).not.toMatch(/^matrix_turn_cluster_credentials_issued_total /m);
    expect(down).not.toMatch(/^matrix_turn_cluster_users\{/m);
  });
});
