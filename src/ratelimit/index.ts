// Builds the per-user rate limiting the configuration asks for. Without Redis: the
// in-process limiter (one replica's view). With Redis: the Redis client, the shared Redis
// limiter behind the fallback that keeps answering while Redis is away, and the
// cluster-wide figures; close() releases them (last batch of figures, then the client).

import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Health } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { closeRedisClient, createRedisClient } from '../redis/client.js';
import type { CredentialMinter } from '../turn/credentials.js';
import { countingMinter, createClusterStats, exportClusterStats } from '../stats/cluster.js';
import { withRedisFallback } from './fallback.js';
import { memoryLimiter } from './memory.js';
import { redisLimiter } from './redis.js';
import type { RateLimiter } from './types.js';

export interface LimiterDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  health: Health;
}

export interface RateLimiting {
  readonly limiter: RateLimiter;
  /** The minter, counting what it issues in the cluster-wide figures when there are any. */
  counting(minter: CredentialMinter): CredentialMinter;
  close(): Promise<void>;
}

export function createRateLimiting(config: Config, deps: LimiterDeps): RateLimiting {
  const settings = { perSecond: config.rateLimit.perSecond, burst: config.rateLimit.burst };
  const local = memoryLimiter({ ...settings, clock: deps.clock });
  if (config.redis === undefined) {
    deps.health.register('ratelimit', () => ({ ready: true, degraded: false, detail: 'in-process limiter (one replica)' }));
    return { limiter: local, counting: (minter) => minter, close: async () => {} };
  }
  const timeoutMs = config.redis.commandTimeoutMs;
  const client = createRedisClient(config.redis, { logger: deps.logger, secretReloadFailures: deps.metrics.secretReloadFailures });
  const shared = redisLimiter({ ...settings, client, timeoutMs });
  const limiter = withRedisFallback({
    primary: shared,
    // A write (the script) anywhere, and on the failed user's own server (its slot, in a Cluster).
    probe: (failedKey) => shared.probe(failedKey),
    connection: client,
    reconnect: () => client.disconnect(true),
    policy: config.rateLimit.onRedisError,
    local,
    metrics: deps.metrics,
    health: deps.health,
    logger: deps.logger,
    clock: deps.clock,
  });
  const stats = createClusterStats({ client, clock: deps.clock, logger: deps.logger, timeoutMs });
  exportClusterStats(stats, deps.metrics.registry);
  return {
    limiter,
    counting: (minter) => countingMinter(minter, stats),
    async close() {
      await stats.close();
      await limiter.close?.();
      await closeRedisClient(client, timeoutMs);
    },
  };
}
