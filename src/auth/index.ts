// Chooses the verifier AUTH_METHOD names and wraps it: counted, then cached. The
// appservice method has no upstream call to save, so it is not cached.

import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { cachingVerifier } from './cache.js';
import { instrumentedVerifier } from './instrumented.js';
import type { TokenVerifier } from './types.js';
import { createUpstream, upstreamLimits } from './upstream.js';
import { whoamiVerifier } from './whoami.js';

export interface VerifierDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
}

export function createVerifier(config: Config, deps: VerifierDeps): TokenVerifier {
  const base = createBaseVerifier(config, deps);
  const counted = instrumentedVerifier(base, deps.metrics);
  if (config.auth.method === 'appservice') return counted;
  return cachingVerifier(counted, { ...config.tokenCache, clock: deps.clock, metrics: deps.metrics });
}

function createBaseVerifier(config: Config, deps: VerifierDeps): TokenVerifier {
  const { auth } = config;
  switch (auth.method) {
    case 'whoami': {
      const upstream = createUpstream({
        name: 'homeserver',
        timeoutMs: auth.upstreamTimeoutMs,
        ...upstreamLimits(auth),
        clock: deps.clock,
        metrics: deps.metrics,
        logger: deps.logger,
      });
      const verifier = whoamiVerifier({ homeserverUrl: auth.homeserverUrl!, upstream });
      return { ...verifier, close: () => upstream.close() };
    }
    default:
      throw new Error(`AUTH_METHOD ${auth.method} is not available in this build`);
  }
}
