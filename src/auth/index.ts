// Chooses the verifier AUTH_METHOD names, gives it its upstream and live secrets (each
// re-read held to the rule of the start, failures counted), and wraps it: counted, then cached. The appservice method has no upstream call to save, and
// its answer depends on a header besides the token, so it is not cached.

import type { Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { watchedSecret } from '../secret-file.js';
import { appserviceVerifier } from './appservice.js';
import { cachingVerifier } from './cache.js';
import { instrumentedVerifier } from './instrumented.js';
import { introspectionVerifier } from './introspection.js';
import { jwtVerifier } from './jwt.js';
import { remoteKeys, staticKeys } from './jwt-keys.js';
import { publicKeyRule } from '../jwt-public-key.js';
import type { TokenVerifier } from './types.js';
import { outageLog } from './outage.js';
import { createUpstream, upstreamLimits, type Upstream } from './upstream.js';
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
  // The client secret's and the hs_token's only rule at start is not being empty, which every re-read checks.
  const failures = deps.metrics.secretReloadFailures;
  switch (auth.method) {
    case 'whoami': {
      const upstream = upstreamFor('homeserver', auth, deps);
      const verifier = whoamiVerifier({ homeserverUrl: auth.homeserverUrl!, upstream });
      return { ...verifier, close: () => upstream.close() };
    }
    case 'introspection': {
      const settings = auth.introspection!;
      const upstream = upstreamFor('introspection', auth, deps);
      const clientSecret = watchedSecret(settings.clientSecret!, 'INTROSPECTION_CLIENT_SECRET_FILE', deps.logger, { failures });
      const verifier = introspectionVerifier({
        url: settings.url,
        clientAuth: settings.clientAuth,
        ...(settings.clientId !== undefined && { clientId: settings.clientId }),
        clientSecret,
        userClaim: settings.userClaim,
        serverName: auth.serverName!,
        upstream,
        clock: deps.clock,
      });
      return {
        ...verifier,
        close: async () => {
          clientSecret.close();
          await upstream.close();
        },
      };
    }
    case 'jwt': {
      const settings = auth.jwt!;
      const publicKey =
        settings.publicKey && watchedSecret(settings.publicKey, 'JWT_PUBLIC_KEY_FILE', deps.logger, { validate: publicKeyRule(settings.algorithms), failures });
      const keys = publicKey
        ? staticKeys(publicKey, deps.logger)
        : remoteKeys({
            url: settings.jwksUrl!,
            timeoutMs: auth.upstreamTimeoutMs,
            metrics: deps.metrics,
            outages: outageLog({ upstream: 'jwks', logger: deps.logger, clock: deps.clock }),
          });
      const verifier = jwtVerifier({
        keys,
        issuer: settings.issuer!,
        audience: settings.audience!,
        algorithms: settings.algorithms,
        userClaim: settings.userClaim,
        serverName: auth.serverName!,
        clock: deps.clock,
      });
      return { ...verifier, close: async () => publicKey?.close() };
    }
    case 'appservice': {
      const hsToken = watchedSecret(auth.appservice!.hsToken, 'APPSERVICE_HS_TOKEN_FILE', deps.logger, { failures });
      const verifier = appserviceVerifier({ hsToken, serverName: auth.serverName! });
      return { ...verifier, close: async () => hsToken.close() };
    }
  }
}

function upstreamFor(name: string, auth: Config['auth'], deps: VerifierDeps): Upstream {
  return createUpstream({ name, timeoutMs: auth.upstreamTimeoutMs, ...upstreamLimits(auth), clock: deps.clock, metrics: deps.metrics, logger: deps.logger });
}
