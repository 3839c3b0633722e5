// Configuration: the only reader of settings. `loadConfig(env)` merges an optional YAML
// file (CONFIG_FILE; keys are the variable names in lower case, plus Synapse's `turn_*`
// keys) under the environment, reads `X_FILE` secrets, and returns a frozen, typed object
// or throws a ConfigError that names every bad setting at once. Units are in the names.

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { publicKeyProblem } from '../auth/jwt-public-key.js';
import { sharedSecretsProblem } from '../turn/credentials.js';

export const AUTH_METHODS = ['whoami', 'introspection', 'jwt', 'appservice'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const INTROSPECTION_CLIENT_AUTHS = ['client_secret_basic', 'client_secret_post', 'bearer'] as const;
export type IntrospectionClientAuth = (typeof INTROSPECTION_CLIENT_AUTHS)[number];
export const REDIS_ERROR_POLICIES = ['local', 'allow', 'deny'] as const;
export type RedisErrorPolicy = (typeof REDIS_ERROR_POLICIES)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const JWT_ALGORITHM_NAMES = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

/**
 * A secret given inline or as a file; a file is re-read when it changes (see secret-file.ts),
 * and each re-read is held to the rule applied here (each rule lives with the domain that
 * needs it: sharedSecretsProblem, publicKeyProblem; the other secrets need only not be empty).
 */
export interface SecretRef {
  readonly value: string;
  readonly path?: string;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly metricsPort: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly trustProxy: boolean;
  readonly auth: {
    readonly method: AuthMethod;
    readonly serverName?: string;
    readonly homeserverUrl?: string;
    readonly introspection?: {
      readonly url: string;
      readonly clientId?: string;
      readonly clientSecret?: SecretRef;
      readonly clientAuth: IntrospectionClientAuth;
      readonly userClaim: string;
    };
    readonly jwt?: {
      readonly jwksUrl?: string;
      readonly publicKey?: SecretRef;
      readonly issuer?: string;
      readonly audience?: string;
      readonly algorithms: readonly string[];
      readonly userClaim: string;
    };
    readonly appservice?: { readonly hsToken: SecretRef };
    /** Timeout of one call to the homeserver, OAuth server or JWKS endpoint. */
    readonly upstreamTimeoutMs: number;
    /** Calls to the upstream in flight at once; more wait (bounded) or get 503. */
    readonly upstreamMaxConcurrency: number;
    /** Consecutive upstream failures that open the circuit breaker. */
    readonly breakerFailureThreshold: number;
    /** How long an open breaker fails fast before letting one probe call through. */
    readonly breakerResetMs: number;
  };
  readonly tokenCache: {
    readonly ttlSeconds: number;
    readonly negativeTtlSeconds: number;
    readonly size: number;
  };
  readonly turn: {
    readonly uris: readonly string[];
    /** Several secrets: sign with the first; the rest are what coturn may still accept. */
    readonly sharedSecret?: SecretRef;
    readonly username?: string;
    readonly password?: SecretRef;
    readonly ttlSeconds: number;
    readonly allowGuests: boolean;
  };
  readonly redis?: {
    /** REDIS_URL; from REDIS_URL_FILE, re-read like any secret (the credentials in it are followed). */
    readonly url?: SecretRef;
    readonly sentinels?: readonly { host: string; port: number }[];
    readonly sentinelName?: string;
    readonly clusterNodes?: readonly { host: string; port: number }[];
    readonly password?: SecretRef;
    /** TLS to every Redis node (and Sentinel); a rediss:// REDIS_URL implies it. */
    readonly tls: boolean;
    readonly commandTimeoutMs: number;
  };
  readonly rateLimit: {
    readonly perSecond: number;
    readonly burst: number;
    readonly exemptUsers: readonly string[];
    readonly onRedisError: RedisErrorPolicy;
    /** Failed verifications (unknown tokens) allowed per client address. */
    readonly unknownTokenPerSecond: number;
    readonly unknownTokenBurst: number;
  };
  readonly shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Variables whose value may come from `<NAME>_FILE` instead. */
export const SECRET_VARIABLES = [
  'TURN_SHARED_SECRET',
  'TURN_PASSWORD',
  'INTROSPECTION_CLIENT_SECRET',
  'APPSERVICE_HS_TOKEN',
  'JWT_PUBLIC_KEY',
  'REDIS_URL',
  'REDIS_PASSWORD',
] as const;
type SecretName = (typeof SECRET_VARIABLES)[number];
type Secrets = Partial<Record<SecretName, SecretRef>>;

/** Every variable the service reads, with its default; the README's reference is checked against it. */
export const VARIABLES: Readonly<Record<string, string | undefined>> = {
  PORT: '8080',
  HOST: '0.0.0.0',
  METRICS_PORT: '9090',
  LOG_LEVEL: 'info',
  CONFIG_FILE: undefined,
  AUTH_METHOD: 'whoami',
  HOMESERVER_URL: undefined,
  SERVER_NAME: undefined,
  INTROSPECTION_URL: undefined,
  INTROSPECTION_CLIENT_ID: undefined,
  INTROSPECTION_CLIENT_SECRET: undefined,
  INTROSPECTION_CLIENT_AUTH: 'client_secret_basic',
  INTROSPECTION_USER_CLAIM: 'username',
  JWT_JWKS_URL: undefined,
  JWT_PUBLIC_KEY: undefined,
  JWT_ISSUER: undefined,
  JWT_AUDIENCE: undefined,
  JWT_ALGORITHMS: 'RS256,ES256,EdDSA',
  JWT_USER_CLAIM: 'sub',
  APPSERVICE_HS_TOKEN: undefined,
  UPSTREAM_TIMEOUT_MS: '5000',
  UPSTREAM_MAX_CONCURRENCY: '64',
  UPSTREAM_BREAKER_FAILURES: '5',
  UPSTREAM_BREAKER_RESET_MS: '5000',
  TOKEN_CACHE_TTL: '60',
  TOKEN_CACHE_NEGATIVE_TTL: '10',
  TOKEN_CACHE_SIZE: '100000',
  TURN_URIS: undefined,
  TURN_SHARED_SECRET: undefined,
  TURN_USERNAME: undefined,
  TURN_PASSWORD: undefined,
  TURN_TTL: '3600',
  TURN_ALLOW_GUESTS: 'true',
  REDIS_URL: undefined,
  REDIS_SENTINELS: undefined,
  REDIS_SENTINEL_NAME: undefined,
  REDIS_CLUSTER_NODES: undefined,
  REDIS_PASSWORD: undefined,
  REDIS_TLS: 'false',
  REDIS_COMMAND_TIMEOUT_MS: '250',
  RATE_LIMIT_PER_SECOND: '0.1',
  RATE_LIMIT_BURST: '10',
  RATE_LIMIT_EXEMPT_USERS: '',
  RATE_LIMIT_ON_REDIS_ERROR: 'local',
  UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: '1',
  UNKNOWN_TOKEN_RATE_LIMIT_BURST: '20',
  TRUST_PROXY: 'false',
  SHUTDOWN_TIMEOUT_MS: '8000',
};

/** Synapse homeserver.yaml keys accepted unchanged in the YAML file. */
const SYNAPSE_KEYS: Readonly<Record<string, string>> = {
  turn_uris: 'TURN_URIS',
  turn_shared_secret: 'TURN_SHARED_SECRET',
  turn_shared_secret_path: 'TURN_SHARED_SECRET_FILE',
  turn_username: 'TURN_USERNAME',
  turn_password: 'TURN_PASSWORD',
  turn_user_lifetime: 'TURN_TTL',
  turn_allow_guests: 'TURN_ALLOW_GUESTS',
};

const KNOWN_NAMES = new Set<string>([
  ...Object.keys(VARIABLES),
  ...SECRET_VARIABLES.map((name) => `${name}_FILE`),
]);

export interface LoadOptions {
  readFile?: (path: string) => string;
}

/** Reads the configuration; throws ConfigError naming every problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, options: LoadOptions = {}): Config {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const problems: string[] = [];
  const raw = mergeSources(env, readFile, problems);
  const secrets = readSecrets(raw, readFile, problems);
  const givenAsFile = new Set(SECRET_VARIABLES.filter((name) => nonEmpty(raw[`${name}_FILE`]) !== undefined));
  const parsed = configSchema(secrets, givenAsFile).safeParse({ ...raw, ...secretsAsStrings(secrets) });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.length > 0 ? String(issue.path[0]) : 'configuration';
      problems.push(`${name}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(dedupe(problems));
  return deepFreeze(toConfig(parsed.data, secrets));
}

function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}

// ---- sources -----------------------------------------------------------------

function mergeSources(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
  problems: string[],
): Record<string, string> {
  const merged: Record<string, string> = {};
  const configFile = nonEmpty(env.CONFIG_FILE);
  if (configFile !== undefined) Object.assign(merged, readYamlFile(configFile, readFile, problems));
  for (const name of SECRET_VARIABLES) {
    // The environment wins over the file for a secret in either form: a secret inline in
    // the environment replaces the file's path to it, and the other way round.
    if (nonEmpty(env[name]) !== undefined || nonEmpty(env[`${name}_FILE`]) !== undefined) {
      delete merged[name];
      delete merged[`${name}_FILE`];
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !KNOWN_NAMES.has(name) || name === 'CONFIG_FILE') continue;
    merged[name] = value;
  }
  return merged;
}

function readYamlFile(path: string, readFile: (path: string) => string, problems: string[]): Record<string, string> {
  let text: string;
  let document: unknown;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`CONFIG_FILE: cannot read ${path}: ${describe(error)}`);
    return {};
  }
  try {
    document = parseYaml(text);
  } catch (error) {
    // Where, not what: the parser's own message quotes the offending line, which may hold a secret.
    const at = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    problems.push(`CONFIG_FILE: ${path} is not valid YAML (${describe(error)}${at ? ` at line ${at.line}, column ${at.col}` : ''})`);
    return {};
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    problems.push(`CONFIG_FILE: ${path} must be a mapping of setting names to values`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(document as Record<string, unknown>)) {
    const synapseName = SYNAPSE_KEYS[key];
    const name = synapseName ?? key.toUpperCase();
    if (synapseName === undefined && (key !== key.toLowerCase() || !KNOWN_NAMES.has(name))) {
      problems.push(`CONFIG_FILE: unknown setting "${key}" in ${path}`);
      continue;
    }
    if (value === null || value === undefined) continue;
    const text = yamlValueToString(key, value, problems);
    if (text === undefined) continue;
    if (key === 'turn_user_lifetime') {
      // Synapse's parse_duration: a bare number is milliseconds.
      const ms = parseSynapseDurationMs(value);
      if (ms === undefined || ms < 1000) {
        problems.push(`turn_user_lifetime: "${text}" is not a duration of at least one second (e.g. 1h, 30m, 86400000)`);
        continue;
      }
      out[name] = String(Math.floor(ms / 1000));
    } else if (key === 'turn_ttl' && typeof value === 'string' && /[a-z]$/i.test(value.trim())) {
      const ms = parseSynapseDurationMs(value);
      if (ms === undefined || ms < 1000) {
        problems.push(`turn_ttl: "${text}" is not a duration of at least one second (e.g. 1h, 30m, 3600)`);
        continue;
      }
      out[name] = String(Math.floor(ms / 1000));
    } else {
      out[name] = text;
    }
  }
  return out;
}

function yamlValueToString(key: string, value: unknown, problems: string[]): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  problems.push(`${key}: must be a string, number, boolean or list of strings`);
  return undefined;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Synapse's duration syntax: an integer is milliseconds; a string may end in ms, s, m, h, d, w or y. */
export function parseSynapseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+)\s*(ms|s|m|h|d|w|y)?\s*$/.exec(value);
  if (!match) return undefined;
  const amount = Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 'ms'] ?? 1);
  return Number.isSafeInteger(amount) ? amount : undefined;
}

