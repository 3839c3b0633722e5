// The composition root: one Redis connection, shared by the limiter and the cluster-wide
// figures, which record what the minter issues; closing flushes the figures' last batch
// before the connection goes. And the configuration mapped onto each module's options:
// the token cache in front of the verifiers that can be cached, and each secret's rule of
// the start handed on for the re-reads of its file.

import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { authOptions, buildDependencies, turnServersOptions, type BuiltDependencies } from '../../src/app.js';
import { tokenHash } from '../../src/auth/token-hash.js';
import type { TurnCredentials } from '../../src/turn/credentials.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { rateLimitKey } from '../../src/ratelimit/redis.js';
import { ISSUED_KEY } from '../../src/stats/cluster.js';
import { startHomeserver, type StandInHomeserver } from '../helpers/homeserver.js';
import { adminConnection } from '../helpers/redis-admin.js';
import { startRedis, type RedisProcess } from '../helpers/redis.js';
import { manualClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/wait.js';

const BASE = {
  HOMESERVER_URL: 'https://matrix.example.org',
  TURN_URIS: 'turn:turn.example.org:3478?transport=udp',
  TURN_SHARED_SECRET: 's3cret',
};

function build(env: Record<string, string>): { deps: BuiltDependencies; registry: Registry } {
  const registry = new Registry();
  const deps = buildDependencies(loadConfig({ ...BASE, ...env }), { logger: createLogger('silent'), registry, defaultMetrics: false });
  return { deps, registry };
}

function acceptedAtStart(env: Record<string, string>): boolean {
  try {
    loadConfig({ ...BASE, ...env });
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}

describe('with Redis', () => {
  let redis: RedisProcess;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = adminConnection(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  /** The service's connections to Redis, by the name its client gives them. */
  const serviceConnections = async () =>
    ((await admin.client('LIST')) as string).split('\n').filter((line) => line.includes('name=matrix-turn-credentials')).length;

  it('one connection for the limiter and the figures; what is minted is counted; close writes the last batch, then quits', async () => {
    const { deps, registry } = build({ REDIS_URL: redis.url });
    try {
      await waitFor(async () => /^matrix_turn_redis_up 1$/m.test(await registry.metrics()), { what: 'the limiter to be on Redis' });
      expect(await serviceConnections()).toBe(1);

      await expect(deps.limiter.consume('@ann:example.org')).resolves.toEqual({ allowed: true });
      expect(await admin.exists(rateLimitKey('@ann:example.org'))).toBe(1);
      await deps.minter.mint('@ann:example.org');
      await deps.minter.mint('@bob:example.org');
      expect(await registry.metrics()).toMatch(/^matrix_turn_cluster_credentials_issued_total 2$/m);
      expect(await serviceConnections()).toBe(1);

      // Only in this replica's batch until the next flush: close must write it before the connection goes.
      await deps.minter.mint('@ann:example.org');
    } finally {
      await deps.close();
    }
    expect(await admin.get(ISSUED_KEY)).toBe('3');
    await waitFor(async () => (await serviceConnections()) === 0, { what: 'the connection to be closed' });
  });
});

describe('without Redis', () => {
  it('limits in process, exports no cluster-wide figures, and mints all the same', async () => {
    const { deps, registry } = build({});
    try {
      expect(deps.health.report()).toMatchObject({ ready: true });
      expect(JSON.stringify(deps.health.report())).toMatch(/in-process limiter/);
      await expect(deps.limiter.consume('@ann:example.org')).resolves.toEqual({ allowed: true });
      expect(deps.minter.mint('@ann:example.org')).toMatchObject({ uris: ['turn:turn.example.org:3478?transport=udp'], ttl: 3600 });
      expect(await registry.metrics()).not.toMatch(/matrix_turn_cluster_/);
    } finally {
      await deps.close();
    }
  });
});

describe('the token cache', () => {
  let homeserver: StandInHomeserver;
  beforeAll(async () => {
    homeserver = await startHomeserver();
    homeserver.addToken('ann-token', { userId: '@ann:example.org' });
  });
  afterAll(() => homeserver.close());

  it('keeps what the homeserver said about a token: the next request finds it without asking', async () => {
    const { deps } = build({ HOMESERVER_URL: homeserver.url });
    try {
      const hash = tokenHash('ann-token');
      expect(deps.tokens.peek(hash)).toBeUndefined();
      await expect(deps.tokens.verify('ann-token', hash, {})).resolves.toMatchObject({ userId: '@ann:example.org' });
      expect(deps.tokens.peek(hash)).toMatchObject({ userId: '@ann:example.org' });
      expect(homeserver.calls).toBe(1);
    } finally {
      await deps.close();
    }
  });

  it('keeps nothing for the appservice method, whose answer depends on a header besides the token', async () => {
    const { deps } = build({ AUTH_METHOD: 'appservice', APPSERVICE_HS_TOKEN: 'hs-token-1', SERVER_NAME: 'example.org' });
    try {
      const hash = tokenHash('hs-token-1');
      await expect(deps.tokens.verify('hs-token-1', hash, { userIdHeader: '@ann:example.org' })).resolves.toMatchObject({
        userId: '@ann:example.org',
      });
      expect(deps.tokens.peek(hash)).toBeUndefined();
      await expect(deps.tokens.verify('hs-token-1', hash, { userIdHeader: '@bob:example.org' })).resolves.toMatchObject({
        userId: '@bob:example.org',
      });
    } finally {
      await deps.close();
    }
  });
});

describe("each secret's rule of the start, handed on for the re-reads of its file", () => {
  it.each([',new', 'new,', 'a,,b', ' , ', 'a, b', 'a'])(
    'TURN_SHARED_SECRET %j: refused on re-read exactly when refused at start',
    (value) => {
      const { credentials } = turnServersOptions(loadConfig(BASE)).servers[0]!;
      expect(credentials?.kind).toBe('shared-secret');
      const refused = credentials?.kind === 'shared-secret' && credentials.validateSharedSecrets(value) !== undefined;
      expect(refused).toBe(!acceptedAtStart({ TURN_SHARED_SECRET: value }));
    },
  );

  it('JWT_PUBLIC_KEY: a key none of JWT_ALGORITHMS verifies is refused on re-read, as at start', () => {
    const pem = (type: 'ec' | 'rsa') =>
      (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })).publicKey
        .export({ type: 'spki', format: 'pem' })
        .toString();
    const jwt = {
      AUTH_METHOD: 'jwt',
      SERVER_NAME: 'example.org',
      JWT_ISSUER: 'https://auth.example.org/',
      JWT_AUDIENCE: 'turn',
      JWT_ALGORITHMS: 'RS256',
    };
    const { method } = authOptions(loadConfig({ ...BASE, ...jwt, JWT_PUBLIC_KEY: pem('rsa') }));
    if (method.method !== 'jwt' || !('publicKey' in method.keys)) throw new Error('expected a static JWT key');
    const ec = pem('ec');
    expect(method.keys.validatePublicKey(pem('rsa'))).toBeUndefined();
    expect(method.keys.validatePublicKey(ec)).toEqual(expect.any(String));
    expect(acceptedAtStart({ ...jwt, JWT_PUBLIC_KEY: ec })).toBe(false);
  });
});

describe('the injected timers', () => {
  it("drive every secret file's poll: a rewrite is taken when the clock moves, and nothing polls on Node's timers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtc-app-timers-'));
    const clock = manualClock();
    try {
      const path = join(dir, 'secret');
      writeFileSync(path, 'first');
      const { TURN_SHARED_SECRET: _inline, ...base } = BASE;
      const config = loadConfig({ ...base, TURN_SHARED_SECRET_FILE: path });
      const deps = buildDependencies(config, {
        logger: createLogger('silent'),
        registry: new Registry(),
        defaultMetrics: false,
        clock,
        timers: clock,
      });
      const passwordFor = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');
      // One coturn server: its credential is minted at once, never through a promise.
      const minted = () => deps.minter.mint('@alice:example.org') as TurnCredentials;
      expect(clock.pendingTimers()).toBeGreaterThan(0);
      // The first check runs at once; wait for its stat, then rotate.
      await waitFor(() => minted().password === passwordFor('first', minted().username), { what: 'the first read' });
      writeFileSync(path, 'second-and-longer');
      clock.advance(1000);
      await waitFor(() => minted().password === passwordFor('second-and-longer', minted().username), {
        what: 'the rewrite, on the injected poll',
      });
      await deps.close();
      expect(clock.pendingTimers()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
