// Configuration: the only reader of settings. `loadConfig(env)` reads the sources
// (sources.ts: an optional YAML file under the environment, X_FILE secrets), parses each
// setting with its parser from the table (variables.ts) and the structured sections with
// theirs (structured.ts), checks them across (rules.ts), and returns a frozen, typed
// Config or throws a ConfigError that names every bad setting at once. Units are in the
// names. The composition root (app.ts) maps Config onto each domain module's own options.

import { readFileSync } from 'node:fs';
import { crossFieldRules } from './rules.js';
import { readSecrets, readSources, secretsGivenAsFile, withSecretValues, type Secrets } from './sources.js';
import { parseStructured, type StructuredValues } from './structured.js';
import { FLAT_TURN_SERVER_NAME, rotatesSecrets, type TurnServerSetting } from './turn-servers.js';
import { STRUCTURED_SETTINGS, settingsSchema, type Settings } from './variables.js';
import type { Config } from './config.js';

export type { Config } from './config.js';
export { describeConfig } from './describe.js';
export { parseSynapseDurationMs } from './duration.js';
export type { SecretRef } from './sources.js';
export { FLAT_TURN_SERVER_NAME, type TurnServerSetting } from './turn-servers.js';
export type { CloudflareSetting, MeteredSetting, ProviderSetting, TurnProviderName, TwilioSetting } from './turn-providers.js';
export {
  AUTH_METHODS,
  INTROSPECTION_CLIENT_AUTHS,
  JWT_ALGORITHM_NAMES,
  LOG_LEVELS,
  REDIS_ERROR_POLICIES,
  SECRET_VARIABLES,
  TURN_SERVER_SELECTIONS,
  VARIABLES,
  type AuthMethod,
  type IntrospectionClientAuth,
  type RedisErrorPolicy,
  type TurnServerSelection,
} from './variables.js';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  readFile?: (path: string) => string;
}

