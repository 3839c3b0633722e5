// Where a request's access token is: `Authorization: Bearer <token>` or the deprecated
// `access_token` query parameter, never both (Synapse refuses the mix with
// M_MISSING_TOKEN). A malformed Authorization header is a missing token, as in Synapse.
// Values that no issuer could have minted (control characters, non-ASCII, absurd length)
// are refused here, without asking anyone upstream.

import { MatrixError } from '../errors.js';

/** Longest token accepted: JWT access tokens with many claims run to a few kB. */
export const MAX_TOKEN_LENGTH = 8192;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export function extractAccessToken(
  authorization: readonly string[] | undefined,
  queryToken: string | readonly string[] | undefined,
): string {
  const headerToken = fromAuthorization(authorization);
  const fromQuery = fromQueryParameter(queryToken);
  if (headerToken !== undefined && fromQuery !== undefined) {
    throw MatrixError.missingToken('Mixing Authorization headers and access_token query parameters.');
  }
  const token = headerToken ?? fromQuery;
  if (token === undefined) throw MatrixError.missingToken();
  if (token.length > MAX_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) {
    throw MatrixError.unknownToken('token has characters or a length no issuer produces');
  }
  return token;
}

function fromAuthorization(values: readonly string[] | undefined): string | undefined {
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw MatrixError.missingToken('Too many Authorization headers.');
  const value = values[0]!;
  const space = value.indexOf(' ');
  const scheme = space === -1 ? value : value.slice(0, space);
  const credentials = space === -1 ? '' : value.slice(space + 1).trim();
  if (scheme.toLowerCase() !== 'bearer' || credentials === '' || /\s/.test(credentials)) {
    throw MatrixError.missingToken('Invalid Authorization header.');
  }
  return credentials;
}

function fromQueryParameter(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length > 1) throw MatrixError.missingToken('Too many access_token query parameters.');
    value = value[0] ?? '';
  }
  if (value === '') throw MatrixError.missingToken('Empty access_token query parameter.');
  return value;
}
