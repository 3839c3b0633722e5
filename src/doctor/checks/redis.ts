// The Redis section: the service's own client (redis/client.ts, with its TLS, Sentinel or
// Cluster options and its password) connects and answers PING within the configured
// command timeout, and the limiter's Lua script loads with the SHA the limiter calls it by
// (on every master of a Cluster, where each node holds its own scripts). Without Redis
// configured the limiter is in-process: nothing to reach, said as skipped.

import { Cluster } from 'ioredis';
import type { Timers } from '../../clock.js';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../logger.js';
import { RATE_LIMIT_SCRIPT, RATE_LIMIT_SCRIPT_SHA } from '../../ratelimit/redis.js';
import { closeRedisClient, createRedisClient, describeRedisError, withTimeout, type RedisClient } from '../../redis/client.js';
import { redisDownCause, redisScriptCause } from '../causes.js';
import { check, type Check, type Section } from '../findings.js';

export interface RedisCheckDeps {
  readonly logger: Logger;
  readonly timers: Timers;
}

export const REDIS_SECTION_TITLE = 'Redis';

type RedisConfig = NonNullable<Config['redis']>;

export async function redisSection(config: Config, deps: RedisCheckDeps): Promise<Section> {
  const { redis } = config;
  if (redis === undefined) {
    return { title: REDIS_SECTION_TITLE, checks: [check('skip', 'Redis', 'not configured: the rate limit is kept in this process')] };
  }
  const where = redisWhere(redis);
  const client = createRedisClient(redis, { logger: deps.logger, timers: deps.timers });
  let lastError: string | undefined;
  const remember = (error: unknown) => (lastError = describeRedisError(error));
  client.on('error', remember);
  if (client instanceof Cluster) client.on('node error', remember);
  try {
    // As the client's own connect timeout: the first connection may need a TLS handshake, or a Sentinel's answer first.
    const connectMs = Math.max(2000, redis.commandTimeoutMs * 4);
    const ready = await becomesReady(client, connectMs, deps.timers);
    if (!ready) {
      return {
        title: REDIS_SECTION_TITLE,
        checks: [
          check('fail', 'Redis answers PING', lastError ?? `not ready within ${connectMs} ms`, redisDownCause(lastError, where, connectMs)),
          check('skip', "the limiter's script loads", 'not tried: Redis is not reachable'),
        ],
      };
    }
    return { title: REDIS_SECTION_TITLE, checks: [await pings(client, where, redis, deps), await scriptLoads(client, redis, deps)] };
  } finally {
    await closeRedisClient(client, redis.commandTimeoutMs);
  }
}

function becomesReady(client: RedisClient, timeoutMs: number, timers: Timers): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = timers.setTimeout(() => settle(false), timeoutMs);
    const onReady = () => settle(true);
    const settle = (ready: boolean) => {
      timers.clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    };
    client.once('ready', onReady);
  });
}

async function pings(client: RedisClient, where: string, redis: RedisConfig, deps: RedisCheckDeps): Promise<Check> {
  const what = 'Redis answers PING';
  try {
    const answer = await withTimeout(client.ping(), redis.commandTimeoutMs, 'PING', deps.timers);
    return check('ok', what, `${where}: ${answer}`);
  } catch (error) {
    const detail = describeRedisError(error);
    return check('fail', what, detail, redisDownCause(detail, where, redis.commandTimeoutMs));
  }
}

async function scriptLoads(client: RedisClient, redis: RedisConfig, deps: RedisCheckDeps): Promise<Check> {
  const what = "the limiter's script loads";
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  try {
    const shas = await Promise.all(
      nodes.map((node) =>
        withTimeout(node.script('LOAD', RATE_LIMIT_SCRIPT) as Promise<string>, redis.commandTimeoutMs, 'SCRIPT LOAD', deps.timers),
      ),
    );
    const other = shas.find((sha) => sha !== RATE_LIMIT_SCRIPT_SHA);
    if (other !== undefined) {
      return check(
        'fail',
        what,
        `SHA ${other}, not ${RATE_LIMIT_SCRIPT_SHA}`,
        'something between us and Redis changes the script: a proxy?',
      );
    }
    const on = nodes.length === 1 ? '' : ` on ${nodes.length} masters`;
    return check('ok', what, `SHA ${RATE_LIMIT_SCRIPT_SHA} as the limiter calls it${on}`);
  } catch (error) {
    const detail = describeRedisError(error);
    return check('fail', what, detail, redisScriptCause(detail));
  }
}

/** Where Redis is, with no credential in it. */
export function redisWhere(redis: RedisConfig): string {
  if (redis.clusterNodes !== undefined) return `the Redis Cluster at ${redis.clusterNodes.map(hostPort).join(', ')}`;
  if (redis.sentinels !== undefined) {
    return `the master "${redis.sentinelName ?? ''}" of the Sentinels at ${redis.sentinels.map(hostPort).join(', ')}`;
  }
  return urlWithoutCredentials(redis.url?.value ?? '');
}

const hostPort = (node: { host: string; port: number }) => `${node.host}:${node.port}`;

function urlWithoutCredentials(text: string): string {
  try {
    const url = new URL(text);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return 'REDIS_URL';
  }
}