/** Reads the configuration; throws ConfigError naming every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, options: LoadOptions = {}): Config {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const problems: string[] = [];
  const { settings, structured } = readSources(env, readFile, STRUCTURED_SETTINGS, problems);
  const secrets = readSecrets(settings, readFile, problems);
  const sections = parseStructured(structured, STRUCTURED_SETTINGS, { readFile }, problems);
  const rules = crossFieldRules(
    secrets,
    secretsGivenAsFile(settings),
    new Set(Object.keys(structured)),
    rotatesSecrets(structured.turn_servers),
  );
  const checked = settingsSchema.superRefine(rules, { when: () => true });
  const parsed = checked.safeParse(withSecretValues(settings, secrets));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.length > 0 ? String(issue.path[0]) : 'configuration';
      problems.push(`${name}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError([...new Set(problems)]);
  return deepFreeze(toConfig(parsed.data, secrets, sections));
}

function toConfig(c: Settings, secrets: Secrets, sections: StructuredValues<typeof STRUCTURED_SETTINGS>): Config {
  const turnServers = sections.turn_servers ?? [flatTurnServer(c, secrets)];
  const redisConfigured = c.REDIS_URL !== undefined || c.REDIS_SENTINELS !== undefined || c.REDIS_CLUSTER_NODES !== undefined;
  return {
    port: c.PORT,
    host: c.HOST,
    metricsPort: c.METRICS_PORT,
    logLevel: c.LOG_LEVEL,
    trustProxy: c.TRUST_PROXY,
    accessLog: {
      clientAddress: c.LOG_CLIENT_ADDRESS,
      ...(secrets.LOG_USER_HASH_KEY && { userHashKey: secrets.LOG_USER_HASH_KEY }),
    },
    auth: {
      method: c.AUTH_METHOD,
      ...(c.SERVER_NAME !== undefined && { serverName: c.SERVER_NAME }),
      ...(c.HOMESERVER_URL !== undefined && { homeserverUrl: c.HOMESERVER_URL }),
      ...(c.AUTH_METHOD === 'introspection' && {
        introspection: {
          url: c.INTROSPECTION_URL!,
          ...(c.INTROSPECTION_CLIENT_ID !== undefined && { clientId: c.INTROSPECTION_CLIENT_ID }),
          ...(secrets.INTROSPECTION_CLIENT_SECRET && { clientSecret: secrets.INTROSPECTION_CLIENT_SECRET }),
          clientAuth: c.INTROSPECTION_CLIENT_AUTH,
          userClaim: c.INTROSPECTION_USER_CLAIM,
        },
      }),
      ...(c.AUTH_METHOD === 'jwt' && {
        jwt: {
          ...(c.JWT_JWKS_URL !== undefined && { jwksUrl: c.JWT_JWKS_URL }),
          ...(secrets.JWT_PUBLIC_KEY && { publicKey: secrets.JWT_PUBLIC_KEY }),
          ...(c.JWT_ISSUER !== undefined && { issuer: c.JWT_ISSUER }),
          ...(c.JWT_AUDIENCE !== undefined && { audience: c.JWT_AUDIENCE }),
          algorithms: c.JWT_ALGORITHMS,
          userClaim: c.JWT_USER_CLAIM,
        },
      }),
      ...(c.AUTH_METHOD === 'appservice' && { appservice: { hsToken: secrets.APPSERVICE_HS_TOKEN! } }),
      upstreamTimeoutMs: c.UPSTREAM_TIMEOUT_MS,
      upstreamMaxConcurrency: c.UPSTREAM_MAX_CONCURRENCY,
      breakerFailureThreshold: c.UPSTREAM_BREAKER_FAILURES,
      breakerResetMs: c.UPSTREAM_BREAKER_RESET_MS,
    },
    tokenCache: {
      ttlSeconds: c.TOKEN_CACHE_TTL,
      negativeTtlSeconds: Math.min(c.TOKEN_CACHE_NEGATIVE_TTL, c.TOKEN_CACHE_TTL),
      size: c.TOKEN_CACHE_SIZE,
    },
    turn: {
      servers: turnServers,
      ttlSeconds: c.TURN_TTL,
      allowGuests: c.TURN_ALLOW_GUESTS,
      selection: c.TURN_SERVER_SELECTION,
      healthCheck: { intervalSeconds: c.TURN_HEALTH_CHECK_INTERVAL, timeoutMs: c.TURN_HEALTH_CHECK_TIMEOUT_MS },
      ...(turnServers.some((server) => server.secretRotation !== undefined) && {
        managedSecrets: {
          redis: {
            url: secrets.COTURN_REDIS_URL!,
            tls: c.COTURN_REDIS_URL!.startsWith('rediss:'),
            commandTimeoutMs: c.REDIS_COMMAND_TIMEOUT_MS,
          },
          realm: c.COTURN_REALM!,
          marginSeconds: c.TURN_SECRET_ROTATION_MARGIN,
        },
      }),
      providerCacheSize: c.PROVIDER_CACHE_SIZE,
    },
    ...(redisConfigured && {
      redis: {
        ...(secrets.REDIS_URL && { url: secrets.REDIS_URL }),
        ...(c.REDIS_SENTINELS !== undefined && { sentinels: c.REDIS_SENTINELS }),
        ...(c.REDIS_SENTINEL_NAME !== undefined && { sentinelName: c.REDIS_SENTINEL_NAME }),
        ...(c.REDIS_CLUSTER_NODES !== undefined && { clusterNodes: c.REDIS_CLUSTER_NODES }),
        ...(secrets.REDIS_PASSWORD && { password: secrets.REDIS_PASSWORD }),
        tls: c.REDIS_TLS || (c.REDIS_URL?.startsWith('rediss:') ?? false),
        commandTimeoutMs: c.REDIS_COMMAND_TIMEOUT_MS,
      },
    }),
    rateLimit: {
      perSecond: c.RATE_LIMIT_PER_SECOND,
      burst: c.RATE_LIMIT_BURST,
      exemptUsers: c.RATE_LIMIT_EXEMPT_USERS,
      onRedisError: c.RATE_LIMIT_ON_REDIS_ERROR,
      unknownTokenPerSecond: c.UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND,
      unknownTokenBurst: c.UNKNOWN_TOKEN_RATE_LIMIT_BURST,
    },
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_MS,
  };
}

/** The one server of TURN_URIS and its credential, named as in logs, metrics and /readyz. */
function flatTurnServer(c: Settings, secrets: Secrets): TurnServerSetting {
  const credential: TurnServerSetting['credential'] = secrets.TURN_SHARED_SECRET
    ? { kind: 'shared-secret', sharedSecrets: secrets.TURN_SHARED_SECRET }
    : secrets.TURN_PASSWORD && { kind: 'static', username: c.TURN_USERNAME!, password: secrets.TURN_PASSWORD };
  return {
    name: FLAT_TURN_SERVER_NAME,
    uris: c.TURN_URIS,
    ...(credential && { credential }),
    ...(c.TURN_SECRET_ROTATION_INTERVAL > 0 && { secretRotation: { intervalSeconds: c.TURN_SECRET_ROTATION_INTERVAL } }),
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
