// The table of settings: every variable the service reads, each once, with its default,
// its parser and, for a secret, its place in Config. Derived from it, and nowhere else
// written down: the schema of the flat settings, SECRET_VARIABLES (those with an X_FILE
// form), VARIABLES (name → default, which the README's reference table and the chart are
// checked against), the names the YAML file accepts, and what describeConfig masks.
// STRUCTURED_SETTINGS is the second table: the YAML-only sections that hold more than
// one value (see structured.ts and "Structured settings in the YAML file" in the README).

import { z } from 'zod';
import { CURRENT_USER_ID } from '../user-id.js';
import {
  boolean,
  decimal,
  hostPorts,
  httpUrl,
  integer,
  isUrl,
  list,
  nonEmpty,
  oneOf,
  optionalText,
  requiredText,
  secretText,
  turnUri,
  type SecretVariable,
  type Variable,
} from './schemas.js';
import type { StructuredSettings } from './structured.js';
import { turnServersSetting } from './turn-servers.js';

export const AUTH_METHODS = ['whoami', 'introspection', 'jwt', 'appservice'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const INTROSPECTION_CLIENT_AUTHS = ['client_secret_basic', 'client_secret_post', 'bearer'] as const;
export type IntrospectionClientAuth = (typeof INTROSPECTION_CLIENT_AUTHS)[number];
export const REDIS_ERROR_POLICIES = ['local', 'allow', 'deny'] as const;
export type RedisErrorPolicy = (typeof REDIS_ERROR_POLICIES)[number];
/** first: the first healthy server in the order listed; spread: one chosen by the user id's hash among the healthy ones. */
export const TURN_SERVER_SELECTIONS = ['first', 'spread'] as const;
export type TurnServerSelection = (typeof TURN_SERVER_SELECTIONS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const JWT_ALGORITHM_NAMES = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

function redisUrl() {
  return z.preprocess(
    (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
    z
      .string()
      .refine((s) => isUrl(s, ['redis:', 'rediss:']), 'must be a redis:// or rediss:// URL')
      .optional(),
  );
}

const SERVER_NAME = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

// The order is the order problems are reported in (zod reports fields in shape order).
export const VARIABLE_TABLE = {
  /** Read by sources.ts before anything else: the YAML file the other settings may come from. */
  CONFIG_FILE: optionalText(),
  PORT: integer(0, 65535, '8080'),
  HOST: requiredText('0.0.0.0', 'must not be empty'),
  METRICS_PORT: integer(0, 65535, '9090'),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
  TRUST_PROXY: boolean('false'),
  LOG_CLIENT_ADDRESS: boolean('true'),
  // Read at start only (a new key takes effect at the next restart): one process's hashes stay comparable.
  LOG_USER_HASH_KEY: secretText(
    { at: 'accessLog.userHashKey' },
    z.preprocess(
      (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
      z.string().min(16, 'must be at least 16 characters, random (openssl rand -hex 32)').optional(),
    ),
  ),
  AUTH_METHOD: oneOf(AUTH_METHODS, 'whoami'),
  HOMESERVER_URL: httpUrl('the homeserver client API base URL'),
  SERVER_NAME: {
    schema: z.preprocess(
      (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
      z.string().regex(SERVER_NAME, 'must be a Matrix server name such as example.org').optional(),
    ),
  },
  INTROSPECTION_URL: httpUrl('the RFC 7662 introspection endpoint'),
  INTROSPECTION_CLIENT_ID: optionalText(),
  INTROSPECTION_CLIENT_SECRET: secretText({ at: 'auth.introspection.clientSecret' }),
  INTROSPECTION_CLIENT_AUTH: oneOf(INTROSPECTION_CLIENT_AUTHS, 'client_secret_basic'),
  INTROSPECTION_USER_CLAIM: requiredText('username'),
  JWT_JWKS_URL: httpUrl('the JWKS endpoint'),
  JWT_PUBLIC_KEY: secretText({ at: 'auth.jwt.publicKey' }),
  JWT_ISSUER: optionalText(),
  JWT_AUDIENCE: optionalText(),
  JWT_ALGORITHMS: list(
    z
      .array(
        z.enum(JWT_ALGORITHM_NAMES, {
          message: `each must be one of ${JWT_ALGORITHM_NAMES.join(', ')} (symmetric and "none" are refused)`,
        }),
      )
      .min(1, 'must name at least one algorithm'),
    'RS256,ES256,EdDSA',
  ),
  JWT_USER_CLAIM: requiredText('sub'),
  APPSERVICE_HS_TOKEN: secretText({ at: 'auth.appservice.hsToken' }),
  UPSTREAM_TIMEOUT_MS: integer(1, 120_000, '5000'),
  UPSTREAM_MAX_CONCURRENCY: integer(1, 100_000, '64'),
  UPSTREAM_BREAKER_FAILURES: integer(1, 10_000, '5'),
  UPSTREAM_BREAKER_RESET_MS: integer(1, 3_600_000, '5000'),
  TOKEN_CACHE_TTL: integer(0, 86_400, '60'),
  TOKEN_CACHE_NEGATIVE_TTL: integer(0, 86_400, '10'),
  TOKEN_CACHE_SIZE: integer(1, 100_000_000, '100000'),
  // Required unless CONFIG_FILE lists turn_servers (rules.ts): absent here reads as an empty list.
  TURN_URIS: list(z.array(turnUri)),
  TURN_SHARED_SECRET: secretText({ at: 'turn.servers.0.credential.sharedSecrets' }),
  TURN_USERNAME: optionalText(),
  TURN_PASSWORD: secretText({ at: 'turn.servers.0.credential.password' }),
  TURN_TTL: integer(1, 30 * 86_400, '3600'),
  TURN_ALLOW_GUESTS: boolean('true'),
  TURN_SERVER_SELECTION: oneOf(TURN_SERVER_SELECTIONS, 'first'),
  TURN_HEALTH_CHECK_INTERVAL: integer(0, 86_400, '30'),
  TURN_HEALTH_CHECK_TIMEOUT_MS: integer(100, 60_000, '2000'),
  // Managed secrets (rules.ts: the interval needs COTURN_REDIS_URL and COTURN_REALM).
  TURN_SECRET_ROTATION_INTERVAL: integer(0, 30 * 86_400, '0'),
  TURN_SECRET_ROTATION_MARGIN: integer(0, 86_400, '60'),
  COTURN_REDIS_URL: secretText({ at: 'turn.managedSecrets.redis.url', shown: 'url without password' }, redisUrl()),
  COTURN_REALM: {
    schema: z.preprocess(
      (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
      z.string().regex(/^\S+$/, "must be coturn's realm, one word such as turn.example.org").optional(),
    ),
  },
  PROVIDER_CACHE_SIZE: integer(1, 100_000_000, '100000'),
  // The URL names the server, which the log should show; only a password in it is masked.
  REDIS_URL: secretText({ at: 'redis.url', shown: 'url without password' }, redisUrl()),
  REDIS_SENTINELS: hostPorts('REDIS_SENTINELS'),
  REDIS_SENTINEL_NAME: optionalText(),
  REDIS_CLUSTER_NODES: hostPorts('REDIS_CLUSTER_NODES'),
  REDIS_PASSWORD: secretText({ at: 'redis.password' }),
  REDIS_TLS: boolean('false'),
  REDIS_COMMAND_TIMEOUT_MS: integer(1, 60_000, '250'),
  RATE_LIMIT_PER_SECOND: decimal(0, 1_000_000, '0.1'),
  RATE_LIMIT_BURST: integer(1, 1_000_000, '10'),
  RATE_LIMIT_EXEMPT_USERS: list(
    z.array(z.string().regex(CURRENT_USER_ID, 'each must be a full Matrix user id such as @alice:example.org')),
    '',
  ),
  RATE_LIMIT_ON_REDIS_ERROR: oneOf(REDIS_ERROR_POLICIES, 'local'),
  UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: decimal(0, 1_000_000, '1'),
  UNKNOWN_TOKEN_RATE_LIMIT_BURST: integer(1, 1_000_000, '20'),
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, '8000'),
} satisfies Record<string, Variable<unknown>>;

type Table = typeof VARIABLE_TABLE;
export type VariableName = keyof Table;
export type SecretName = { [K in VariableName]: Table[K] extends SecretVariable ? K : never }[VariableName];

/** The YAML-only sections that hold structure (lists, mappings) rather than one value, by key. */
export const STRUCTURED_SETTINGS = Object.freeze({ turn_servers: turnServersSetting }) satisfies StructuredSettings;

const names = Object.keys(VARIABLE_TABLE) as VariableName[];

/** Variables whose value may come from `<NAME>_FILE` instead. */
export const SECRET_VARIABLES: readonly SecretName[] = Object.freeze(
  names.filter((name): name is SecretName => 'secret' in VARIABLE_TABLE[name]),
);

/** Every variable the service reads, with its default; the README's reference is checked against it. */
export const VARIABLES: Readonly<Record<string, string | undefined>> = Object.freeze(
  Object.fromEntries(names.map((name) => [name, (VARIABLE_TABLE[name] as Variable<unknown>).default])),
);

/** Where each secret sits in Config and how the masked description shows it. */
export const SECRET_PLACES: readonly ({ readonly name: SecretName } & SecretVariable['secret'])[] = SECRET_VARIABLES.map((name) => ({
  name,
  ...VARIABLE_TABLE[name].secret,
}));

type Schemas = { [K in VariableName]: Table[K]['schema'] };

/** Each flat setting's own parser, by name; rules.ts adds the checks across settings. */
export const settingsSchema = z.object(Object.fromEntries(names.map((name) => [name, VARIABLE_TABLE[name].schema])) as Schemas);

/** The flat settings parsed (a setting that failed its own check holds its raw input, for rules.ts). */
export type Settings = z.infer<typeof settingsSchema>;
