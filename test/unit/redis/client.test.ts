// The Redis client's credentials against a real redis-server: each connection it opens,
// reconnections included, authenticates with what the password file (or the URL file)
// holds then, which is what ioredis is relied on for (redis-client.ts, readLive: this breaks
// if an ioredis upgrade stops reading options at each connect); a rewritten URL naming
// another server is refused (logged, counted) and moves nothing; a refused password is
// logged once by name, never with the password.

import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { createRedisClient, type RedisClient } from '../../../src/redis/client.js';
import { captureLogs, type CapturedLogs } from '../../helpers/logs.js';
import { adminConnection } from '../../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const OLD = 'unit-old-pw-31f0';
const NEW = 'unit-new-pw-c77a';

let dir: string;
let redis: RedisProcess;
let admin: Redis;
let client: RedisClient | undefined;
let logs: CapturedLogs;

function rewrite(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

/** Connections to `server` named as the service names its own. */
async function serviceConnections(server: Redis): Promise<number> {
  return String(await server.call('CLIENT', 'LIST'))
    .split('\n')
    .filter((line) => / name=matrix-turn-credentials /.test(line)).length;
}

/** How many times the file under `setting` was re-read with a new value. */
const changes = (setting: string) => logs.entries().filter((e) => e.setting === setting && /changed/.test(String(e.msg))).length;
const fileChanged = (setting: string) => () => changes(setting) > 0;
const ready = () => client?.status === 'ready';

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtc-redis-client-'));
  redis = await startRedis({ args: ['--requirepass', OLD] });
  admin = adminConnection(redis.url, { password: OLD });
  logs = captureLogs();
});

