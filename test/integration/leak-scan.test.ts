// Nothing leaks: the whole hostile scenario (valid, unknown, expired and malformed tokens,
// tokens in the query string, rate limits, a failing and a hanging homeserver, Redis
// killed) runs at LOG_LEVEL=trace, then every log line, the /metrics text, every error
// body and every key and value in Redis is searched for the access tokens, the TURN
// shared secret, the Redis password and the TURN passwords that were handed out. The
// built process is scanned too, including its configuration dump at start and its
// refusal of a bad configuration.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBuiltService, runBuiltServiceToExit } from '../helpers/built-service.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { getRequest, rawRequest } from '../helpers/raw-http.js';
import { adminConnection } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const PATH = '/_matrix/client/v3/voip/turnServer';
const unique = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/** Everything that must never be seen outside the process, by what it is. */
const secrets = {
  turnSecret: unique('turnsecret'),
  logUserHashKey: unique('loghashkey'),
  redisPassword: unique('redispw'),
  validTokens: [unique('syt_valid_a_'), unique('syt_valid_b_'), unique('syt_valid_c_')],
  expiredToken: unique('syt_expired_'),
  unknownTokens: Array.from({ length: 12 }, () => unique('syt_unknown_')),
  queryToken: unique('syt_query_'),
  recoveryTokens: [unique('syt_recovery_a_'), unique('syt_recovery_b_')],
  malformedTokens: Array.from({ length: 8 }, () => unique('syt_malformed_')),
  turnPasswords: [] as string[],
};
const allSecrets = () => [
  secrets.turnSecret,
  secrets.logUserHashKey,
  secrets.redisPassword,
  ...secrets.validTokens,
  secrets.expiredToken,
  ...secrets.unknownTokens,
  secrets.queryToken,
  ...secrets.recoveryTokens,
  ...secrets.malformedTokens,
  ...secrets.turnPasswords,
];

/** Where each secret was found; empty when nothing leaked. */
function leaks(where: string, text: string): string[] {
  return allSecrets()
    .filter((secret) => text.includes(secret))
    .map((secret) => `${where} contains ${secret}`);
}