function readSecrets(
  raw: Record<string, string>,
  readFile: (path: string) => string,
  problems: string[],
): Secrets {
  const secrets: Secrets = {};
  for (const name of SECRET_VARIABLES) {
    const inline = nonEmpty(raw[name]);
    const path = nonEmpty(raw[`${name}_FILE`]);
    if (inline !== undefined && path !== undefined) {
      problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    if (inline !== undefined) {
      secrets[name] = { value: inline };
    } else if (path !== undefined) {
      try {
        const value = readFile(path).trim();
        if (value === '') problems.push(`${name}_FILE: ${path} is empty`);
        else secrets[name] = { value, path };
      } catch (error) {
        problems.push(`${name}_FILE: cannot read ${path}: ${describe(error)}`);
      }
    }
  }
  return secrets;
}

function secretsAsStrings(secrets: Partial<Record<string, SecretRef>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, ref] of Object.entries(secrets)) if (ref) out[name] = ref.value;
  return out;
}

// ---- schema --------------------------------------------------------------------

const trimmed = (value: unknown) => (typeof value === 'string' ? value.trim() : value);
const optionalText = z.preprocess((v) => nonEmpty(typeof v === 'string' ? v : undefined), z.string().optional());

function integer(name: string, min: number, max: number, fallback: string) {
  return z.preprocess(
    (v) => trimmed(v ?? fallback),
    z
      .string()
      .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
      .transform(Number)
      .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`),
  ).describe(name);
}

function decimal(min: number, max: number, fallback: string) {
  return z.preprocess(
    (v) => trimmed(v ?? fallback),
    z
      .string()
      .regex(/^\d+(\.\d+)?$|^\.\d+$/, `must be a number from ${min} to ${max}`)
      .transform(Number)
      .refine((n) => Number.isFinite(n) && n >= min && n <= max, `must be a number from ${min} to ${max}`),
  );
}

function boolean(fallback: string) {
  return z.preprocess(
    (v) => (typeof (v ?? fallback) === 'string' ? String(v ?? fallback).trim().toLowerCase() : v),
    z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform(
      (s) => s === 'true' || s === '1' || s === 'yes',
    ),
  );
}

function oneOf<T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return z.preprocess(
    (v) => trimmed(v ?? fallback),
    z.enum(values, { message: `must be one of ${values.join(', ')}` }),
  );
}

const httpUrl = (what: string) =>
  z.preprocess(
    trimmed,
    z
      .string()
      .refine((s) => isUrl(s, ['http:', 'https:']), `must be an http:// or https:// URL (${what})`)
      .transform((s) => s.replace(/\/+$/, ''))
      .optional(),
  );

const list = z.preprocess(
  (v) => (typeof v === 'string' ? v : ''),
  z.string().transform((s) =>
    s
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  ),
);

const hostPorts = (name: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v : undefined),
    z
      .string()
      .transform((s, ctx) => {
        const nodes: { host: string; port: number }[] = [];
        for (const item of s.split(',').map((x) => x.trim()).filter(Boolean)) {
          const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
          const port = Number(match?.[2]);
          if (!match || port < 1 || port > 65535) {
            ctx.addIssue({ code: 'custom', message: `"${item}" is not host:port (${name})` });
            return z.NEVER;
          }
          nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
        }
        return nodes;
      })
      .optional(),
  );

