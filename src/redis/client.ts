// The Redis connection: the one ioredis client of the process (standalone, Sentinel or
// Cluster, as its options say), made by the composition root (app.ts) and handed to each
// user (the limiter, the cluster-wide figures), tuned so that no request ever waits on
// Redis for long, the credentials it presents kept current with their files, and closing it.
//
// Why these options:
// - enableOfflineQueue false: while disconnected a command fails at once instead of
//   queueing until Redis returns (a request would stall for the whole outage).
// - maxRetriesPerRequest 0 and autoResendUnfulfilledCommands false: a command in flight
//   when the connection drops is failed, never re-sent after the reconnect; re-sending a
//   rate-limit script would count the same request twice.
// - commandTimeout: a Redis that accepts but does not answer fails the command after
//   REDIS_COMMAND_TIMEOUT_MS. That bounds each rate-limit decision on a standalone or
//   Sentinel client; in a Cluster, redirections and retries happen outside that per-node
//   timer, so there (and off the request path) callers bound calls themselves: withTimeout.
// - reconnect with capped, jittered backoff, so replicas do not reconnect in lockstep.
//
// Rotating the password (REDIS_PASSWORD_FILE, or the credentials inside REDIS_URL_FILE):
// the files are watched (secret-file.ts) and every connection ioredis opens, each
// reconnect included, authenticates with what they hold at that moment. A connection that
// is already authenticated stays as it is: Redis keeps it after `CONFIG SET requirepass`,
// so rewriting the file before or after Redis changes loses nothing. A refused password
// (WRONGPASS, NOAUTH) is logged as such, once until a connection succeeds again.

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Counter } from 'prom-client';
import { systemTimers, type Timers } from '../clock.js';
import { errorNameAndMessage } from '../error-fields.js';
import type { Logger } from '../logger.js';
import { watchedSecret, type SecretRef } from '../secret-file.js';

export type RedisClient = Redis | Cluster;

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** Where Redis is and how to reach it: one of url, sentinels (with sentinelName) or clusterNodes. */
export interface RedisConnectionOptions {
  /** A redis:// or rediss:// URL; given as a file, its credentials are followed when the file changes. */
  readonly url?: SecretRef;
  readonly sentinels?: readonly RedisNode[];
  /** The master's name at the Sentinels; required with sentinels. */
  readonly sentinelName?: string;
  readonly clusterNodes?: readonly RedisNode[];
  /** Given as a file, each new connection authenticates with what it holds then. */
  readonly password?: SecretRef;
  /** TLS to every node (and Sentinel). */
  readonly tls: boolean;
  /** Longest wait for one command on a standalone or Sentinel client, in milliseconds. */
  readonly commandTimeoutMs: number;
  /** The variable naming the URL, as logs and the reload-failures metric say it; default REDIS_URL (COTURN_REDIS_URL for coturn's). */
  readonly urlSetting?: string;
}

/** Longest pause between reconnection attempts, in milliseconds. */
export const MAX_RECONNECT_DELAY_MS = 2000;

export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

export interface RedisClientDeps {
  logger: Logger;
  /** matrix_turn_secret_reload_failures_total, for re-reads of the files refused. */
  secretReloadFailures?: Counter<'secret'>;
  /** What the password and URL files' polls run on; default Node's. */
  timers?: Timers;
}