describe('nothing leaks from the service in process', () => {
  let homeserver: StandInHomeserver;
  let redis: RedisProcess;
  let service: TestService;
  const errorBodies: string[] = [];
  const redisDump: string[] = [];

  beforeAll(async () => {
    homeserver = await startHomeserver();
    secrets.validTokens.forEach((token, i) => homeserver.addToken(token, { userId: `@user${i}:example.org` }));
    homeserver.addToken(secrets.expiredToken, { userId: '@expired:example.org', expired: true });
    secrets.recoveryTokens.forEach((token, i) => homeserver.addToken(token, { userId: `@recovery${i}:example.org` }));
    redis = await startRedis({ args: ['--requirepass', secrets.redisPassword] });
    service = await startTestService({
      HOMESERVER_URL: homeserver.url,
      REDIS_URL: `redis://:${secrets.redisPassword}@127.0.0.1:${redis.port}`,
      TURN_SHARED_SECRET: secrets.turnSecret,
      LOG_USER_HASH_KEY: secrets.logUserHashKey,
      LOG_LEVEL: 'trace',
      RATE_LIMIT_BURST: '3',
      UNKNOWN_TOKEN_RATE_LIMIT_BURST: '6',
      UPSTREAM_BREAKER_FAILURES: '2',
      UPSTREAM_BREAKER_RESET_MS: '200',
      UPSTREAM_TIMEOUT_MS: '300',
    });
  });

  afterAll(async () => {
    await service?.stop();
    await homeserver?.close();
    await redis?.stop();
  });

  /** Sends a request, keeps a 200's TURN password as a secret and any other body for the scan. */
  const call = async (token: string | undefined, init: { path?: string; headers?: Record<string, string> } = {}) => {
    const res = await service.turnServer(token, init);
    const text = await res.text();
    if (res.status === 200) secrets.turnPasswords.push((JSON.parse(text) as { password: string }).password);
    else errorBodies.push(text);
    return res.status;
  };

  test('the scenario runs: every kind of answer was produced', async () => {
    const statuses = new Set<number>();
    for (const token of secrets.validTokens) for (let i = 0; i < 4; i++) statuses.add(await call(token));
    statuses.add(await call(undefined, { path: `${PATH}?access_token=${secrets.queryToken}` }));
    statuses.add(await call(secrets.validTokens[0], { path: `${PATH}?access_token=${secrets.queryToken}` }));
    statuses.add(await call(secrets.expiredToken));

    // The homeserver fails, then hangs: 502, the breaker's 503, and a probe's 504.
    homeserver.mode = 'error500';
    for (const token of secrets.unknownTokens.slice(0, 3)) statuses.add(await call(`${token}x`));
    homeserver.mode = 'hang';
    await waitFor(async () => (await call(`${secrets.unknownTokens[5]}h`)) === 504, { what: 'a 504 from the hanging homeserver' });
    statuses.add(504);
    homeserver.mode = 'normal';
    await waitFor(async () => (await call(secrets.recoveryTokens[0])) === 200, { what: 'the breaker to close' });

    // Guessing: 401s, then the address's budget runs out (429).
    for (const token of secrets.unknownTokens) statuses.add(await call(token));

    const [t0, t1, t2, t3, t4, t5, t6, t7] = secrets.malformedTokens as [string, string, string, string, string, string, string, string];
    const malformed = [
      getRequest(PATH, [`Authorization: Bearer ${t0} ${t1}`]),
      getRequest(PATH, [`Authorization: Bearer ${t2}\x01`]),
      getRequest(PATH, [`Authorization: Bearer ${t3}${'x'.repeat(20_000)}`]),
      getRequest(PATH, [`Authorization: Bearer ${t4}${'y'.repeat(9000)}`]),
      getRequest(PATH, [`Authorization: Bearer ${t5}\xe9`]),
      getRequest(PATH, [`Authorization: Basic ${t6}`]),
      getRequest(`${PATH}?access_token=${t7}&pad=${'z'.repeat(11_000)}`),
      getRequest(PATH, [`Authorization: Bearer ${t7}`], 'FOO'),
    ];
    for (const request of malformed) {
      const res = await rawRequest(service.running.port, request);
      statuses.add(res.status);
      errorBodies.push(res.body, JSON.stringify(res.headers));
    }

    // Redis holds per-user state now: read all of it before Redis is killed.
    const admin = adminConnection(redis.url, { password: secrets.redisPassword });
    try {
      for (const key of await admin.keys('*')) {
        redisDump.push(key);
        const type = await admin.type(key);
        if (type === 'hash') redisDump.push(JSON.stringify(await admin.hgetall(key)));
        else if (type === 'string') redisDump.push(String(await admin.get(key)));
        else if (type === 'set') redisDump.push(JSON.stringify(await admin.smembers(key)));
        else if (type === 'zset') redisDump.push(JSON.stringify(await admin.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'list') redisDump.push(JSON.stringify(await admin.lrange(key, 0, -1)));
        else redisDump.push(`(${type})`);
      }
    } finally {
      admin.disconnect();
    }
    expect(redisDump.length).toBeGreaterThan(0);

    // Redis dies and comes back: the fallback's transitions are logged too.
    await redis.kill();
    for (const token of secrets.recoveryTokens) statuses.add(await call(token));
    await redis.restart();
    await waitFor(async () => (await service.metrics()).includes('matrix_turn_redis_up 1'), { what: 'Redis to be used again' });

    for (const expected of [200, 400, 401, 405, 414, 429, 431, 502, 503, 504])
      expect([expected, statuses.has(expected)]).toEqual([expected, true]);
    expect(secrets.turnPasswords.length).toBeGreaterThan(3);
  }, 60_000);

  test('no log line, at any level, holds a token, a secret or a TURN password', () => {
    const found = service.logs.lines.flatMap((line, i) => leaks(`log line ${i}`, line));
    expect(found).toEqual([]);
    // The lines are talkative enough for the scan to mean something: who asked is there.
    expect(service.logs.text()).toContain('@user0:example.org');
    // The scan covered the levels that say the most.
    const levels = new Set(service.logs.entries().map((e) => e.level));
    for (const level of ['debug', 'info', 'warn']) expect([level, levels.has(level)]).toEqual([level, true]);
  });

  test('no error body or header holds one', () => {
    expect(errorBodies.length).toBeGreaterThan(20);
    expect(errorBodies.flatMap((body, i) => leaks(`error body ${i}`, body))).toEqual([]);
  });

  test('the /metrics text holds none', async () => {
    const metrics = await service.metrics();
    expect(metrics).toContain('matrix_turn_credentials_issued_total');
    expect(leaks('/metrics', metrics)).toEqual([]);
  });

  test('Redis holds no token or secret: keys are user ids, not tokens', () => {
    expect(redisDump.flatMap((entry, i) => leaks(`redis entry ${i}`, entry))).toEqual([]);
  });
});

describe('nothing leaks from the built process', () => {
  let homeserver: StandInHomeserver;
  let dir: string;

  beforeAll(async () => {
    homeserver = await startHomeserver();
    homeserver.addToken(secrets.validTokens[0]!, { userId: '@user0:example.org' });
    dir = mkdtempSync(join(tmpdir(), 'mtc-leak-'));
  });
  afterAll(async () => {
    await homeserver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('start (configuration dump), requests and stop at LOG_LEVEL=trace print no secret', async () => {
    const secretFile = join(dir, 'turn-secret');
    writeFileSync(secretFile, `${secrets.turnSecret}\n`);
    const built = await startBuiltService({
      HOMESERVER_URL: homeserver.url,
      TURN_URIS: 'turn:turn.example.org:3478',
      TURN_SHARED_SECRET_FILE: secretFile,
      REDIS_URL: `redis://:${secrets.redisPassword}@127.0.0.1:1`,
      RATE_LIMIT_ON_REDIS_ERROR: 'local',
      LOG_LEVEL: 'trace',
    });
    try {
      const turn = (token: string) => fetch(`${built.url}${PATH}`, { headers: { authorization: `Bearer ${token}` } });
      const ok = await turn(secrets.validTokens[0]!);
      expect(ok.status).toBe(200);
      secrets.turnPasswords.push(((await ok.json()) as { password: string }).password);
      expect((await turn(secrets.unknownTokens[0]!)).status).toBe(401);
      expect((await rawRequest(built.port, getRequest(PATH, [`Authorization: Bearer ${secrets.malformedTokens[0]}\x02`]))).status).toBe(
        400,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${built.metricsPort}/metrics`)).text();
      expect(leaks('/metrics of the built process', metrics)).toEqual([]);
    } finally {
      await built.stop();
    }
    const { code } = await built.exited;
    expect(code).toBe(0);
    const output = `${built.stdout()}\n${built.stderr()}`;
    // The dump was printed, with the secrets masked rather than left out of the scan.
    expect(output).toContain('"msg":"starting"');
    expect(output).toContain(`<file ${secretFile}>`);
    expect(output).toContain('redis://:****@127.0.0.1:1');
    expect(leaks('output of the built process', output)).toEqual([]);
  }, 60_000);

  test('a refused configuration names the problem, prints no secret and no stack trace', async () => {
    const result = await runBuiltServiceToExit({
      HOMESERVER_URL: homeserver.url,
      TURN_URIS: 'turn:turn.example.org:3478',
      TURN_SHARED_SECRET: secrets.turnSecret,
      REDIS_URL: `redis://:${secrets.redisPassword}@127.0.0.1:6379`,
      APPSERVICE_HS_TOKEN: secrets.validTokens[1]!,
      PORT: 'eighty',
      LOG_LEVEL: 'trace',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PORT');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(leaks('output of a refused start', `${result.stdout}\n${result.stderr}`)).toEqual([]);
  });
});