const TURN_URI = /^(turns?|stuns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;
const USER_ID = /^@[a-z0-9._=\-/+]+:[A-Za-z0-9.-]+(:\d{1,5})?$/;
const SERVER_NAME = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

const fields = z
  .object({
    PORT: integer('PORT', 0, 65535, '8080'),
    HOST: z.preprocess((v) => trimmed(v ?? '0.0.0.0'), z.string().min(1, 'must not be empty')),
    METRICS_PORT: integer('METRICS_PORT', 0, 65535, '9090'),
    LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
    TRUST_PROXY: boolean('false'),
    AUTH_METHOD: oneOf(AUTH_METHODS, 'whoami'),
    HOMESERVER_URL: httpUrl('the homeserver client API base URL'),
    SERVER_NAME: z.preprocess(
      (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
      z.string().regex(SERVER_NAME, 'must be a Matrix server name such as example.org').optional(),
    ),
    INTROSPECTION_URL: httpUrl('the RFC 7662 introspection endpoint'),
    INTROSPECTION_CLIENT_ID: optionalText,
    INTROSPECTION_CLIENT_SECRET: optionalText,
    INTROSPECTION_CLIENT_AUTH: oneOf(INTROSPECTION_CLIENT_AUTHS, 'client_secret_basic'),
    INTROSPECTION_USER_CLAIM: z.preprocess((v) => trimmed(v ?? 'username'), z.string().min(1)),
    JWT_JWKS_URL: httpUrl('the JWKS endpoint'),
    JWT_PUBLIC_KEY: optionalText,
    JWT_ISSUER: optionalText,
    JWT_AUDIENCE: optionalText,
    JWT_ALGORITHMS: z.preprocess(
      (v) => v ?? 'RS256,ES256,EdDSA',
      list.pipe(
        z
          .array(z.enum(JWT_ALGORITHM_NAMES, { message: `each must be one of ${JWT_ALGORITHM_NAMES.join(', ')} (symmetric and "none" are refused)` }))
          .min(1, 'must name at least one algorithm'),
      ),
    ),
    JWT_USER_CLAIM: z.preprocess((v) => trimmed(v ?? 'sub'), z.string().min(1)),
    APPSERVICE_HS_TOKEN: optionalText,
    UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 1, 120_000, '5000'),
    UPSTREAM_MAX_CONCURRENCY: integer('UPSTREAM_MAX_CONCURRENCY', 1, 100_000, '64'),
    UPSTREAM_BREAKER_FAILURES: integer('UPSTREAM_BREAKER_FAILURES', 1, 10_000, '5'),
    UPSTREAM_BREAKER_RESET_MS: integer('UPSTREAM_BREAKER_RESET_MS', 1, 3_600_000, '5000'),
    TOKEN_CACHE_TTL: integer('TOKEN_CACHE_TTL', 0, 86_400, '60'),
    TOKEN_CACHE_NEGATIVE_TTL: integer('TOKEN_CACHE_NEGATIVE_TTL', 0, 86_400, '10'),
    TOKEN_CACHE_SIZE: integer('TOKEN_CACHE_SIZE', 1, 100_000_000, '100000'),
    TURN_URIS: list.pipe(
      z
        .array(
          z.string().regex(TURN_URI, {
            error: (issue) => `"${String(issue.input)}" is not a turn:, turns:, stun: or stuns: URI such as turn:turn.example.org:3478?transport=udp`,
          }),
        )
        .min(1, 'required: comma-separated turn:/turns: URIs'),
    ),
    TURN_SHARED_SECRET: optionalText,
    TURN_USERNAME: optionalText,
    TURN_PASSWORD: optionalText,
    TURN_TTL: integer('TURN_TTL', 1, 30 * 86_400, '3600'),
    TURN_ALLOW_GUESTS: boolean('true'),
    REDIS_URL: z.preprocess(
      (v) => nonEmpty(typeof v === 'string' ? v.trim() : undefined),
      z.string().refine((s) => isUrl(s, ['redis:', 'rediss:']), 'must be a redis:// or rediss:// URL').optional(),
    ),
    REDIS_SENTINELS: hostPorts('REDIS_SENTINELS'),
    REDIS_SENTINEL_NAME: optionalText,
    REDIS_CLUSTER_NODES: hostPorts('REDIS_CLUSTER_NODES'),
    REDIS_PASSWORD: optionalText,
    REDIS_TLS: boolean('false'),
    REDIS_COMMAND_TIMEOUT_MS: integer('REDIS_COMMAND_TIMEOUT_MS', 1, 60_000, '250'),
    RATE_LIMIT_PER_SECOND: decimal(0, 1_000_000, '0.1'),
    RATE_LIMIT_BURST: integer('RATE_LIMIT_BURST', 1, 1_000_000, '10'),
    RATE_LIMIT_EXEMPT_USERS: list.pipe(z.array(z.string().regex(USER_ID, 'each must be a full Matrix user id such as @alice:example.org'))),
    RATE_LIMIT_ON_REDIS_ERROR: oneOf(REDIS_ERROR_POLICIES, 'local'),
    UNKNOWN_TOKEN_RATE_LIMIT_PER_SECOND: decimal(0, 1_000_000, '1'),
    UNKNOWN_TOKEN_RATE_LIMIT_BURST: integer('UNKNOWN_TOKEN_RATE_LIMIT_BURST', 1, 1_000_000, '20'),
    SHUTDOWN_TIMEOUT_MS: integer('SHUTDOWN_TIMEOUT_MS', 0, 600_000, '8000'),
  });

/**
 * Each setting's own checks, then the checks across settings. `secrets`: the secrets read;
 * `givenAsFile`: the secrets given as X_FILE, whether or not the file could be read.
 */
function configSchema(secrets: Secrets, givenAsFile: ReadonlySet<SecretName>) {
  // `when`: run even when a setting failed its own check (zod skips refinements after an
  // enum failure), so one message names every problem; a failed field holds raw input.
  return fields.superRefine((c, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    // A secret whose file could not be read was given all the same: its X_FILE problem is
    // the one to report, not a second one saying it is missing.
    const given = (name: SecretName) => c[name] !== undefined || givenAsFile.has(name);
    switch (c.AUTH_METHOD) {
      case 'whoami':
        if (!c.HOMESERVER_URL) problem('HOMESERVER_URL', 'required when AUTH_METHOD is whoami');
        break;
      case 'introspection':
        if (!c.INTROSPECTION_URL) problem('INTROSPECTION_URL', 'required when AUTH_METHOD is introspection');
        if (!given('INTROSPECTION_CLIENT_SECRET'))
          problem('INTROSPECTION_CLIENT_SECRET', 'required when AUTH_METHOD is introspection (or INTROSPECTION_CLIENT_SECRET_FILE)');
        if (c.INTROSPECTION_CLIENT_AUTH !== 'bearer' && !c.INTROSPECTION_CLIENT_ID)
          problem('INTROSPECTION_CLIENT_ID', `required with INTROSPECTION_CLIENT_AUTH=${c.INTROSPECTION_CLIENT_AUTH}`);
        break;
      case 'jwt':
        if (!c.JWT_JWKS_URL && !given('JWT_PUBLIC_KEY')) problem('JWT_JWKS_URL', 'JWT_JWKS_URL or JWT_PUBLIC_KEY is required when AUTH_METHOD is jwt');
        if (c.JWT_JWKS_URL && given('JWT_PUBLIC_KEY')) problem('JWT_PUBLIC_KEY', 'set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both');
        if (secrets.JWT_PUBLIC_KEY) checkJwtPublicKey(secrets.JWT_PUBLIC_KEY, c.JWT_ALGORITHMS, problem);
        if (!c.JWT_ISSUER) problem('JWT_ISSUER', 'required when AUTH_METHOD is jwt: tokens of any issuer would be accepted');
        if (!c.JWT_AUDIENCE) problem('JWT_AUDIENCE', 'required when AUTH_METHOD is jwt: tokens meant for other services would be accepted');
        break;
      case 'appservice':
        if (!given('APPSERVICE_HS_TOKEN')) problem('APPSERVICE_HS_TOKEN', 'required when AUTH_METHOD is appservice (or APPSERVICE_HS_TOKEN_FILE)');
        break;
    }
    if ((AUTH_METHODS as readonly string[]).includes(c.AUTH_METHOD) && c.AUTH_METHOD !== 'whoami' && !c.SERVER_NAME) problem('SERVER_NAME', `required when AUTH_METHOD is ${c.AUTH_METHOD}`);
    const hasSecret = given('TURN_SHARED_SECRET');
    const hasStatic = c.TURN_USERNAME !== undefined || given('TURN_PASSWORD');
    if (hasSecret && hasStatic) problem('TURN_SHARED_SECRET', 'set either TURN_SHARED_SECRET or TURN_USERNAME/TURN_PASSWORD, not both');
    else if (!hasSecret && !hasStatic) problem('TURN_SHARED_SECRET', 'required (or TURN_SHARED_SECRET_FILE, or TURN_USERNAME and TURN_PASSWORD)');
    else if (hasStatic && (c.TURN_USERNAME === undefined || !given('TURN_PASSWORD')))
      problem(c.TURN_USERNAME === undefined ? 'TURN_USERNAME' : 'TURN_PASSWORD', 'TURN_USERNAME and TURN_PASSWORD go together');
    const sharedSecrets = c.TURN_SHARED_SECRET === undefined ? undefined : sharedSecretsProblem(c.TURN_SHARED_SECRET);
    if (sharedSecrets !== undefined) problem('TURN_SHARED_SECRET', sharedSecrets);
    const redisModes = [given('REDIS_URL'), c.REDIS_SENTINELS !== undefined, c.REDIS_CLUSTER_NODES !== undefined].filter(Boolean).length;
    if (redisModes > 1) problem('REDIS_URL', 'set only one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
    if (c.REDIS_SENTINELS && !c.REDIS_SENTINEL_NAME) problem('REDIS_SENTINEL_NAME', 'required with REDIS_SENTINELS');
    if (typeof c.PORT === 'number' && c.PORT === c.METRICS_PORT && c.PORT !== 0)
      problem('METRICS_PORT', 'must differ from PORT: /metrics is never served on the public port');
  }, { when: () => true });
}

/**
 * A static JWT_PUBLIC_KEY must pass publicKeyProblem (jwt-public-key.ts: the rule a re-read
 * of its file is held to as well): a key the verifier reads, able to verify at least one of
 * JWT_ALGORITHMS. The messages describe the key's type, never its material.
 */
function checkJwtPublicKey(ref: SecretRef, algorithms: unknown, problem: (path: string, message: string) => void): void {
  const [name, source] = ref.path === undefined ? ['JWT_PUBLIC_KEY', 'the value'] : ['JWT_PUBLIC_KEY_FILE', ref.path];
  // A JWT_ALGORITHMS that failed its own check holds raw input and has been reported already.
  const valid = Array.isArray(algorithms) && algorithms.length > 0 && algorithms.every((alg) => (JWT_ALGORITHM_NAMES as readonly unknown[]).includes(alg));
  const broken = publicKeyProblem(ref.value, valid ? (algorithms as string[]) : undefined);
  if (broken?.setting === 'JWT_ALGORITHMS') problem('JWT_ALGORITHMS', broken.message);
  else if (broken !== undefined) problem(name, `${source} ${broken.message}`);
}

type Parsed = z.infer<typeof fields>;

function toConfig(c: Parsed, secrets: Secrets): Config {
  const redisConfigured = c.REDIS_URL !== undefined || c.REDIS_SENTINELS !== undefined || c.REDIS_CLUSTER_NODES !== undefined;
  return {
    port: c.PORT,
    host: c.HOST,
    metricsPort: c.METRICS_PORT,
    logLevel: c.LOG_LEVEL,
    trustProxy: c.TRUST_PROXY,
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
      uris: c.TURN_URIS,
      ...(secrets.TURN_SHARED_SECRET && { sharedSecret: secrets.TURN_SHARED_SECRET }),
      ...(c.TURN_USERNAME !== undefined && { username: c.TURN_USERNAME }),
      ...(secrets.TURN_PASSWORD && { password: secrets.TURN_PASSWORD }),
      ttlSeconds: c.TURN_TTL,
      allowGuests: c.TURN_ALLOW_GUESTS,
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

/** The configuration as it may be logged: every secret masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const mask = (ref: SecretRef | undefined) => (ref === undefined ? undefined : ref.path ? `<file ${ref.path}>` : '<set>');
  return {
    ...config,
    auth: {
      ...config.auth,
      introspection: config.auth.introspection && { ...config.auth.introspection, clientSecret: mask(config.auth.introspection.clientSecret) },
      jwt: config.auth.jwt && { ...config.auth.jwt, publicKey: mask(config.auth.jwt.publicKey) },
      appservice: config.auth.appservice && { hsToken: mask(config.auth.appservice.hsToken) },
    },
    turn: { ...config.turn, sharedSecret: mask(config.turn.sharedSecret), password: mask(config.turn.password) },
    redis: config.redis && {
      ...config.redis,
      url: config.redis.url && maskUrlPassword(config.redis.url.value),
      password: mask(config.redis.password),
    },
  };
}

function maskUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '<set>';
  }
}

function isUrl(text: string, protocols: string[]): boolean {
  try {
    const url = new URL(text);
    return protocols.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
