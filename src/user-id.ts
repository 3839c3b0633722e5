// Matrix user ids (@localpart:server_name), in the grammars of the Matrix spec's appendix
// "User Identifiers" (https://spec.matrix.org/latest/appendices/#user-identifiers). Three
// on purpose, each where it belongs:
// - the current grammar, localpart of user_id_char (a-z 0-9 - . = _ / +): what an operator
//   writes (RATE_LIMIT_EXEMPT_USERS) and what an OAuth server's or a JWT's claim must be;
// - the historical grammar ("Historical User IDs": a localpart of any printing ASCII but
//   ':'), which servers and clients must still accept: what a homeserver may answer about
//   its own users, who exist and keep their ids;
// - localpart and server name apart, for matching the server name: in neither grammar may
//   a localpart hold ':', so the first ':' ends it and the rest (a port included) is the
//   server name.
// A shared part: configuration and auth/ both use it.

/** At most 255 characters, the @ and the server name included (the spec's limit). */
const MAX_USER_ID_LENGTH = 255;

/** user_id_char of the current grammar. */
const USER_ID_CHAR = String.raw`[a-z0-9._=\-/+]`;

/** A localpart in the current grammar. */
const CURRENT_LOCALPART = new RegExp(`^${USER_ID_CHAR}+$`);

/**
 * A whole user id in the current grammar, on a server named by a DNS name (a port
 * allowed): how an operator writes one in the configuration.
 */
export const CURRENT_USER_ID = new RegExp(String.raw`^@${USER_ID_CHAR}+:[A-Za-z0-9.-]+(:\d{1,5})?$`);

/** A whole user id in the historical grammar, on a server named by a DNS name or an IP literal (a port allowed). */
const HISTORICAL_USER_ID = /^@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.\-[\]:]+$/;

/** The localpart (1) and the server name (2) of a user id of either grammar. */
const LOCALPART_AND_SERVER = /^@([^:]+):(.+)$/;

/**
 * A user id of ours from what an OAuth server or JWT says: a bare localpart becomes
 * @localpart:serverName; a full user id is taken as is, and refused when it belongs to
 * another server (a token for another homeserver must not get our TURN credentials).
 * Both in the current grammar. Undefined when the value is not one of ours.
 */
export function toLocalUserId(value: unknown, serverName: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_USER_ID_LENGTH) return undefined;
  if (value.startsWith('@')) {
    const match = LOCALPART_AND_SERVER.exec(value);
    if (!match || match[2] !== serverName || !CURRENT_LOCALPART.test(match[1]!)) return undefined;
    return value;
  }
  return CURRENT_LOCALPART.test(value) ? `@${value}:${serverName}` : undefined;
}

/** A syntactically valid user id of any server in the historical grammar, which the current one is part of. */
export function isHistoricalUserId(value: string): boolean {
  return value.length <= MAX_USER_ID_LENGTH && HISTORICAL_USER_ID.test(value);
}
