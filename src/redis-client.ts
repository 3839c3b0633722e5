// The Redis connection: one ioredis client (standalone, Sentinel or Cluster, as
// configured) tuned so that no request ever waits on Redis for long, and closing it.
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

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export type RedisClient = Redis | Cluster;
export type RedisConfig = NonNullable<Config['redis']>;

/** Longest pause between reconnection attempts, in milliseconds. */
export const MAX_RECONNECT_DELAY_MS = 2000;

export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

export function createRedisClient(config: RedisConfig, deps: { logger: Logger }): RedisClient {
  const tls = config.tls ? {} : undefined;
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: Math.max(2000, config.commandTimeoutMs * 4),
    enableReadyCheck: true,
    connectionName: 'matrix-turn-credentials',
    // Concurrent requests' scripts leave in one write per event-loop turn instead of one
    // each: fewer syscalls under load, the same single round trip per request.
    enableAutoPipelining: true,
    // A socket to a server that died never reports closing; keep no 2 s timer alive at exit.
    disconnectTimeout: 500,
    // A master demoted by a failover answers writes with READONLY while the connection
    // stays up: reconnect (through Sentinel, to the new master) instead of failing forever.
    // 1 = reconnect without re-sending the failed command.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
    ...(config.password !== undefined && { password: config.password.value }),
    ...(tls !== undefined && { tls }),
  };
  let client: RedisClient;
  if (config.clusterNodes !== undefined) {
    const { enableOfflineQueue: _queue, ...nodeOptions } = common;
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
      ...(tls !== undefined && { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) }),
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
      ...(config.password !== undefined && { sentinelPassword: config.password.value }),
      // No failoverDetector: Sentinel itself disconnects the clients of a master it
      // demotes, a dead master closes the connection, and a silent one is dropped by the
      // fallback's probe (see fallback.ts); each of those reconnects through Sentinel.
      ...(tls !== undefined && { enableTLSForSentinelMode: true, sentinelTLS: tls }),
    });
  } else {
    client = new Redis(config.url!, { ...common, retryStrategy: reconnectDelayMs });
  }
  // Connection errors repeat on every reconnection attempt; the limiter logs the
  // transitions (down, up) once each. An ioredis error may carry the command's arguments
  // (AUTH's password among them), so only its message is ever logged.
  client.on('error', (error: unknown) => deps.logger.debug({ detail: describeRedisError(error) }, 'redis connection error'));
  return client;
}

/** Whether a failed command timed out (the connection may be silently dead), rather than being refused. */
export function isTimeout(error: unknown): boolean {
  return error instanceof RedisTimeoutError || /timed out/i.test(errorParts(error)?.message ?? '');
}

/** The message of an ioredis error, without the command arguments it may carry. */
export function describeRedisError(error: unknown): string {
  const parts = errorParts(error);
  return parts === undefined ? 'non-error thrown' : `${parts.name}: ${parts.message}`;
}

// Duck-typed, not instanceof: socket errors are made by Node's core, which is another
// realm than the code under a vm-based test runner.
function errorParts(error: unknown): { name: string; message: string } | undefined {
  if (typeof error !== 'object' || error === null || typeof (error as { message?: unknown }).message !== 'string') return undefined;
  const { name, message } = error as { name?: unknown; message: string };
  return { name: typeof name === 'string' ? name : 'Error', message };
}

export class RedisTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/** Rejects with RedisTimeoutError once `timeoutMs` passes; the command itself is not cancelled. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(what, timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
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
