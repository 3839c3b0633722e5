// The introspection verifier (RFC 7662): asks the OAuth server (Matrix Authentication
// Service, or any RFC 7662 server) about the token, authenticated as
// INTROSPECTION_CLIENT_AUTH says, and reads the answer as Synapse reads MAS's. The
// server's verdict on the token (inactive, expired, without the Matrix client API scope, a
// user of another server) is a 401 M_UNKNOWN_TOKEN. The server refusing our credentials,
// or answering anything that is not an introspection answer, is a 5xx M_UNKNOWN: a client
// that sees M_UNKNOWN_TOKEN logs its user out, and a misconfiguration must not do that.

import type { Clock } from '../clock.js';
import { MatrixError } from '../errors.js';
import { CLOCK_TOLERANCE_SECONDS, matrixAccess } from './access-claims.js';
import type { Identity, TokenVerifier } from './types.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream.js';
import { toLocalUserId } from '../user-id.js';

/** How we authenticate to the introspection endpoint; bearer: MAS's shared secret, as Synapse sends it. */
export type IntrospectionClientAuth = 'client_secret_basic' | 'client_secret_post' | 'bearer';

export interface IntrospectionOptions {
  url: string;
  clientAuth: IntrospectionClientAuth;
  /** Required for client_secret_basic and client_secret_post. */
  clientId?: string;
  /** The client secret, or with `bearer` the shared secret MAS gives its homeserver; read per call so a rotated file takes effect. */
  clientSecret: { current(): string };
  userClaim: string;
  serverName: string;
  upstream: Upstream;
  clock: Clock;
}

type Answer = Record<string, unknown> & { active: boolean };

export function introspectionVerifier(options: IntrospectionOptions): TokenVerifier {
  const { upstream, clock } = options;
  const basic = basicCredentials(options.clientId ?? '');
  return {
    method: 'introspection',
    async verify(token): Promise<Identity> {
      const res = await upstream.call(introspectionRequest(options, token, basic));
      return identityFrom(readAnswer(upstream.name, res), options, clock.nowMs());
    },
  };
}

/**
 * The Basic credentials of the client for a secret: computed again only when the secret
 * changes (a rotated file), not on every call of a cold path.
 */
function basicCredentials(clientId: string): (secret: string) => string {
  let secretOf: string | undefined;
  let header = '';
  return (secret) => {
    if (secret !== secretOf) {
      // RFC 6749 §2.3.1: each part form-encoded before base64, so a ':' in the id survives.
      header = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`, 'utf8').toString('base64')}`;
      secretOf = secret;
    }
    return header;
  };
}

function introspectionRequest(options: IntrospectionOptions, token: string, basic: (secret: string) => string): UpstreamRequest {
  const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const secret = options.clientSecret.current();
  switch (options.clientAuth) {
    case 'client_secret_basic':
      headers.authorization = basic(secret);
      break;
    case 'client_secret_post':
      form.set('client_id', options.clientId ?? '');
      form.set('client_secret', secret);
      break;
    case 'bearer':
      // As Synapse presents MAS's `matrix.secret` to /oauth2/introspect.
      headers.authorization = `Bearer ${secret}`;
      break;
  }
  return { method: 'POST', url: options.url, headers, body: form.toString() };
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function readAnswer(upstream: string, res: UpstreamResponse): Answer {
  const body = isObject(res.json) ? res.json : undefined;
  if (res.status === 200) {
    if (body === undefined || typeof body.active !== 'boolean')
      throw MatrixError.badUpstreamAnswer(upstream, 'a 200 that is not an RFC 7662 introspection answer');
    return body as Answer;
  }
  if (res.status === 400 || res.status === 401 || res.status === 403) {
    const reason = typeof body?.error === 'string' && /^[\w.-]{1,64}$/.test(body.error) ? body.error : `HTTP ${res.status}`;
    throw MatrixError.upstream(
      502,
      `${upstream} refused our client credentials (${reason}): ` +
        'check INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET and INTROSPECTION_CLIENT_AUTH',
    );
  }
  // No 5xx reaches here: Upstream turns each into an error first (a 503 into upstreamBusy too).
  if (res.status === 429) throw MatrixError.upstreamBusy(upstream, 429);
  throw MatrixError.badUpstreamAnswer(upstream, `HTTP ${res.status}${body === undefined ? ' without a JSON object' : ''}`);
}

function identityFrom(answer: Answer, options: IntrospectionOptions, nowMs: number): Identity {
  const { userClaim, serverName, upstream } = options;
  if (!answer.active) throw MatrixError.unknownToken('introspection: token not active');
  // MAS answers for refresh tokens too; only an access token may call the client API.
  if (answer.token_type === 'refresh_token') throw MatrixError.unknownToken('introspection: a refresh token, not an access token');

  const { expiresAtMs, expired } = expiry(answer, nowMs, upstream.name);
  if (expired) throw MatrixError.unknownToken('introspection: token expired', true);
  const access = matrixAccess(answer.scope);
  if (access === undefined) throw MatrixError.unknownToken('introspection: token lacks the Matrix client API scope');

  const claim = answer[userClaim];
  if (typeof claim !== 'string' || claim === '') {
    throw MatrixError.badUpstreamAnswer(upstream.name, `an active token without a "${userClaim}" claim (INTROSPECTION_USER_CLAIM)`);
  }
  const userId = toLocalUserId(claim, serverName);
  if (userId === undefined) throw MatrixError.unknownToken(`introspection: "${userClaim}" is not a user of ${serverName}`);
  return { userId, isGuest: access === 'guest', ...(expiresAtMs !== undefined && { expiresAtMs }) };
}

/**
 * When the token stops being valid: the earlier of `exp` (absolute, RFC 7662) and
 * `expires_in` (relative to now, as MAS answers). Only `exp` is compared with our clock,
 * so only it gets the skew tolerance.
 */
function expiry(answer: Answer, nowMs: number, upstream: string): { expiresAtMs?: number; expired: boolean } {
  const { exp, expires_in: expiresIn } = answer;
  if (exp !== undefined && !isFiniteNumber(exp)) throw MatrixError.badUpstreamAnswer(upstream, 'an "exp" that is not a number');
  if (expiresIn !== undefined && !isFiniteNumber(expiresIn))
    throw MatrixError.badUpstreamAnswer(upstream, 'an "expires_in" that is not a number');
  const expMs = exp === undefined ? undefined : exp * 1000;
  const expiresInMs = expiresIn === undefined ? undefined : nowMs + expiresIn * 1000;
  const expired =
    (expMs !== undefined && expMs + CLOCK_TOLERANCE_SECONDS * 1000 <= nowMs) || (expiresInMs !== undefined && expiresInMs <= nowMs);
  const known = [expMs, expiresInMs].filter((ms): ms is number => ms !== undefined);
  return { expired, ...(known.length > 0 && { expiresAtMs: Math.min(...known) }) };
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
