// The users' requests the loads send, one header set per user, made before the load: the
// stand-ins' opaque tokens "bench-<n>" (whoami, introspection, the sketch), ES256 JWTs
// signed here with a key made for the run (the service gets its public half), and the
// appservice's one hs_token naming user n in X-Matrix-User-Identifier.

import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { listedHeaders, type UserHeaders } from './load.js';

export const SERVER_NAME = 'bench.example.org';
export const JWT_ISSUER = 'https://issuer.bench.example.org/';
export const JWT_AUDIENCE = 'matrix-turn-credentials-bench';
/** The Matrix client API scope (MSC2967) a JWT must carry. */
const MATRIX_SCOPE = 'urn:matrix:client:api:*';
/** Long enough for any run: the hot targets cache an identity for as long as the token lives. */
const TOKEN_LIFETIME_SECONDS = 24 * 3600;

export function opaqueTokenHeaders(users: number): UserHeaders {
  return listedHeaders(Array.from({ length: users }, (_, n) => ({ authorization: `Bearer bench-${n}` })));
}

/** For a million users or more: each request's headers made as it is sent, not kept. */
export function manyOpaqueTokenHeaders(users: number): UserHeaders {
  return { count: users, of: (n) => ({ authorization: `Bearer bench-${n}` }) };
}

export function appserviceHeaders(users: number, hsToken: string): UserHeaders {
  return listedHeaders(
    Array.from({ length: users }, (_, n) => ({
      authorization: `Bearer ${hsToken}`,
      'x-matrix-user-identifier': `@user-${n}:${SERVER_NAME}`,
    })),
  );
}

export interface JwtFixture {
  /** SPKI PEM of the key that signed the tokens: JWT_PUBLIC_KEY. */
  publicKeyPem: string;
  headers: UserHeaders;
}

/** One ES256 access token per user (RFC 9068 shape: typ at+jwt, iss, aud, sub, scope, exp). */
export async function jwtFixture(users: number): Promise<JwtFixture> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const nowSeconds = Math.floor(Date.now() / 1000);
  const headers: Record<string, string>[] = [];
  for (let n = 0; n < users; n += 1) {
    const token = await new SignJWT({ scope: MATRIX_SCOPE })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setSubject(`user-${n}`)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + TOKEN_LIFETIME_SECONDS)
      .sign(privateKey);
    headers.push({ authorization: `Bearer ${token}` });
  }
  return { publicKeyPem: await exportSPKI(publicKey), headers: listedHeaders(headers) };
}
