// The identifier a provider is told for a user, for its per-user analytics (Cloudflare's
// customIdentifier, Metered's label): HMAC-SHA256 of the user id under a key of this
// deployment, so it is the same on every replica and after a restart, the same user always
// gets the same one, and nobody without the key can tell which user it is (user ids are
// guessable, so a plain hash would not do). The key is derived from the provider entry's
// own API secret, which every replica shares and the provider already holds: no setting
// to add, and a new secret (a new key at the provider) starts a new series of identifiers.

import { createHmac } from 'node:crypto';
import type { LiveSecret } from '../../secret-file.js';

const PURPOSE = 'matrix-turn-credentials provider user identifier v1';

/** The identifier of a user: 32 hexadecimal digits (128 bits of the HMAC). */
export function userIdentifiers(secret: Pick<LiveSecret, 'current'>): (userId: string) => string {
  let keyedWith: string | undefined;
  let key = Buffer.alloc(0);
  return (userId) => {
    const current = secret.current();
    if (current !== keyedWith) {
      key = createHmac('sha256', current).update(PURPOSE).digest();
      keyedWith = current;
    }
    return createHmac('sha256', key).update(userId).digest('hex').slice(0, 32);
  };
}
