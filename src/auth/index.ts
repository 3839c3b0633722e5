// Builds the verifier the method options name, gives it its upstream and live secrets
// (each re-read held to the rule of the start, failures counted), and puts it behind the
// token cache, counted. The appservice method's answer depends on a header besides the
// token: its identities are kept by user id instead (appservice.ts).

import type { Clock, Timers } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { watchedSecret, type SecretRef } from '../secret-file.js';
import { appserviceTokens, appserviceVerifier } from './appservice.js';
import { tokenCache, type TokenCacheSettings } from './cache.js';
import { instrumentedVerifier } from './instrumented.js';
import { introspectionVerifier, type IntrospectionOptions } from './introspection.js';
import { jwtVerifier, type JwtVerifierOptions } from './jwt.js';
import { remoteKeys, staticKeys } from './jwt-keys.js';
import type { TokenCache, TokenVerifier } from './types.js';
import { createUpstream, type Upstream, type UpstreamLimits } from './upstream.js';
import { whoamiVerifier } from './whoami.js';

export interface AuthOptions {
  readonly method: AuthMethodOptions;
  /** What every upstream (homeserver, introspection endpoint, JWKS) is held to. */
  readonly upstream: UpstreamLimits;
  readonly tokenCache: TokenCacheSettings;
}

export type AuthMethodOptions = WhoamiMethod | IntrospectionMethod | JwtMethod | AppserviceMethod;

export interface WhoamiMethod {
  readonly method: 'whoami';
  /** The base URL of the homeserver's client API. */
  readonly homeserverUrl: string;
}

export interface IntrospectionMethod extends Omit<IntrospectionOptions, 'clientSecret' | 'upstream' | 'clock'> {
  readonly method: 'introspection';
  readonly clientSecret: SecretRef;
}

export interface JwtMethod extends Omit<JwtVerifierOptions, 'keys' | 'clock'> {
  readonly method: 'jwt';
  readonly keys: { readonly jwksUrl: string } | StaticPublicKey;
}

export interface StaticPublicKey {
  /** PEM, JWK or JWK set. */
  readonly publicKey: SecretRef;
  /** The rule the key was held to at start: the rule a value breaks, in words, or undefined. Each re-read of its file is held to it too. */
  readonly validatePublicKey: (text: string) => string | undefined;
}

export interface AppserviceMethod {
  readonly method: 'appservice';
  /** The hs_token of the registration, which the homeserver presents as its access token. */
  readonly hsToken: SecretRef;
  readonly serverName: string;
}

export interface AuthDeps {
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** What the secret files' polls and the upstreams' waits run on; default Node's. */
  timers?: Timers;
}

/** The route's way to an identity: the verifier the options name, counted, behind the token cache. */
export function createTokenCache(options: AuthOptions, deps: AuthDeps): TokenCache {
  const { method } = options;
  if (method.method === 'appservice') {
    const failures = deps.metrics.secretReloadFailures;
    const hsToken = watchedSecret(method.hsToken, 'APPSERVICE_HS_TOKEN_FILE', deps.logger, { failures, timers: deps.timers });
    const verifier = { ...appserviceVerifier({ hsToken, serverName: method.serverName }), close: async () => hsToken.close() };
    const counted = instrumentedVerifier(verifier, deps.metrics);
    return appserviceTokens(counted, { hsToken, size: options.tokenCache.size, metrics: deps.metrics });
  }
  const counted = instrumentedVerifier(createVerifier(method, options.upstream, deps), deps.metrics);
  return tokenCache(counted, { ...options.tokenCache, clock: deps.clock, metrics: deps.metrics });
}

function createVerifier(method: Exclude<AuthMethodOptions, AppserviceMethod>, limits: UpstreamLimits, deps: AuthDeps): TokenVerifier {
  const upstreamFor = (name: string, maxBodyBytes?: number) => upstream(name, limits, deps, maxBodyBytes);
  // The client secret's only rule at start is not being empty, which every re-read checks (the hs_token's too).
  const failures = deps.metrics.secretReloadFailures;
  switch (method.method) {
    case 'whoami': {
      const homeserver = upstreamFor('homeserver');
      const verifier = whoamiVerifier({ homeserverUrl: method.homeserverUrl, upstream: homeserver });
      return { ...verifier, close: () => homeserver.close() };
    }
    case 'introspection': {
      const { method: _name, clientSecret: secretRef, ...settings } = method;
      const introspection = upstreamFor('introspection');
      const clientSecret = watchedSecret(secretRef, 'INTROSPECTION_CLIENT_SECRET_FILE', deps.logger, { failures, timers: deps.timers });
      const verifier = introspectionVerifier({ ...settings, clientSecret, upstream: introspection, clock: deps.clock });
      return {
        ...verifier,
        close: async () => {
          clientSecret.close();
          await introspection.close();
        },
      };
    }
    case 'jwt': {
      const { method: _name, keys: source, ...settings } = method;
      let release: () => Promise<void>;
      let keys: JwtVerifierOptions['keys'];
      if ('jwksUrl' in source) {
        // A key set is larger than any verification answer: a few keys with their
        // certificate chains, and some providers publish dozens.
        const jwks = upstreamFor('jwks', 1_048_576);
        keys = remoteKeys({ url: source.jwksUrl, upstream: jwks });
        release = () => jwks.close();
      } else {
        const validate = source.validatePublicKey;
        const publicKey = watchedSecret(source.publicKey, 'JWT_PUBLIC_KEY_FILE', deps.logger, { validate, failures, timers: deps.timers });
        keys = staticKeys(publicKey, deps.logger);
        release = async () => publicKey.close();
      }
      const verifier = jwtVerifier({ ...settings, keys, clock: deps.clock });
      return { ...verifier, close: release };
    }
  }
}

function upstream(name: string, limits: UpstreamLimits, deps: AuthDeps, maxBodyBytes?: number): Upstream {
  return createUpstream({
    name,
    ...limits,
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
    clock: deps.clock,
    ...(deps.timers !== undefined && { timers: deps.timers }),
    metrics: deps.metrics,
    logger: deps.logger,
  });
}
