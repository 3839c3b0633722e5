// Where JWT verification keys come from, and the line between a bad token and keys we
// cannot get. Remote: a JWKS URL fetched by jose (cached, fetched again when a token names
// a kid we do not know, at most once per cooldown) through the JWKS endpoint's Upstream,
// so its timeout, circuit breaker, cap on calls in flight, metrics ("jwks") and outage
// log are those of every upstream; a kid still unknown after a fresh fetch is a bad token
// (jose's error, a 401 to the caller), keys we cannot get are a 5xx. Static:
// JWT_PUBLIC_KEY as PEM, JWK or JWK set (read by jwt-public-key.ts, as the configuration
// checked it), re-parsed when its file changes.

import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import { errorCode } from '../error-fields.js';
import { MatrixError } from '../errors.js';
import type { Logger } from '../logger.js';
import { readPublicKey, type PublicKeyReading } from '../jwt-public-key.js';
import type { Upstream } from './upstream.js';

/** Fetches of the JWKS for unknown kids are at least this far apart (as Keycloak's adapters). */
export const JWKS_COOLDOWN_MS = 10_000;
/** Fetched keys are used this long before the JWKS is fetched again (jose's default). */
export const JWKS_CACHE_MAX_AGE_MS = 600_000;

export interface RemoteKeysOptions {
  url: string;
  /** The JWKS endpoint's upstream: every fetch is one call through it. */
  upstream: Upstream;
  /** Milliseconds after a fetch during which an unknown kid does not cause another. Default JWKS_COOLDOWN_MS. */
  cooldownMs?: number;
  /** Milliseconds fetched keys are used before the JWKS is fetched again. Default JWKS_CACHE_MAX_AGE_MS. */
  cacheMaxAgeMs?: number;
}

/** jose's own codes for a token no key of a good key set verifies: a verdict on the token. */
const TOKEN_VERDICTS: ReadonlySet<string> = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

export function remoteKeys(options: RemoteKeysOptions): JWTVerifyGetKey {
  const { upstream } = options;
  const cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
  // The keys of the last good fetch, built only when a later refresh fails: a JWKS outage
  // must not stop tokens signed with keys we already hold.
  let stale: JWTVerifyGetKey | undefined;

  // jose's fetch, as one call through the upstream. Its failures (unreachable, a timeout, a
  // 5xx, the breaker open, too many calls in flight) come back as the upstream's
  // MatrixErrors, told by its outage log; an answer jose could not read as a key set is
  // refused here as any upstream's nonsense is. jose's own signal is not needed: the
  // upstream's timeout bounds the call.
  const fetchThroughUpstream: FetchImplementation = async (url, init) => {
    const res = await upstream.call({ method: 'GET', url, headers: { accept: init.headers.get('accept') ?? 'application/json' } });
    if (res.status !== 200) throw MatrixError.badUpstreamAnswer(upstream.name, `HTTP ${res.status}`);
    if (res.json === undefined) throw MatrixError.badUpstreamAnswer(upstream.name, 'a 200 that is not JSON');
    stale = undefined;
    return Response.json(res.json);
  };
  const remote = createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    [customFetch]: fetchThroughUpstream,
  });

  return async function jwksKey(header, token) {
    const coolingDown = remote.coolingDown;
    try {
      return await remote(header, token);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' && coolingDown) {
        // jose did not fetch: the kid may be a freshly rotated key, so we cannot call the token bad.
        throw MatrixError.upstream(
          503,
          `jwks: no key for kid ${describeKid(header.kid)}; the JWKS was fetched less than ${cooldownMs} ms ago`,
          {
            retryAfterSeconds: Math.max(1, Math.ceil(cooldownMs / 1000)),
          },
        );
      }
      if (code !== undefined && TOKEN_VERDICTS.has(code)) throw error;
      const unavailable = keysUnavailable(error, upstream.name);
      const lastGood = remote.jwks();
      if (lastGood === undefined) throw unavailable;
      stale ??= createLocalJWKSet(lastGood);
      try {
        return await stale(header, token);
      } catch (staleError) {
        throw errorCode(staleError) === 'ERR_JWKS_NO_MATCHING_KEY' ? unavailable : staleError;
      }
    }
  };
}

/** Why no key set could be had, as the 5xx the caller sees (never a verdict on the token). */
function keysUnavailable(error: unknown, name: string): MatrixError {
  if (error instanceof MatrixError) return error;
  // jose read the JSON but it is no key set (ERR_JWKS_INVALID), or something unforeseen.
  const what = error instanceof Error ? error.message : 'error';
  return MatrixError.upstream(502, `${name} answered something that is not a key set (${what})`, { cause: error });
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
        logger.error(
          { setting: 'JWT_PUBLIC_KEY', problem: (error as Error).message },
          'new JWT_PUBLIC_KEY does not parse; keeping the previous key',
        );
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
    throw new Error(`JWT_PUBLIC_KEY ${(error as Error).message}`, { cause: error });
  }
  if (reading.set !== undefined) return createLocalJWKSet(reading.set);
  const keyObject = reading.keys[0]!.keyObject;
  return async () => keyObject;
}