afterEach(async () => {
  client?.disconnect();
  client = undefined;
  admin.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const logger = () => createLogger('debug', logs.stream);

test('REDIS_PASSWORD_FILE rewritten: the next connection, and each one after, authenticates with the new password', async () => {
  const file = join(dir, 'password');
  writeFileSync(file, OLD);
  client = createRedisClient(
    { url: { value: redis.url }, password: { value: OLD, path: file }, tls: false, commandTimeoutMs: 5000 },
    { logger: logger() },
  );
  await waitFor(ready, { what: 'the first connection' });

  rewrite(file, NEW);
  await waitFor(fileChanged('REDIS_PASSWORD_FILE'), { what: 'the file to be re-read' });
  // Redis keeps connections authenticated before the change; a restart would drop them.
  await admin.config('SET', 'requirepass', NEW);
  await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  await waitFor(async () => ready() && (await serviceConnections(admin)) === 1, { what: 'a connection with the new password' });
  expect(await client.ping()).toBe('PONG');
  expect(logs.entries().filter((e) => e.code !== undefined)).toEqual([]);
  expect(logs.text()).not.toContain(OLD);
  expect(logs.text()).not.toContain(NEW);
});

test(
  'a refused password: one error line naming WRONGPASS and the setting to fix, ' + 'however many reconnections; never the password',
  async () => {
    const file = join(dir, 'password');
    writeFileSync(file, OLD);
    client = createRedisClient(
      { url: { value: redis.url }, password: { value: OLD, path: file }, tls: false, commandTimeoutMs: 5000 },
      { logger: logger() },
    );
    await waitFor(ready, { what: 'the first connection' });
    await admin.config('SET', 'requirepass', NEW);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    // Each reconnection is refused again, and each refusal is an error event.
    const refusals = () => logs.entries().filter((e) => /WRONGPASS/.test(String(e.detail)));
    await waitFor(() => refusals().length >= 3, { what: 'three refused reconnections' });
    const loud = logs.entries().filter((e) => e.level === 'error' || e.level === 'warn');
    expect(loud).toEqual([expect.objectContaining({ code: 'WRONGPASS', msg: expect.stringContaining('REDIS_PASSWORD_FILE') })]);

    rewrite(file, NEW);
    await waitFor(ready, { what: 'a connection once the file holds the new password' });
    expect(logs.text()).not.toContain(OLD);
    expect(logs.text()).not.toContain(NEW);
  },
);

test('no password configured for a Redis that needs one: NOAUTH, logged once as such', async () => {
  client = createRedisClient({ url: { value: redis.url }, tls: false, commandTimeoutMs: 5000 }, { logger: logger() });
  await waitFor(() => logs.entries().filter((e) => /NOAUTH/.test(String(e.detail))).length >= 3, { what: 'three refused connections' });
  const loud = logs.entries().filter((e) => e.level === 'error' || e.level === 'warn');
  expect(loud).toEqual([expect.objectContaining({ code: 'NOAUTH', msg: expect.stringMatching(/no password is configured/) })]);
});

test(
  'REDIS_URL_FILE: new credentials followed; ' + 'a URL naming another server, or no URL, refused and counted; the client stays',
  async () => {
    const other = await startRedis();
    const otherAdmin = adminConnection(other.url);
    try {
      const file = join(dir, 'url');
      const url = (password: string, port = redis.port) => `redis://:${password}@127.0.0.1:${port}/0`;
      writeFileSync(file, url(OLD));
      const metrics = createMetrics(new Registry(), { defaultMetrics: false, redis: true });
      const failures = async () =>
        (await metrics.secretReloadFailures.get()).values.find((v) => v.labels.secret === 'REDIS_URL_FILE')?.value;
      client = createRedisClient(
        { url: { value: url(OLD), path: file }, tls: false, commandTimeoutMs: 5000 },
        { logger: logger(), secretReloadFailures: metrics.secretReloadFailures },
      );
      await waitFor(ready, { what: 'the first connection' });

      rewrite(file, url(NEW));
      await waitFor(fileChanged('REDIS_URL_FILE'), { what: 'the URL file to be re-read' });
      await admin.config('SET', 'requirepass', NEW);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(async () => ready() && (await serviceConnections(admin)) === 1, {
        what: 'a connection with the new password in the URL file',
      });

      // Another server in the file: refused, the last good URL kept (with its credentials).
      rewrite(file, `redis://:${NEW}@localhost:${other.port}/3`);
      await waitFor(
        () => logs.entries().some((e) => e.level === 'error' && /refused: the new value names another server/.test(String(e.msg))),
        {
          what: 'the refusal',
        },
      );
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(async () => ready() && (await serviceConnections(admin)) === 1, { what: 'the reconnection to the same server' });
      expect(await serviceConnections(otherAdmin)).toBe(0);

      // Not a URL at all: refused as well.
      rewrite(file, 'not a url');
      await waitFor(() => logs.entries().some((e) => /refused: the new value is not a redis:\/\/ or rediss:\/\/ URL/.test(String(e.msg))), {
        what: 'the refusal',
      });
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await waitFor(async () => ready() && (await serviceConnections(admin)) === 1, { what: 'the reconnection with the kept credentials' });
      expect(await failures()).toBe(2);
      expect(changes('REDIS_URL_FILE')).toBe(1);
      expect(logs.text()).not.toContain(OLD);
      expect(logs.text()).not.toContain(NEW);
    } finally {
      otherAdmin.disconnect();
      await other.stop();
    }
  },
);

test("a URL given under another variable (coturn's COTURN_REDIS_URL_FILE) is named by it in the log and the failures metric", async () => {
  const file = join(dir, 'coturn-url');
  writeFileSync(file, `redis://:${OLD}@127.0.0.1:${redis.port}/0`);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false, redis: true });
  client = createRedisClient(
    {
      url: { value: `redis://:${OLD}@127.0.0.1:${redis.port}/0`, path: file },
      tls: false,
      commandTimeoutMs: 5000,
      urlSetting: 'COTURN_REDIS_URL',
    },
    { logger: logger(), secretReloadFailures: metrics.secretReloadFailures },
  );
  await waitFor(ready, { what: 'the first connection' });
  rewrite(file, 'not a url');
  await waitFor(() => logs.entries().some((e) => e.setting === 'COTURN_REDIS_URL_FILE' && e.level === 'error'), { what: 'the refusal' });
  const counted = (await metrics.secretReloadFailures.get()).values.map((v) => [v.labels.secret, v.value]);
  expect(counted).toEqual([['COTURN_REDIS_URL_FILE', 1]]);
  expect(logs.text()).not.toContain('"REDIS_URL_FILE"');
});
