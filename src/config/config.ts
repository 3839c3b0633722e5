// The typed configuration loadConfig returns: frozen, units in the names. The composition
// root (app.ts) maps it onto each domain module's own options.

import type { SecretRef } from '../secret-file.js';
import type { TurnServerSetting } from './turn-servers.js';
import type { AuthMethod, IntrospectionClientAuth, LOG_LEVELS, RedisErrorPolicy, TurnServerSelection } from './variables.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly metricsPort: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly trustProxy: boolean;
  readonly accessLog: {
    /** Each access line carries the client's address. */
    readonly clientAddress: boolean;
    /** The key of the user hash, as read at start; absent: app.ts derives one from a secret the service has. */
    readonly userHashKey?: SecretRef;
  };
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
    /**
     * turn_servers from the YAML file, in order; or the one server of TURN_URIS with its
     * credential, named FLAT_TURN_SERVER_NAME. A shared secret may list several: the first
     * signs, the rest are what coturn may still accept.
     */
    readonly servers: readonly TurnServerSetting[];
    /** The lifetime of a server's credentials that sets none of its own. */
    readonly ttlSeconds: number;
    readonly allowGuests: boolean;
    readonly selection: TurnServerSelection;
    readonly healthCheck: {
      /** 0: no checks, every URI counts as up. */
      readonly intervalSeconds: number;
      readonly timeoutMs: number;
    };
    /**
     * Where the secrets of the server with `secretRotation` live (coturn's redis-userdb and
     * realm); present exactly when a server has it.
     */
    readonly managedSecrets?: {
      /** COTURN_REDIS_URL: its own client, whether or not it names REDIS_URL's server. */
      readonly redis: { readonly url: SecretRef; readonly tls: boolean; readonly commandTimeoutMs: number };
      readonly realm: string;
      /** Added to a credential's lifetime before the secret that signed it is removed (clock skew). */
      readonly marginSeconds: number;
    };
    /** Users whose credential from a TURN provider is kept, per provider entry (least recently used dropped first). */
    readonly providerCacheSize: number;
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