export function createRedisClient(config: RedisConnectionOptions, deps: RedisClientDeps): RedisClient {
  const credentials = liveCredentials(config, deps);
  const tls = config.tls ? {} : undefined;
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: Math.max(2000, config.commandTimeoutMs * 4),
    enableReadyCheck: true,
    connectionName: 'matrix-turn-credentials',
    // Concurrent commands leave in one write per event-loop turn instead of one each.
    enableAutoPipelining: true,
    // But not the rate limit script: the limiter already sends one call per turn for all its
    // decisions, the next behind the one in flight (ratelimit/redis.ts); auto-pipelining
    // would hold each such call for one more turn (its setImmediate) and wrap it in a
    // Pipeline of one command, and pipelines are sent one at a time.
    autoPipeliningIgnoredCommands: ['evalsha', 'eval'],
    // A socket to a server that died never reports closing; keep no 2 s timer alive at exit.
    disconnectTimeout: 500,
    // A master demoted by a failover answers writes with READONLY while the connection
    // stays up: reconnect (through Sentinel, to the new master) instead of failing forever.
    // 1 = reconnect without re-sending the failed command.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
    // The first connection is opened in the constructor, before readLive below: it needs the values themselves.
    ...(credentials.password() !== undefined && { password: credentials.password() }),
    ...(tls !== undefined && { tls }),
  };
  let client: RedisClient;
  if (config.clusterNodes !== undefined) {
    const { enableOfflineQueue: _queue, ...nodeOptions } = common;
    // Each node's client is made from these options when the node is first reached or
    // comes back, so the getters are read then.
    readLive(nodeOptions, { password: credentials.password });
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      enableReadyCheck: true,
      clusterRetryStrategy: reconnectDelayMs,
      // Redirections and failover retries are bounded by the caller's deadline anyway;
      // keep them few so a request does not spin through them.
      maxRedirections: 4,
      retryDelayOnFailover: 50,
      retryDelayOnClusterDown: 50,
      retryDelayOnTryAgain: 50,
      slotsRefreshTimeout: Math.max(1000, config.commandTimeoutMs * 4),
      // With TLS, connect to the names the cluster announces rather than addresses
      // ioredis resolved itself, or no certificate would match (e.g. ElastiCache).
      ...(tls !== undefined && {
        dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address),
      }),
      redisOptions: nodeOptions,
    };
    client = new Cluster(
      config.clusterNodes.map((node) => ({ host: node.host, port: node.port })),
      options,
    );
  } else if (config.sentinels !== undefined) {
    client = new Redis({
      ...common,
      sentinels: config.sentinels.map((node) => ({ host: node.host, port: node.port })),
      name: config.sentinelName!,
      role: 'master',
      retryStrategy: reconnectDelayMs,
      sentinelRetryStrategy: reconnectDelayMs,
      // Sentinels deployed with Redis usually share its password (Bitnami's chart does).
      ...(credentials.password() !== undefined && { sentinelPassword: credentials.password() }),
      // No failoverDetector: Sentinel itself disconnects the clients of a master it
      // demotes, a dead master closes the connection, and a silent one is dropped by the
      // fallback's probe (see fallback.ts); each of those reconnects through Sentinel.
      ...(tls !== undefined && { enableTLSForSentinelMode: true, sentinelTLS: tls }),
    });
    readLive(client.options, { password: credentials.password, sentinelPassword: credentials.password });
  } else {
    client = new Redis(config.url!.value, { ...common, retryStrategy: reconnectDelayMs });
    readLive(client.options, { username: credentials.username, password: credentials.password });
  }
  logConnectionErrors(client, credentials.source, deps.logger);
  client.once('end', credentials.close);
  return client;
}

/**
 * Makes ioredis read each option from `values` whenever it reads it. Checked against
 * ioredis 5.11.1, which reads them once per connection it opens: Redis#_connect takes
 * AUTH's arguments from options.username and options.password (the StandaloneConnector
 * and SentinelConnector hold that same options object), the SentinelConnector reads
 * options.sentinelPassword for each Sentinel it asks, and a Cluster copies its
 * redisOptions into the client of each node it creates. Nothing in ioredis assigns them.
 * test/unit/redis/client.test.ts breaks if an upgrade changes that.
 */
function readLive(options: object, values: Record<string, () => string | undefined>): void {
  for (const [key, read] of Object.entries(values))
    Object.defineProperty(options, key, { get: read, enumerable: true, configurable: true });
}

// Properties, not methods: each is handed to ioredis as a getter on its own.
interface LiveCredentials {
  readonly username: () => string | undefined;
  readonly password: () => string | undefined;
  /** The setting the password comes from, for the log; undefined when none is configured. */
  readonly source: string | undefined;
  readonly close: () => void;
}

/**
 * The credentials as their files hold them now. A password in the URL wins over
 * REDIS_PASSWORD, as ioredis has it. A rewritten REDIS_URL_FILE may change only the
 * credentials: one naming another server (scheme, host, port, database) is refused like
 * any re-read that breaks its rule (logged once, counted, the last good URL kept), since
 * following it would mean moving at whatever moment the connection next drops, and TLS
 * cannot be switched on a live client. Moving to another server takes a restart.
 */
