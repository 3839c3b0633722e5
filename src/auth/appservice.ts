// The appservice verifier: the homeserver proxies the route itself and vouches for the
// user (MSC4512; lk-jwt-service's application-service mode). It presents the hs_token of
// the registration as its access token and names the user in X-Matrix-User-Identifier.
// Nothing is asked upstream. A wrong token is 401 M_UNKNOWN_TOKEN; a missing or malformed
// user id, or one of another server, is 403 M_FORBIDDEN.

import { createHash, timingSafeEqual } from 'node:crypto';
import { MatrixError } from '../errors.js';
import type { Identity, TokenVerifier } from './types.js';
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
