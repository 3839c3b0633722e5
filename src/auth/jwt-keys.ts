// Where JWT verification keys come from, and the line between a bad token and keys we
// cannot get. Remote: a JWKS URL fetched through jose (cached, fetched again when a token
// names a kid we do not know, at most once per cooldown), each fetch timed as upstream
// "jwks"; a kid still unknown after a fresh fetch is a bad token (jose's error, a 401 to
// the caller), keys we cannot fetch are a 5xx. Static: JWT_PUBLIC_KEY as PEM, JWK or JWK
// set (read by jwt-public-key.ts, as the configuration checked it), re-parsed when its
// file changes.

import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { MatrixError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { readPublicKey, type PublicKeyReading } from '../jwt-public-key.js';
import type { OutageLog } from './outage.js';

/** Fetches of the JWKS for unknown kids are at least this far apart (as Keycloak's adapters). */
export const JWKS_COOLDOWN_MS = 10_000;
/** Fetched keys are used this long before the JWKS is fetched again (jose's default). */
export const JWKS_CACHE_MAX_AGE_MS = 600_000;

export interface RemoteKeysOptions {
  url: string;
  /** Milliseconds one JWKS fetch may take. */
  timeoutMs: number;
  /** Milliseconds after a fetch during which an unknown kid does not cause another. Default JWKS_COOLDOWN_MS. */
  cooldownMs?: number;
  /** Milliseconds fetched keys are used before the JWKS is fetched again. Default JWKS_CACHE_MAX_AGE_MS. */
  cacheMaxAgeMs?: number;
  metrics: Metrics;
  /** Told of each request the JWKS being unreachable fails, and of each good fetch: a JWKS outage is logged once (outage.ts). */
  outages?: OutageLog;
}

export function remoteKeys(options: RemoteKeysOptions): JWTVerifyGetKey {
  const cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
  const observe = (outcome: string, startNs: bigint) =>
    options.metrics.upstreamDuration.labels('jwks', outcome).observe(Number(process.hrtime.bigint() - startNs) / 1e9);
  // The keys of the last good fetch, built only when a later refresh fails: a JWKS outage
  // must not stop tokens signed with keys we already hold.
  let stale: JWTVerifyGetKey | undefined;

  // jose shares one fetch among the requests waiting on it: a fetch that got the key set
  // ends an outage, and each request it failed is counted (jwksKey below).
  const failed = (error: MatrixError) => options.outages?.call().failed(error) ?? error;

  const timedFetch: FetchImplementation = async (url, init) => {
    const startNs = process.hrtime.bigint();
    const outage = options.outages?.call();
    try {
      const response = await fetch(url, init);
      observe(response.status < 500 ? 'response' : 'server_error', startNs);
      if (response.status === 200) {
        stale = undefined;
        outage?.succeeded();
      }
      return response;
    } catch (error) {
      observe((error as Error)?.name === 'TimeoutError' ? 'timeout' : 'unreachable', startNs);
      throw error;
    }
  };
  const remote = createRemoteJWKSet(new URL(options.url), {
    timeoutDuration: options.timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    [customFetch]: timedFetch,
  });

  return async function jwksKey(header, token) {
    const coolingDown = remote.coolingDown;
    try {
      return await remote(header, token);
    } catch (error) {
      const code = joseCode(error);
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' && coolingDown) {
        // jose did not fetch: the kid may be a freshly rotated key, so we cannot call the token bad.
        throw MatrixError.upstream(503, `jwks: no key for kid ${describeKid(header.kid)}; the JWKS was fetched less than ${cooldownMs} ms ago`, {
          retryAfterSeconds: Math.max(1, Math.ceil(cooldownMs / 1000)),
        });
      }
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JOSE_NOT_SUPPORTED' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw error;
      const lastGood = remote.jwks();
      if (lastGood === undefined) throw failed(unreachable(error, options.timeoutMs));
      stale ??= createLocalJWKSet(lastGood);
      try {
        return await stale(header, token);
      } catch (staleError) {
        throw joseCode(staleError) === 'ERR_JWKS_NO_MATCHING_KEY' ? failed(unreachable(error, options.timeoutMs)) : staleError;
      }
    }
  };
}

function unreachable(error: unknown, timeoutMs: number): MatrixError {
  if (joseCode(error) === 'ERR_JWKS_TIMEOUT') {
    return MatrixError.upstream(504, `jwks did not answer within ${timeoutMs} ms`, { cause: error });
  }
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  const what = typeof cause === 'string' ? cause : error instanceof Error ? error.message : 'error';
  return MatrixError.upstream(502, `jwks unreachable or not a key set (${what})`, { cause: error });
}

function joseCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function describeKid(kid: unknown): string {
  return typeof kid === 'string' ? JSON.stringify(kid.slice(0, 64)) : '(none)';
}

/**
 * A static key: PEM (SubjectPublicKeyInfo), one JWK, or a JWK set. `current()` is read on
 * every verification so a changed file takes effect; a changed value that does not parse
 * is reported and the previous key stays in force.
 */
export function staticKeys(source: { current(): string }, logger: Logger): JWTVerifyGetKey {
  let parsedFrom = source.current();
  let key = parseVerificationKey(parsedFrom);
  let refused: string | undefined;
  return async function staticKey(header, token) {
    const text = source.current();
    if (text !== parsedFrom && text !== refused) {
      try {
        key = parseVerificationKey(text);
        parsedFrom = text;
      } catch (error) {
        refused = text;
        logger.error({ setting: 'JWT_PUBLIC_KEY', problem: (error as Error).message }, 'new JWT_PUBLIC_KEY does not parse; keeping the previous key');
      }
    }
    return key(header, token);
  };
}

/** Throws an Error naming what is wrong when the text is no public key (jwt-public-key.ts reads it). */
export function parseVerificationKey(text: string): JWTVerifyGetKey {
  let reading: PublicKeyReading;
  try {
    reading = readPublicKey(text);
  } catch (error) {
    throw new Error(`JWT_PUBLIC_KEY ${(error as Error).message}`);
  }
  if (reading.set !== undefined) return createLocalJWKSet(reading.set as JSONWebKeySet);
  const keyObject = reading.keys[0]!.keyObject;
  return async () => keyObject;
}
