// The composition root. createApp(config, deps): the Koa app from explicit parts, no module
// state; tests build it with real or substitute parts, main.ts for production.
// buildDependencies(config, base) makes the parts the configuration asks for: the one
// Redis client, handed to each of its users (the limiter, the cluster-wide figures), the
// TURN servers with their health checks (started here, in the background) and, for managed
// secrets, a client of coturn's Redis of their own, and the minter
// wrapped so that the figures record what it issues. The *Options functions
// are the one place that maps the configuration onto each module's own options.

import Koa from 'koa';
import type { Registry } from 'prom-client';
import { createTokenCache, type AuthMethodOptions, type AuthOptions } from './auth/index.js';
import type { TokenCache } from './auth/types.js';
import { systemClock, systemTimers, type Clock, type Timers } from './clock.js';
import { FLAT_TURN_SERVER_NAME, type Config, type TurnServerSetting } from './config/index.js';
import { sharedSecretsProblem } from './config/shared-secrets.js';
import { createHealth, type Health } from './health.js';
import type { AccessLogOptions } from './http/access-log.js';
import { requestEnvelope } from './http/request-envelope.js';
import type { RequestIdOf } from './http/request-id.js';
import { createRoutes, TURN_SERVER_PATHS } from './http/routes.js';
import { exactGetRoute } from './fast-paths/exact-get-route.js';
import { derivedUserHashKey } from './http/user-hash.js';
import { publicKeyRule } from './jwt-public-key.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createRateLimiter, type RateLimiterOptions } from './ratelimit/index.js';
import { memoryLimiter } from './ratelimit/memory.js';
import type { RateLimiter } from './ratelimit/types.js';
import { closeRedisClient, createRedisClient } from './redis/client.js';
import { createClusterStats, exportClusterStats } from './stats/cluster.js';
import type { MaybeAsyncMinter } from './turn/credentials.js';
import { recordingIssuance } from './turn/index.js';
import { probeUri } from './turn/probe/probe-uri.js';
import { createTurnServers, type TurnServerOptions, type TurnServersDeps, type TurnServersOptions } from './turn/servers.js';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  health: Health;
  tokens: TokenCache;
  limiter: RateLimiter;
  minter: MaybeAsyncMinter;
  /** The process's request ids, when the server's answers outside the app share them (server.ts); else the app's own. */
  requestIdOf?: RequestIdOf;
}

export interface BuiltDependencies extends AppDeps {
  /** Releases connections, timers and file watches. */
  close(): Promise<void>;
}

export interface BaseDeps {
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  /** What the parts' timeouts and periodic work run on, default Node's; a test passes its manual clock here and as `clock`. */
  timers?: Timers;
  /** Collect prom-client's process metrics (default true). */
  defaultMetrics?: boolean;
  /** What a TURN health check runs, default the real STUN/TURN probe; a test may count or stand in for it. */
  probe?: TurnServersDeps['probe'];
}

export function buildDependencies(config: Config, base: BaseDeps): BuiltDependencies {
  const clock = base.clock ?? systemClock;
  const timers = base.timers ?? systemTimers;
  const metrics = createMetrics(base.registry, { defaultMetrics: base.defaultMetrics ?? true, redis: config.redis !== undefined });
  const health = createHealth();
  const { logger } = base;
  const tokens = createTokenCache(authOptions(config), { logger, metrics, clock, timers });
  const redis = config.redis && {
    client: createRedisClient(config.redis, { logger, secretReloadFailures: metrics.secretReloadFailures, timers }),
    timeoutMs: config.redis.commandTimeoutMs,
  };
  const limiter = createRateLimiter(rateLimiterOptions(config), { logger, metrics, clock, timers, health, ...(redis && { redis }) });
  const stats = redis && createClusterStats({ client: redis.client, clock, timers, logger, timeoutMs: redis.timeoutMs });
  if (stats) exportClusterStats(stats, metrics.registry);
  const managed = config.turn.managedSecrets;
  // coturn's Redis has a client of its own: another server, or another database, than REDIS_URL's.
  const coturnRedis = managed && {
    client: createRedisClient(
      { ...managed.redis, urlSetting: 'COTURN_REDIS_URL' },
      { logger, secretReloadFailures: metrics.secretReloadFailures, timers },
    ),
    timeoutMs: managed.redis.commandTimeoutMs,
  };
  const turn = createTurnServers(turnServersOptions(config), {
    clock,
    logger,
    metrics,
    timers,
    probe: base.probe ?? probeUri,
    ...(coturnRedis && { coturnRedis: coturnRedis.client }),
  });
  health.register('turn', turn.status);
  if (turn.secretsStatus) health.register('turn_secrets', turn.secretsStatus);
  turn.start();

  // The client's users before the client: the figures' last batch, then the limiter's probes.
  const closeRedisUsers = async () => {
    await stats?.close();
    await limiter.close?.();
    if (redis) await closeRedisClient(redis.client, redis.timeoutMs);
  };
  return {
    logger,
    metrics,
    clock,
    health,
    tokens,
    limiter,
    minter: stats ? recordingIssuance(turn.minter, stats) : turn.minter,
    async close() {
      const closeTurn = async () => {
        await turn.close();
        if (coturnRedis) await closeRedisClient(coturnRedis.client, coturnRedis.timeoutMs);
      };
      await Promise.allSettled([closeTurn(), tokens.close(), closeRedisUsers()]);
    },
  };
}

