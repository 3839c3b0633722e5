// createApp(config, deps): the Koa app from explicit parts, no module state. Tests build
// it with real or substitute parts; main.ts builds it for production.
// buildDependencies(config, base) makes the parts the configuration asks for.

import Koa from 'koa';
import type { Registry } from 'prom-client';
import { createVerifier } from './auth/index.js';
import type { TokenVerifier } from './auth/types.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/index.js';
import { createHealth, type Health } from './health.js';
import { edge } from './http/edge.js';
import { createRouter } from './http/routes.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createRateLimiting } from './ratelimit/index.js';
import { memoryLimiter } from './ratelimit/memory.js';
import type { RateLimiter } from './ratelimit/types.js';
import { createMinter } from './turn/index.js';
import type { CredentialMinter } from './turn/credentials.js';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  health: Health;
  verifier: TokenVerifier;
  limiter: RateLimiter;
  minter: CredentialMinter;
}

export interface BuiltDependencies extends AppDeps {
  /** Releases connections, timers and file watches. */
  close(): Promise<void>;
}

export interface BaseDeps {
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  /** Collect prom-client's process metrics (default true). */
  defaultMetrics?: boolean;
}

export function buildDependencies(config: Config, base: BaseDeps): BuiltDependencies {
  const clock = base.clock ?? systemClock;
  const metrics = createMetrics(base.registry, { defaultMetrics: base.defaultMetrics ?? true, redis: config.redis !== undefined });
  const health = createHealth();
  const { logger } = base;
  const verifier = createVerifier(config, { logger, metrics, clock });
  const rateLimiting = createRateLimiting(config, { logger, metrics, clock, health });
  const turn = createMinter(config, { clock, logger, metrics });
  return {
    logger,
    metrics,
    clock,
    health,
    verifier,
    limiter: rateLimiting.limiter,
    minter: rateLimiting.counting(turn.minter),
    async close() {
      turn.close();
      await Promise.allSettled([verifier.close?.(), rateLimiting.close()]);
    },
  };
}

export function createApp(config: Config, deps: AppDeps): Koa {
  // maxIpsCount 1: ctx.ip is the address our proxy appended, not one the client wrote.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  app.silent = true;
  const router = createRouter({
    verifier: deps.verifier,
    limiter: deps.limiter,
    minter: deps.minter,
    metrics: deps.metrics,
    health: deps.health,
    allowGuests: config.turn.allowGuests,
    exemptUsers: new Set(config.rateLimit.exemptUsers),
    unknownTokens: {
      budget: memoryLimiter({ perSecond: config.rateLimit.unknownTokenPerSecond, burst: config.rateLimit.unknownTokenBurst, clock: deps.clock }),
      // Verifying and waiting: a wave of new users behind one proxy waits its turn (the guard
      // verifies `burst` at a time); past a thousand at once, 429 rather than a longer queue.
      maxPendingPerAddress: 1000,
      trustProxy: config.trustProxy,
    },
  });
  app.use(edge(deps.logger, deps.metrics, () => deps.health.draining));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
