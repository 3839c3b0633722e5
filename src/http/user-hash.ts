// How the access line names a user at info: HMAC-SHA256(key, user id), the first 16 hex
// digits (64 bits). Keyed, so a list of user ids (a room's members, a homeserver's user
// directory) cannot be hashed to learn whose line is whose; whoever holds the key can, so
// an operator answering a data-protection request can find one user's lines (the command is
// in docs/operations.md, "Logs").
//
// The key is LOG_USER_HASH_KEY as given; without it, one derived from a secret the service
// already has, HMAC-SHA256(secret, USER_HASH_KEY_LABEL), so every replica writes the same
// hash without another secret to manage, and neither the secret nor the key can be read
// back from hashes; with no secret at all, a random key of the process (hashes then differ
// between processes and restarts). app.ts chooses which.

import { createHmac, randomBytes } from 'node:crypto';
import { hmacSigner } from '../fast-paths/turn-password.js';

/** The fixed label of the derivation: changing it changes every derived user hash. */
export const USER_HASH_KEY_LABEL = 'matrix-turn-credentials access log user hash';

/** The key derived from one of the service's secrets. */
export function derivedUserHashKey(secret: string): Buffer {
  return createHmac('sha256', secret).update(USER_HASH_KEY_LABEL).digest();
}

/** A key for this process only. */
export function randomUserHashKey(): Buffer {
  return randomBytes(32);
}

/** The user's hash under `key`; one HMAC a call (fast-paths/turn-password.ts), so the access log keeps it per identity. */
export function userHasher(key: string | Buffer): (userId: string) => string {
  const sign = hmacSigner('sha256', key, 'hex');
  return (userId) => sign(userId).slice(0, 16);
}