export function createApp(config: Config, deps: AppDeps): Koa {
  // maxIpsCount 1: ctx.ip is the address our proxy appended, not one the client wrote.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  app.silent = true;
  const { router, turnServer } = createRoutes({
    tokens: deps.tokens,
    limiter: deps.limiter,
    minter: deps.minter,
    metrics: deps.metrics,
    health: deps.health,
    allowGuests: config.turn.allowGuests,
    exemptUsers: new Set(config.rateLimit.exemptUsers),
    unknownTokens: {
      budget: memoryLimiter({
        perSecond: config.rateLimit.unknownTokenPerSecond,
        burst: config.rateLimit.unknownTokenBurst,
        clock: deps.clock,
      }),
      // Verifying and waiting: a wave of new users behind one proxy waits its turn (the guard
      // verifies `burst` at a time); past a thousand at once, 429 rather than a longer queue.
      maxPendingPerAddress: 1000,
      trustProxy: config.trustProxy,
    },
  });
  app.use(requestEnvelope(deps.logger, deps.metrics, () => deps.health.draining, accessLogOptions(config), deps.requestIdOf));
  app.use(exactGetRoute(TURN_SERVER_PATHS, turnServer));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

// ---- configuration onto each module's options -------------------------------------
// The configuration's cross-field rules guarantee what each method needs (so the `!`s).

export function authOptions(config: Config): AuthOptions {
  const { auth } = config;
  return {
    method: authMethodOptions(auth),
    upstream: {
      timeoutMs: auth.upstreamTimeoutMs,
      maxConcurrency: auth.upstreamMaxConcurrency,
      breakerFailureThreshold: auth.breakerFailureThreshold,
      breakerResetMs: auth.breakerResetMs,
    },
    tokenCache: config.tokenCache,
  };
}

function authMethodOptions(auth: Config['auth']): AuthMethodOptions {
  switch (auth.method) {
    case 'whoami':
      return { method: 'whoami', homeserverUrl: auth.homeserverUrl! };
    case 'introspection': {
      const { url, clientId, clientSecret, clientAuth, userClaim } = auth.introspection!;
      return {
        method: 'introspection',
        url,
        ...(clientId !== undefined && { clientId }),
        clientSecret: clientSecret!,
        clientAuth,
        userClaim,
        serverName: auth.serverName!,
      };
    }
    case 'jwt': {
      const { jwksUrl, publicKey, issuer, audience, algorithms, userClaim } = auth.jwt!;
      return {
        method: 'jwt',
        // A re-read key file is held to the rule the configuration held the key to at start.
        keys: publicKey !== undefined ? { publicKey, validatePublicKey: publicKeyRule(algorithms) } : { jwksUrl: jwksUrl! },
        issuer: issuer!,
        audience: audience!,
        algorithms,
        userClaim,
        serverName: auth.serverName!,
      };
    }
    case 'appservice':
      return { method: 'appservice', hsToken: auth.appservice!.hsToken, serverName: auth.serverName! };
  }
}

/** The access line's options: its user hash key is LOG_USER_HASH_KEY, else derived from a secret the service has, else none (random). */
export function accessLogOptions(config: Config): AccessLogOptions {
  const { clientAddress, userHashKey } = config.accessLog;
  const secret = userHashKey === undefined ? userHashSecret(config) : undefined;
  return {
    trustProxy: config.trustProxy,
    clientAddress,
    userHashKey: userHashKey?.value ?? (secret === undefined ? undefined : derivedUserHashKey(secret)),
  };
}

/**
 * The secret a user hash key is derived from, in the order docs/operations.md ("Logs")
 * gives: the appservice token, the introspection client secret, then the first TURN
 * server's signing shared secret or static password; each as read at start.
 */
function userHashSecret({ auth, turn }: Config): string | undefined {
  const turnSecret = turn.servers
    .map(({ credential }) =>
      credential?.kind === 'shared-secret' ? credential.sharedSecrets.value.split(',')[0]!.trim() : credential?.password.value,
    )
    .find((secret) => secret !== undefined);
  return auth.appservice?.hsToken.value ?? auth.introspection?.clientSecret?.value ?? turnSecret;
}

export function rateLimiterOptions(config: Config): RateLimiterOptions {
  const { perSecond, burst, onRedisError } = config.rateLimit;
  return { perSecond, burst, onRedisError };
}

export function turnServersOptions(config: Config): TurnServersOptions {
  const { turn, auth } = config;
  const flat = turn.servers.length === 1 && turn.servers[0]!.name === FLAT_TURN_SERVER_NAME;
  return {
    servers: turn.servers.map((server) =>
      withProvider(withManagedSecrets(turnServerOptions(server, turn.ttlSeconds, flat), server, config), server, config),
    ),
    selection: turn.selection,
    healthCheck: {
      intervalMs: turn.healthCheck.intervalSeconds * 1000,
      timeoutMs: turn.healthCheck.timeoutMs,
      maxInFlight: TURN_HEALTH_CHECKS_IN_FLIGHT,
    },
    probeUserId: `@turn-health-check:${auth.serverName ?? hostOf(auth.homeserverUrl) ?? 'localhost'}`,
  };
}

/** Probes at once: enough for a list of servers to be checked well within an interval, few enough to be no load. */
const TURN_HEALTH_CHECKS_IN_FLIGHT = 8;

function turnServerOptions(server: TurnServerSetting, defaultTtlSeconds: number, flat: boolean): TurnServerOptions {
  const { credential } = server;
  const place = (key: string, flatName: string) => (flat ? flatName : `turn_servers[${server.name}].${key}`);
  return {
    name: server.name,
    uris: server.uris,
    ttlSeconds: server.ttlSeconds ?? defaultTtlSeconds,
    ...(credential?.kind === 'shared-secret' && {
      // A re-read secret file is held to the rule the configuration held the secrets to at start.
      credentials: { kind: 'shared-secret', sharedSecrets: credential.sharedSecrets, validateSharedSecrets: sharedSecretsProblem },
      secretSetting: place('shared_secret_file', 'TURN_SHARED_SECRET_FILE'),
    }),
    ...(credential?.kind === 'static' && {
      credentials: { kind: 'static', username: credential.username, password: credential.password },
      secretSetting: place('password_file', 'TURN_PASSWORD_FILE'),
    }),
  };
}

/** A server with managed secrets: coturn's realm, how often they rotate, the margin before one is removed. */
function withManagedSecrets(options: TurnServerOptions, server: TurnServerSetting, config: Config): TurnServerOptions {
  const managed = config.turn.managedSecrets;
  if (server.secretRotation === undefined || managed === undefined) return options;
  return {
    ...options,
    managedSecrets: {
      server: server.name,
      realm: managed.realm,
      rotationIntervalMs: server.secretRotation.intervalSeconds * 1000,
      marginMs: managed.marginSeconds * 1000,
      commandTimeoutMs: managed.redis.commandTimeoutMs,
    },
  };
}

/** A provider entry's API and what its calls are held to: the upstream limits every upstream of the service shares. */
function withProvider(options: TurnServerOptions, server: TurnServerSetting, config: Config): TurnServerOptions {
  if (server.provider === undefined) return options;
  const { auth } = config;
  return {
    ...options,
    provider: {
      api: server.provider,
      cacheSize: config.turn.providerCacheSize,
      upstream: {
        timeoutMs: auth.upstreamTimeoutMs,
        maxConcurrency: auth.upstreamMaxConcurrency,
        breakerFailureThreshold: auth.breakerFailureThreshold,
        breakerResetMs: auth.breakerResetMs,
      },
      settingPrefix: `turn_servers[${server.name}]`,
    },
  };
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}
