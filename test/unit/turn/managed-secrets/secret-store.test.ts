// coturn's secret set and our marks on it, against a real redis-server
// (src/turn/managed-secrets/secret-store.ts): members we did not add are counted and never
// touched; a member and its mark come and go together; the conditional addition lets one
// of many concurrent replicas add a secret per interval; the lock is taken once and only
// its holder releases it.

import type { Redis } from 'ioredis';
import { systemTimers } from '../../../../src/clock.js';
import { createLogger } from '../../../../src/logger.js';
import { createRedisClient, type RedisClient } from '../../../../src/redis/client.js';
import { coturnKeys, redisSecretStore, secretId, type SecretStore } from '../../../../src/turn/managed-secrets/secret-store.js';
import { adminConnection } from '../../../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../../../helpers/redis.js';
import { waitFor } from '../../../helpers/wait.js';

const REALM = 'turn.example.org';
const keys = coturnKeys(REALM);
const secret = (value: string, createdMs: number) => ({ id: secretId(value), value, createdMs });

let redis: RedisProcess;
let admin: Redis;
const clients: RedisClient[] = [];

async function store(): Promise<SecretStore> {
  const client = createRedisClient(
    { url: { value: `${redis.url}/3` }, tls: false, commandTimeoutMs: 2000 },
    { logger: createLogger('silent') },
  );
  clients.push(client);
  await waitFor(() => client.status === 'ready', { what: 'the client to connect' });
  return redisSecretStore(client, { realm: REALM, timeoutMs: 2000, timers: systemTimers });
}

beforeAll(async () => {
  redis = await startRedis();
  admin = adminConnection(`${redis.url}/3`);
});
afterEach(async () => {
  await admin.flushdb();
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  admin.disconnect();
  await redis.stop();
});

describe("coturn's secret set", () => {
  it('is turn/realm/<realm>/secret, beside our marks and lock', () => {
    expect(keys).toEqual({
      set: 'turn/realm/turn.example.org/secret',
      marks: 'turn/realm/turn.example.org/matrix-turn-credentials',
      lock: 'turn/realm/turn.example.org/matrix-turn-credentials/lock',
    });
  });

  it('reads our members oldest first, counts the others, names marks left without a member', async () => {
    const s = await store();
    await admin.sadd(keys.set, 'operator-secret', 'livekit-secret', 'ours-new', 'ours-old');
    await admin.hset(keys.marks, secretId('ours-new'), '2000', secretId('ours-old'), '1000', secretId('removed-by-hand'), '500');
    expect(await s.read()).toEqual({
      ours: [secret('ours-old', 1000), secret('ours-new', 2000)],
      others: 2,
      staleIds: [secretId('removed-by-hand')],
    });
  });

  it('adds a secret with its mark, and none while the youngest mark is less than an interval old', async () => {
    const s = await store();
    await admin.sadd(keys.set, 'operator-secret');
    expect(await s.addUnlessRecent(secret('first', 10_000), 1000)).toBe(true);
    expect(await s.addUnlessRecent(secret('too-soon', 10_999), 1000)).toBe(false);
    expect(await s.addUnlessRecent(secret('second', 11_000), 1000)).toBe(true);
    expect((await admin.smembers(keys.set)).sort()).toEqual(['first', 'operator-secret', 'second']);
    expect(await admin.hgetall(keys.marks)).toEqual({ [secretId('first')]: '10000', [secretId('second')]: '11000' });
  });

  it('lets exactly one of many replicas trying at once add a secret', async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => store()));
    const added = await Promise.all(stores.map((s, i) => s.addUnlessRecent(secret(`candidate-${i}`, 50_000 + i), 60_000)));
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await admin.scard(keys.set)).toBe(1);
    expect(await admin.hlen(keys.marks)).toBe(1);
  });

  it('removes our members with their marks and stale marks, and nothing else', async () => {
    const s = await store();
    await admin.sadd(keys.set, 'operator-secret', 'ours-old', 'ours-new');
    await admin.hset(keys.marks, secretId('ours-old'), '1000', secretId('ours-new'), '2000', 'stale0123456789a', '1');
    await s.remove([secret('ours-old', 1000)], ['stale0123456789a']);
    expect((await admin.smembers(keys.set)).sort()).toEqual(['operator-secret', 'ours-new']);
    expect(await admin.hgetall(keys.marks)).toEqual({ [secretId('ours-new')]: '2000' });
  });

  it('has a lock one token holds at a time, for its lifetime, released only by its holder', async () => {
    const [a, b] = [await store(), await store()];
    expect(await a.lock('token-a', 60_000)).toBe(true);
    expect(await b.lock('token-b', 60_000)).toBe(false);
    await b.unlock('token-b');
    expect(await admin.get(keys.lock)).toBe('token-a');
    expect(await admin.pttl(keys.lock)).toBeGreaterThan(59_000);
    await a.unlock('token-a');
    expect(await b.lock('token-b', 60_000)).toBe(true);
  });

  it('rejects while Redis cannot be reached, rather than answering from nothing', async () => {
    const client = createRedisClient(
      { url: { value: 'redis://127.0.0.1:1/3' }, tls: false, commandTimeoutMs: 200 },
      { logger: createLogger('silent') },
    );
    clients.push(client);
    const s = redisSecretStore(client, { realm: REALM, timeoutMs: 200, timers: systemTimers });
    await expect(s.read()).rejects.toThrow();
    await expect(s.addUnlessRecent(secret('never', 1), 1)).rejects.toThrow();
  });
});
