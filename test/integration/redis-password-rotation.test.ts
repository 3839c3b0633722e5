// Rotating the Redis password without a restart, as an operator does it: with traffic
// running, Redis gets the new password (CONFIG SET requirepass, its clients dropped as a
// restart or failover would), then the mounted Secret file is rewritten. The service names
// the refusal (WRONGPASS) in its log, never the password, and is back on the shared limit
// within 10 s of the file changing: REDIS_PASSWORD_FILE, a password inside REDIS_URL_FILE,
// and the Sentinel password.

import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rateLimitKey } from '../../src/ratelimit/redis.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection, storedBucket } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-sentinel.js';
import { metricValue, readiness, spreadRequests, startTraffic } from '../helpers/replicas.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const OLD = 'old-redis-pw-5d1c7e';
const NEW = 'new-redis-pw-a83e02';
const BURST = 4;
const BACK_WITHIN_MS = 10_000;
/** The levels an operator's log shows by default and alerts on. */
const LOUD = ['warn', 'error', 'fatal'];

let homeserver: StandInHomeserver;
let dir: string;
let userCounter = 0;

function newUser(): { userId: string; token: string } {
  const userId = `@rotation${(userCounter += 1)}:example.org`;
  const token = `token-${userId}`;
  homeserver.addToken(token, { userId });
  return { userId, token };
}

/** Replaces the file as kubelet updates a mounted Secret: a new file moved into place. */
function rewrite(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

beforeAll(async () => {
  homeserver = await startHomeserver();
  dir = mkdtempSync(join(tmpdir(), 'mtc-rotation-'));
});

afterAll(async () => {
  await homeserver.close();
  rmSync(dir, { recursive: true, force: true });
});

const serviceEnv = {
  RATE_LIMIT_BURST: String(BURST),
  RATE_LIMIT_PER_SECOND: '0.01',
  // Long enough for a loaded test machine.
  REDIS_COMMAND_TIMEOUT_MS: '1000',
};

/** Runs `use` on a connection to `url` authenticated with `password`, closed afterwards. */
async function asAdmin<T>(url: string, password: string, use: (admin: ReturnType<typeof adminConnection>) => Promise<T>): Promise<T> {
  const admin = adminConnection(url, { password });
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

async function redisUp(service: TestService): Promise<boolean> {
  return metricValue(await service.metrics(), 'matrix_turn_redis_up') === 1;
}

/** BURST * 3 concurrent requests of a fresh user: exactly BURST pass, and Redis holds the count. */
async function expectSharedLimit(service: TestService, serverUrl: string, password = NEW): Promise<void> {
  const { userId, token } = newUser();
  const responses = await spreadRequests([service], token, BURST * 3);
  expect(responses.filter((r) => r.status === 200)).toHaveLength(BURST);
  expect(await asAdmin(serverUrl, password, (admin) => storedBucket(admin, rateLimitKey(userId)))).toMatchObject({ actionCount: BURST });
}

/** The log lines an operator sees (warn and above) that name a refused password. */
const refusalLines = (service: TestService) =>
  service.logs.entries().filter((e) => LOUD.includes(String(e.level)) && /WRONGPASS|NOAUTH/.test(JSON.stringify(e)));

/**
 * With traffic running: `rotateRedis` gives Redis the new password and drops the service's
 * connections; once the service has said the password is refused, `rotateFile` rewrites
 * the Secret. Asserts the shared limit is back within BACK_WITHIN_MS, and what was logged.
 */
async function rotate(service: TestService, serverUrl: string, rotateRedis: () => Promise<void>, rotateFile: () => void): Promise<void> {
  const traffic = startTraffic([newUser(), newUser()].map(({ token }) => ({ replica: service, token })));
  const { results } = traffic;
  try {
    await waitFor(() => results.length >= 10, { what: 'requests before the rotation' });
    await rotateRedis();
    await waitFor(() => refusalLines(service).length > 0, { what: 'a warning that Redis refuses the password' });
    expect(await redisUp(service)).toBe(false);

    rotateFile();
    const rotatedAt = Date.now();
    await waitFor(() => redisUp(service), {
      timeoutMs: BACK_WITHIN_MS,
      intervalMs: 50,
      what: 'matrix_turn_redis_up 1 after the file changed',
    });
    await expectSharedLimit(service, serverUrl);
    expect(Date.now() - rotatedAt).toBeLessThan(BACK_WITHIN_MS);
    const atBack = results.length;
    await waitFor(() => results.length >= atBack + 10, { what: 'requests after the rotation' });
  } finally {
    await traffic.stop();
  }
  // Served throughout: the fallback answered while Redis refused the password.
  expect(results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
  expect((await readiness(service)).body.status).toBe('ready');

  const text = service.logs.text() + (await service.metrics()) + JSON.stringify((await readiness(service)).body);
  expect(text).not.toContain(OLD);
  expect(text).not.toContain(NEW);
}

describe('REDIS_PASSWORD_FILE and REDIS_URL_FILE rotated', () => {
  let redis: RedisProcess;
  let service: TestService | undefined;

  beforeEach(async () => {
    redis = await startRedis({ args: ['--requirepass', OLD] });
  });

  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await redis.stop();
  });

  /** Redis takes the new password; its clients are dropped, as a restart would. */
  const rotateRedis = () =>
    asAdmin(redis.url, OLD, async (admin) => {
      await admin.config('SET', 'requirepass', NEW);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    });

  /** The service on the shared limit, its Redis password read from a file that holds the old one. */
  async function startWithPasswordFile(name: string): Promise<{ s: TestService; file: string }> {
    const file = join(dir, name);
    writeFileSync(file, `${OLD}\n`);
    const s = (service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      REDIS_URL: redis.url,
      REDIS_PASSWORD_FILE: file,
      ...serviceEnv,
    }));
    await waitFor(() => redisUp(s), { what: 'matrix_turn_redis_up 1' });
    return { s, file };
  }

  test('REDIS_PASSWORD_FILE: WRONGPASS logged (never the password); the shared limit back within 10 s of the file changing', async () => {
    const { s, file } = await startWithPasswordFile('redis-password');
    await rotate(s, redis.url, rotateRedis, () => rewrite(file, `${NEW}\n`));
  });

  test('REDIS_URL_FILE holding the password: the same, once the URL file holds the new one', async () => {
    const file = join(dir, 'redis-url');
    writeFileSync(file, `redis://:${OLD}@127.0.0.1:${redis.port}/0\n`);
    const s = (service = await startTestService({ HOMESERVER_URL: homeserver.url, REDIS_URL_FILE: file, ...serviceEnv }));
    await waitFor(() => redisUp(s), { what: 'matrix_turn_redis_up 1' });
    await rotate(s, redis.url, rotateRedis, () => rewrite(file, `redis://:${NEW}@127.0.0.1:${redis.port}/0\n`));
  });

  test('the file rewritten first: nothing breaks meanwhile, and the next connection uses the new password', async () => {
    const { s, file } = await startWithPasswordFile('redis-password-first');
    rewrite(file, `${NEW}\n`);
    await waitFor(() => s.logs.entries().some((e) => e.setting === 'REDIS_PASSWORD_FILE' && /changed/.test(String(e.msg))), {
      what: 'the service to read the new file',
    });
    // Redis still has the old password: the connection the service holds stays in use.
    await expectSharedLimit(s, redis.url, OLD);
    await rotateRedis();
    await waitFor(() => redisUp(s), {
      timeoutMs: BACK_WITHIN_MS,
      intervalMs: 50,
      what: 'matrix_turn_redis_up 1 after Redis took the new password',
    });
    await expectSharedLimit(s, redis.url);
    expect(refusalLines(s)).toEqual([]);
    expect(s.logs.text()).not.toContain(OLD);
    expect(s.logs.text()).not.toContain(NEW);
  });
});

