// The JWT verifier: access tokens that are JWTs (RFC 9068), checked locally with jose:
// signature by a key from the key source, only the JWT_ALGORITHMS, `iss`, `aud`, `exp`
// (required) and `nbf` with a small clock tolerance, `typ` at+jwt or JWT, the Matrix client
// API scope, and the user claim naming a user of SERVER_NAME. Every way a token fails is a
// 401 M_UNKNOWN_TOKEN; only the key source can fail with a 5xx (keys it cannot fetch).

import { jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyResult } from 'jose';
import type { Clock } from '../clock.js';
import { errorCode } from '../error-fields.js';
import { MatrixError } from '../errors.js';
import { CLOCK_TOLERANCE_SECONDS, matrixAccess } from './access-claims.js';
import type { Identity, TokenVerifier } from './types.js';
import { toLocalUserId } from '../user-id.js';

export interface JwtVerifierOptions {
  keys: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  /** Asymmetric JWS algorithms accepted; "none" and HMAC never are (config refuses them). */
  algorithms: readonly string[];
  userClaim: string;
  serverName: string;
  clock: Clock;
}

/** RFC 9068's type, and plain JWT (RFC 7519); compared as RFC 7515 says, without "application/". */
const ACCEPTED_TYPES = new Set(['at+jwt', 'jwt']);

export function jwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  const { keys, userClaim, serverName, clock } = options;
  const algorithms = [...options.algorithms];
  return {
    method: 'jwt',
    async verify(token): Promise<Identity> {
      let verified: JWTVerifyResult<JWTPayload>;
      try {
        verified = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(clock.nowMs()),
        });
      } catch (error) {
        if (error instanceof MatrixError) throw error;
        const code = errorCode(error);
        throw MatrixError.unknownToken(`jwt: ${code ?? (error as Error)?.name ?? 'invalid'}`, code === 'ERR_JWT_EXPIRED');
      }
      const { payload, protectedHeader } = verified;
      if (!acceptedType(protectedHeader.typ)) throw MatrixError.unknownToken('jwt: typ is neither at+jwt nor JWT');
      const access = matrixAccess(payload.scope);
      if (access === undefined) throw MatrixError.unknownToken('jwt: token lacks the Matrix client API scope');
      const userId = toLocalUserId(payload[userClaim], serverName);
      if (userId === undefined) throw MatrixError.unknownToken(`jwt: "${userClaim}" is missing or not a user of ${serverName}`);
      return { userId, isGuest: access === 'guest', expiresAtMs: payload.exp! * 1000 };
    },
  };
}

/** An absent typ is allowed: RFC 7519 makes it optional and many issuers leave it out. */
function acceptedType(typ: string | undefined): boolean {
  if (typ === undefined) return true;
  return ACCEPTED_TYPES.has(typ.toLowerCase().replace(/^application\//, ''));
}
