// Matrix user ids from what an OAuth server or JWT says: a bare localpart becomes
// @localpart:SERVER_NAME; a full user id is taken as is, and refused when it belongs to
// another server (a token for another homeserver must not get our TURN credentials).

const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const USER_ID = /^@([^:]+):(.+)$/;

/** Returns the full user id, or undefined when the value is not one of ours. */
export function toLocalUserId(value: unknown, serverName: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) return undefined;
  if (value.startsWith('@')) {
    const match = USER_ID.exec(value);
    if (!match || match[2] !== serverName || !isLocalpart(match[1]!)) return undefined;
    return value;
  }
  return isLocalpart(value) ? `@${value}:${serverName}` : undefined;
}

function isLocalpart(localpart: string): boolean {
  return LOCALPART.test(localpart);
}

/** A syntactically valid user id of any server (historical ids allowed, as the spec does). */
export function isUserId(value: string): boolean {
  return value.length <= 255 && /^@[\x21-\x39\x3b-\x7e]+:[A-Za-z0-9.\-[\]:]+$/.test(value);
}