describe('the Sentinel password rotated (REDIS_PASSWORD_FILE, given to the master and the Sentinels)', () => {
  let sentinel: RedisSentinelSetup;
  let service: TestService | undefined;

  beforeAll(async () => {
    sentinel = await startRedisSentinel({ sentinels: 1, password: OLD });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await sentinel?.stop();
  });

  test(
    'master and Sentinel take the new password: WRONGPASS logged; ' + 'back on the shared limit within 10 s of the file changing',
    async () => {
      const file = join(dir, 'sentinel-password');
      writeFileSync(file, `${OLD}\n`);
      const s = (service = await startTestService({
        HOMESERVER_URL: homeserver.url,
        REDIS_SENTINELS: sentinel.sentinels,
        REDIS_SENTINEL_NAME: sentinel.name,
        REDIS_PASSWORD_FILE: file,
        ...serviceEnv,
      }));
      await waitFor(() => redisUp(s), { what: 'matrix_turn_redis_up 1 through the Sentinel' });
      const sentinelUrl = `redis://127.0.0.1:${sentinel.sentinelPorts[0]}`;
      const rotateRedis = async () => {
        // The Sentinel first (so it never sees the master refuse it), then the servers.
        await asAdmin(sentinelUrl, OLD, (admin) => admin.call('ACL', 'SETUSER', 'default', 'resetpass', `>${NEW}`));
        await asAdmin(sentinelUrl, NEW, (admin) => admin.call('SENTINEL', 'SET', sentinel.name, 'auth-pass', NEW));
        for (const server of [sentinel.replica, sentinel.master]) {
          await asAdmin(server.url, OLD, async (admin) => {
            await admin.config('SET', 'masterauth', NEW);
            await admin.config('SET', 'requirepass', NEW);
            await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
          });
        }
      };
      await rotate(s, sentinel.master.url, rotateRedis, () => rewrite(file, `${NEW}\n`));
    },
    60_000,
  );
});
