// The appservice verifier: the homeserver proxies the route itself and vouches for the
// user (MSC4512; lk-jwt-service's application-service mode). It presents the hs_token of
// the registration as its access token and names the user in X-Matrix-User-Identifier.
// Nothing is asked upstream. A wrong token is 401 M_UNKNOWN_TOKEN; a missing or malformed
// user id, or one of another server, is 403 M_FORBIDDEN.
//
// Every user comes with the same token, so nothing can be kept by the token as the other
// methods' cache does (cache.ts); appserviceTokens keeps instead the identity of each user
// id the homeserver named with the right token (bounded, least recently used first out).
// A request with the hs_token and a user seen before is then answered as a cache hit:
// no verification, no promise, and the same identity object, whose user hash the access
// log has already computed.

import { createHash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { MatrixError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { tokenHash } from './token-hash.js';
import type { Identity, TokenCache, TokenVerifier } from './types.js';
import { toLocalUserId } from '../user-id.js';

export const USER_ID_HEADER = 'X-Matrix-User-Identifier';

export interface AppserviceOptions {
  /** APPSERVICE_HS_TOKEN; read per request so a rotated file takes effect. */
  hsToken: { current(): string };
  serverName: string;
}

export function appserviceVerifier(options: AppserviceOptions): TokenVerifier {
  const { hsToken, serverName } = options;
  return {
    method: 'appservice',
    async verify(token, facts): Promise<Identity> {
      if (!sameSecret(token, hsToken.current())) throw MatrixError.unknownToken('appservice: not the hs_token');
      const claimed = facts.userIdHeader;
      if (claimed === undefined || claimed === '') {
        throw MatrixError.forbidden(`Missing ${USER_ID_HEADER} header`, 'appservice: no user named');
      }
      const userId = claimed.startsWith('@') ? toLocalUserId(claimed, serverName) : undefined;
      if (userId === undefined) {
        throw MatrixError.forbidden(`${USER_ID_HEADER} must be a user id of ${serverName}`, 'appservice: malformed or foreign user id');
      }
      return { userId, isGuest: false };
    },
  };
}

/** Compares digests, so neither the content nor the length of the secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export interface AppserviceTokensOptions {
  /** The same hs_token the verifier reads: a rotated one takes effect on the next request. */
  hsToken: { current(): string };
  /** User ids whose identity is kept at most (TOKEN_CACHE_SIZE). */
  size: number;
  metrics: Metrics;
}

/**
 * The appservice method's TokenCache: `verify` goes to `verifier` (and keeps the identity
 * by user id when it succeeds); `peek` answers a request whose token hash is the hs_token's
 * and whose user the verifier already accepted. The hashes compared are SHA-256 digests:
 * a comparison that stops at the first differing character tells nothing of the token.
 */
export function appserviceTokens(verifier: TokenVerifier, options: AppserviceTokensOptions): TokenCache {
  const { hsToken } = options;
  const known = new LRUCache<string, Identity>({ max: options.size });
  const hit = options.metrics.tokenCacheRequests.tally('hit');
  let readToken: string | undefined;
  let readTokenHash = '';
  const hsTokenHash = () => {
    const current = hsToken.current();
    if (current !== readToken) {
      readToken = current;
      readTokenHash = tokenHash(current);
    }
    return readTokenHash;
  };
  return {
    peek(key, facts) {
      const userIdHeader = facts?.userIdHeader;
      if (userIdHeader === undefined || key !== hsTokenHash()) return undefined;
      const identity = known.get(userIdHeader);
      if (identity !== undefined) hit.inc();
      return identity;
    },
    async verify(token, key, facts) {
      const identity = await verifier.verify(token, facts);
      // Kept only while the token it was verified with is still the hs_token.
      if (facts.userIdHeader !== undefined && key === hsTokenHash()) known.set(facts.userIdHeader, identity);
      return identity;
    },
    close: async () => verifier.close?.(),
  };
}