function liveCredentials(config: RedisConnectionOptions, deps: RedisClientDeps): LiveCredentials {
  const { logger, secretReloadFailures: failures } = deps;
  const password = config.password && watchedSecret(config.password, 'REDIS_PASSWORD_FILE', logger, { failures, timers: deps.timers });
  let url: { credentials(): UrlParts['credentials']; close(): void } | undefined;
  if (config.url !== undefined) {
    // The configuration checked the URL at start, so it parses.
    const started = urlParts(config.url.value)!;
    const secret = watchedSecret(config.url, `${config.urlSetting ?? 'REDIS_URL'}_FILE`, logger, {
      validate: (text) => sameServerProblem(text, started),
      failures,
      timers: deps.timers,
    });
    let read: { text: string; parts: UrlParts } = { text: config.url.value, parts: started };
    url = {
      credentials() {
        const text = secret.refresh();
        // validate let only URLs of this server through.
        if (text !== read.text) read = { text, parts: urlParts(text)! };
        return read.parts.credentials;
      },
      close: () => secret.close(),
    };
  }
  const inUrl = () => url?.credentials();
  return {
    username: () => inUrl()?.username,
    password: () => inUrl()?.password ?? password?.refresh(),
    source:
      inUrl() !== undefined
        ? settingOf(config.url!, config.urlSetting ?? 'REDIS_URL')
        : config.password && settingOf(config.password, 'REDIS_PASSWORD'),
    close: () => {
      password?.close();
      url?.close();
    },
  };
}

const settingOf = (ref: SecretRef, name: string) => (ref.path === undefined ? name : `${name}_FILE`);

/** The rule a re-read REDIS_URL_FILE is held to, in words that show none of it. */
function sameServerProblem(text: string, started: UrlParts): string | undefined {
  const parts = urlParts(text);
  if (parts === undefined) return 'is not a redis:// or rediss:// URL';
  if (parts.server !== started.server) {
    return (
      'names another server (scheme, host, port or database) than the one in use: ' +
      'only its credentials may change while running; restart to move'
    );
  }
  return undefined;
}

interface UrlParts {
  /** The URL without its credentials. */
  readonly server: string;
  readonly credentials: { readonly username: string; readonly password: string } | undefined;
}

/** As ioredis's parseURL reads a redis:// URL's credentials; undefined when it is not one. */
function urlParts(text: string): UrlParts | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return undefined;
  const credentials =
    url.username !== '' || url.password !== ''
      ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
      : undefined;
  url.username = '';
  url.password = '';
  return { server: url.toString(), credentials };
}

/**
 * Connection errors repeat on every reconnection attempt; the limiter logs the transitions
 * (down, up) once each, so they are debug lines, except a refused password: that is no
 * passing outage but a setting to fix, and the limiter's line would only say the
 * connection closed. An ioredis error may carry the command's arguments (AUTH's password
 * among them), so only its message is ever logged.
 */
function logConnectionErrors(client: RedisClient, source: string | undefined, logger: Logger): void {
  let refused: string | undefined;
  const onError = (error: unknown) => {
    const detail = describeRedisError(error);
    const code = /\b(WRONGPASS|NOAUTH)\b/.exec(detail)?.[1];
    if (code === undefined || code === refused) {
      logger.debug({ detail }, 'redis connection error');
      return;
    }
    refused = code;
    const fix =
      source === undefined
        ? 'no password is configured (REDIS_PASSWORD, REDIS_PASSWORD_FILE or the REDIS_URL)'
        : `each reconnection tries ${source} as it is then, until Redis and it agree`;
    logger.error({ detail, code }, `redis refused the password (${code}): ${fix}`);
  };
  client.on('error', onError);
  // A Cluster reports its nodes' errors apart from its own.
  if (client instanceof Cluster) client.on('node error', onError);
  client.on('ready', () => {
    refused = undefined;
  });
}

/** Whether a failed Redis command timed out (the connection may be silently dead), rather than being refused. */
export function isRedisTimeout(error: unknown): boolean {
  return error instanceof RedisTimeoutError || /timed out/i.test(errorNameAndMessage(error)?.message ?? '');
}

/** The message of an ioredis error, without the command arguments it may carry. */
export function describeRedisError(error: unknown): string {
  const parts = errorNameAndMessage(error);
  return parts === undefined ? 'non-error thrown' : `${parts.name}: ${parts.message}`;
}

export class RedisTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/** Rejects with RedisTimeoutError once `timeoutMs` passes (on `timers`, default Node's); the command itself is not cancelled. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string, timers: Timers = systemTimers): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = timers.setTimeout(() => reject(new RedisTimeoutError(what, timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        timers.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        timers.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Sends QUIT when connected (bounded), then drops the connection and stops reconnecting. */
export async function closeRedisClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') {
    await withTimeout(client.quit(), timeoutMs, 'QUIT').catch(() => undefined);
  }
  client.disconnect();
}
